"""A pull cursor is opaque to the device, but it travels through the device's storage and the
network: whatever comes back in its place is refused with a 400 naming ``cursor``, never a 500,
and a push that carries it in ``pull`` keeps its effect and leaves the page out
(docs/sync.md, "One round trip")."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Contact
from sync.ids import new_id
from sync.messages import Applied, PullRequest
from tests.seed import World, run_db
from tests.server.sync.device import Device
from tests.stores import Store


def _fields(cursor: str) -> dict[str, Any]:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    fields: dict[str, Any] = msgspec.msgpack.decode(raw)
    return fields


def _pack(value: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.msgpack.encode(value)).decode().rstrip("=")


Tamper = Callable[[dict[str, Any]], str]


def _with(**changes: Any) -> Tamper:
    return lambda fields: _pack({**fields, **changes})


# Each takes the fields of a cursor the server issued (one mid-bootstrap, so that ``b`` is in
# use, and with the caller's scope key, so that it is not simply discarded) and returns a
# cursor the server never issued.
TAMPERINGS: dict[str, Tamper] = {
    "bootstrap position of one element": _with(b=["account"]),
    "bootstrap position of three elements": _with(b=["account", "x", "y"]),
    "bootstrap position of numbers": _with(b=[1, 2]),
    "bootstrap position not a list": _with(b="account"),
    "sequence number of 2**63": _with(q=2**63, b=None),
    "sequence number of 2**64 - 1": _with(q=2**64 - 1, b=None),
    "negative sequence number": _with(q=-1, b=None),
    "sequence number as text": _with(q="12", b=None),
    "time of 2**64 - 1": _with(t=2**64 - 1, b=None),
    "non-numeric window start": _with(lo="abc", b=None),
    "non-numeric window end": _with(lo="1:1:", hi="x:y:z", b=None),
    "window start whose xmin passes its xmax": _with(lo="9:3:", b=None),
    "window start of transaction zero": _with(lo="0:0:", b=None),
    "window start with a running transaction outside it": _with(lo="3:5:7", b=None),
    "window start of 2**64 - 1": _with(lo=f"{2**64 - 1}:{2**64 - 1}:", b=None),
    "window start with a NUL": _with(lo="1:1:\x00", b=None),
    "entity with a NUL": _with(e="acc\x00ount", b=["account", "x"]),
    "record id with a NUL": _with(b=["account", "\x00"]),
    "long entity name": _with(e="a" * 10_000, b=["account", "x"]),
    "a list instead of a map": lambda fields: _pack(list(fields.values())),
    "a number instead of a map": lambda fields: _pack(2**64 - 1),
    "garbage base64": lambda fields: "!!!not base64!!!",
    "base64 of garbage bytes": lambda fields: base64.urlsafe_b64encode(b"\xc1\xff\x00").decode(),
    "non-ASCII text": lambda fields: "cürsor",
    "a NUL byte": lambda fields: "gq\x00Fx",
}


def _bootstrap_cursor(rep: Device) -> dict[str, Any]:
    """The fields of a cursor in the middle of a bootstrap (its ``b`` names a record)."""
    rep.pull_page(limit=1)
    assert rep.cursor is not None
    fields = _fields(rep.cursor)
    assert fields.get("b"), fields
    return fields


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_a_tampered_pull_cursor_is_400_naming_cursor(
    device_for: Callable[[str], Device], tamper: Tamper
) -> None:
    rep = device_for("rep_n1")
    cursor = tamper(_bootstrap_cursor(rep))
    response = rep.client.get(
        "/api/v1/sync/pull", params={"cursor": cursor, "limit": 10}, headers=rep.headers
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == "cursor"


def test_a_tampered_cursor_past_the_bootstrap_is_400_naming_cursor(
    device_for: Callable[[str], Device],
) -> None:
    """The change-log read (not the snapshot) binds the sequence number and the window."""
    rep = device_for("rep_n1")
    rep.pull()
    assert rep.cursor is not None
    fields = _fields(rep.cursor)
    assert "b" not in fields
    for cursor in (_pack({**fields, "q": 2**63}), _pack({**fields, "lo": "x:y:"})):
        response = rep.client.get(
            "/api/v1/sync/pull", params={"cursor": cursor}, headers=rep.headers
        )
        assert response.status_code == 400, response.text
        assert response.json()["field"] == "cursor"


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_a_push_whose_pull_cursor_is_tampered_keeps_its_effect_and_leaves_the_page_out(
    device_for: Callable[[str], Device], world: World, store: Store, tamper: Tamper
) -> None:
    rep = device_for("rep_n1")
    cursor = tamper(_bootstrap_cursor(rep))
    contact_id = new_id()
    response = rep.push_and_pull(
        rep.upsert(
            "contact",
            contact_id,
            {"account_id": world.accounts["N1"][0], "first_name": "Still", "last_name": "Here"},
        ),
        pull=PullRequest(cursor=cursor),
    )
    [result] = response.results
    assert isinstance(result, Applied) and response.page is None

    async def stored(session: AsyncSession) -> Contact | None:
        return await session.get(Contact, contact_id)

    assert run_db(store.url, stored) is not None
