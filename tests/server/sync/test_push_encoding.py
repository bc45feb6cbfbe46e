"""Push bodies may arrive gzip-compressed: inflated within the body limit, refused clearly when
they cannot be, and every sync answer says the server takes them."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

import msgspec

from sync import codec
from sync.ids import new_id
from sync.messages import Applied
from tests.seed import World
from tests.server.sync.device import Device
from tests.server.unchanged import dump
from tests.stores import Store

PUSH = "/api/v1/sync/push"


def _body(rep: Device, world: World, count: int = 3) -> bytes:
    mutations = [
        rep.upsert(
            "contact",
            new_id(),
            {"account_id": world.accounts["N1"][0], "first_name": "Ada", "last_name": f"Zip {n}"},
        )
        for n in range(count)
    ]
    return msgspec.json.encode({"device_id": rep.device_id, "mutations": mutations})


def _post(rep: Device, content: bytes, encoding: str | None) -> Any:
    headers = {**rep.headers, "Content-Type": codec.MEDIA_JSON}
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    return rep.client.post(PUSH, content=content, headers=headers)


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def test_a_gzip_push_is_applied_like_the_same_push_sent_plain(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    response = _post(rep, gzip.compress(_body(rep, world)), "gzip")
    assert response.status_code == 200, response.text
    answer = codec.decode_push_response(response.content, response.headers["content-type"])
    assert [type(result) for result in answer.results] == [Applied] * 3


def test_every_sync_answer_says_the_server_takes_gzip_pushes(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    pushed = _post(rep, _body(rep, world), None)
    pulled = rep.client.get("/api/v1/sync/pull", headers=rep.headers)
    refused = _post(rep, b"not a push", None)
    for response in (pushed, pulled, refused):
        assert response.headers["accept-encoding"] == "gzip"


def test_an_unknown_content_encoding_is_415_and_changes_nothing(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    rep = device_for("rep_n1")
    before = dump(store.url)
    problem = _problem(_post(rep, _body(rep, world), "br"), 415)
    assert "'br'" in problem["detail"] and problem["field"] == "Content-Encoding"
    assert dump(store.url) == before


def test_a_broken_or_cut_gzip_body_is_400_and_changes_nothing(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    rep = device_for("rep_n1")
    before = dump(store.url)
    packed = gzip.compress(_body(rep, world))
    assert "not valid gzip" in _problem(_post(rep, b"\x1f\x8b" + b"x" * 40, "gzip"), 400)["detail"]
    assert "cut short" in _problem(_post(rep, packed[: len(packed) // 2], "gzip"), 400)["detail"]
    assert dump(store.url) == before


def test_a_gzip_body_that_inflates_past_the_limit_is_413(
    device_for: Callable[[str], Device], store: Store
) -> None:
    rep = device_for("rep_n1")
    before = dump(store.url)
    bomb = gzip.compress(b" " * (8 * 1024 * 1024 + 1))  # ~8 KiB on the wire
    problem = _problem(_post(rep, bomb, "gzip"), 413)
    assert "inflates past 8388608 bytes" in problem["detail"]
    assert dump(store.url) == before
