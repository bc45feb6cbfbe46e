"""What a push may carry, checked at the edge before anything is applied: how many mutations
(``FIELDLINE_SYNC_MAX_MUTATIONS``, named in every answer's ``X-Fieldline-Max-Mutations``), how
many bytes, how deep a field's value nests, how large a sequence number or count is. Over a
limit the whole push is refused with a problem+json naming it, and nothing is applied."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from server.app import create_app
from server.settings import Settings
from sync import codec
from sync.ids import new_id
from sync.messages import MAX_INT64, Applied
from tests.seed import World, seed_world, token_for
from tests.server.sync.device import Device
from tests.server.unchanged import dump
from tests.stores import Store

PUSH = "/api/v1/sync/push"


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def _contact(rep: Device, world: World, **fields: Any) -> dict[str, Any]:
    """A new contact as a wire mutation (a dict, so that tests may break it at will)."""
    mutation = rep.upsert(
        "contact",
        new_id(),
        {"account_id": world.accounts["N1"][0], "first_name": "Ada", "last_name": "Limit"},
    )
    wire: dict[str, Any] = msgspec.to_builtins(mutation)
    wire["fields"].update(fields)
    return wire


_DEEP = "<deep>"


def _send(rep: Device, body: dict[str, Any], media_type: str = codec.MEDIA_JSON) -> Any:
    """Post ``body``; each string ``_DEEP.<n>`` in it goes as ``n`` lists nested in each other
    (encoders, like decoders, overflow their recursion long before 2,000 levels)."""
    msgpack = media_type == codec.MEDIA_MSGPACK
    encode = msgspec.msgpack.encode if msgpack else msgspec.json.encode
    content = encode(body)
    for depth in {int(s.split(".")[1]) for s in _strings(body) if s.startswith(_DEEP)}:
        placeholder = encode(f"{_DEEP}.{depth}")
        nested = (
            b"\x91" * depth + encode("bottom")  # a MessagePack array of one element, n times
            if msgpack
            else b"[" * depth + b'"bottom"' + b"]" * depth
        )
        content = content.replace(placeholder, nested)
    headers = {**rep.headers, "Content-Type": media_type}
    return rep.client.post(PUSH, content=content, headers=headers)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _nested(depth: int) -> str:
    return f"{_DEEP}.{depth}"


@pytest.fixture
def limited(settings: Settings, store: Store) -> Iterator[tuple[Device, World]]:
    """A rep's device on a server that takes at most three mutations per push."""
    world = seed_world(store.url)
    app = create_app(settings.replace(sync_max_mutations=3))
    with TestClient[Litestar](app) as client:
        token, device_id = token_for(settings, world.user("rep_n1"))
        yield Device(client=client, token=token, device_id=device_id), world


def test_the_mutation_limit_defaults_to_a_thousand() -> None:
    assert Settings().sync_max_mutations == 1000
    assert Settings.from_env({"FIELDLINE_SYNC_MAX_MUTATIONS": "50"}).sync_max_mutations == 50


def test_a_push_over_the_mutation_limit_is_413_naming_the_limit_and_applies_nothing(
    limited: tuple[Device, World], store: Store
) -> None:
    rep, world = limited
    before = dump(store.url)
    body = {"device_id": rep.device_id, "mutations": [_contact(rep, world) for _ in range(4)]}
    problem = _problem(_send(rep, body), 413)
    assert "3 mutations" in problem["detail"]
    assert problem["max_mutations"] == 3
    assert problem["field"] == "mutations"
    assert dump(store.url) == before


def test_a_push_at_the_mutation_limit_is_applied(limited: tuple[Device, World]) -> None:
    rep, world = limited
    body = {"device_id": rep.device_id, "mutations": [_contact(rep, world) for _ in range(3)]}
    response = _send(rep, body)
    assert response.status_code == 200, response.text
    answer = codec.decode_push_response(response.content, response.headers["content-type"])
    assert all(isinstance(result, Applied) for result in answer.results)


def test_every_push_answer_names_the_mutation_limit(limited: tuple[Device, World]) -> None:
    rep, world = limited
    applied = _send(rep, {"device_id": rep.device_id, "mutations": [_contact(rep, world)]})
    too_many = _send(
        rep, {"device_id": rep.device_id, "mutations": [_contact(rep, world) for _ in range(4)]}
    )
    malformed = _send(rep, {"device_id": rep.device_id})
    oversize = rep.client.post(
        PUSH,
        content=b"[" * (9 * 1024 * 1024),
        headers={**rep.headers, "Content-Type": codec.MEDIA_JSON},
    )
    assert [r.status_code for r in (applied, too_many, malformed, oversize)] == [200, 413, 400, 413]
    for response in (applied, too_many, malformed, oversize):
        assert response.headers[codec.MAX_MUTATIONS_HEADER] == "3"


def test_an_oversize_push_body_is_a_problem_413_naming_the_byte_limit(
    device_for: Callable[[str], Device], store: Store
) -> None:
    rep = device_for("rep_n1")
    before = dump(store.url)
    response = rep.client.post(
        PUSH,
        content=b" " * (8 * 1024 * 1024 + 1),
        headers={**rep.headers, "Content-Type": codec.MEDIA_JSON},
    )
    problem = _problem(response, 413)
    assert "8388608 bytes" in problem["detail"]
    assert dump(store.url) == before


@pytest.mark.parametrize("media_type", [codec.MEDIA_JSON, codec.MEDIA_MSGPACK])
def test_a_field_value_nested_2000_deep_is_400_and_applies_nothing(
    device_for: Callable[[str], Device], world: World, store: Store, media_type: str
) -> None:
    rep = device_for("rep_n1")
    before = dump(store.url)
    body = {
        "device_id": rep.device_id,
        "mutations": [_contact(rep, world), _contact(rep, world, notes=_nested(2000))],
    }
    problem = _problem(_send(rep, body, media_type), 400)
    assert "deep" in problem["detail"]
    assert dump(store.url) == before


def test_a_field_value_nested_past_the_depth_limit_is_400_naming_the_field(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    """Deep enough to pass the decoder, not so deep that it fails there: the edge's own
    depth check answers, and names the value."""
    rep = device_for("rep_n1")
    before = dump(store.url)
    body = {
        "device_id": rep.device_id,
        "mutations": [_contact(rep, world), _contact(rep, world, notes={"a": _nested(200)})],
    }
    problem = _problem(_send(rep, body), 400)
    assert problem["field"] == "mutations[1].fields.notes"
    assert "32 levels" in problem["detail"]
    assert dump(store.url) == before


def test_a_field_value_nested_to_the_depth_limit_passes_the_edge(
    device_for: Callable[[str], Device], world: World
) -> None:
    """Refused or not by the rules of the field, it is never refused as too deep."""
    rep = device_for("rep_n1")
    body = {"device_id": rep.device_id, "mutations": [_contact(rep, world, notes=_nested(31))]}
    response = _send(rep, body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"seq": MAX_INT64 + 1}, id="seq of 2**63"),
        pytest.param({"seq": 2**64 - 1}, id="seq of 2**64 - 1"),
        pytest.param({"seq": 10**30}, id="seq of 10**30"),
        pytest.param({"base_version": MAX_INT64 + 1}, id="base_version of 2**63"),
    ],
)
def test_a_mutation_number_past_64_bits_is_400_naming_it(
    device_for: Callable[[str], Device], world: World, store: Store, change: dict[str, Any]
) -> None:
    rep = device_for("rep_n1")
    before = dump(store.url)
    mutation = {**_contact(rep, world), **change}
    problem = _problem(_send(rep, {"device_id": rep.device_id, "mutations": [mutation]}), 400)
    [name] = change
    assert problem["field"] == f"mutations[0].{name}"
    assert dump(store.url) == before


@pytest.mark.parametrize("pending", [2**31, MAX_INT64, MAX_INT64 + 1, 2**64 - 1, 10**30, -1])
def test_a_pending_count_past_what_the_health_page_keeps_is_400_naming_it(
    device_for: Callable[[str], Device], world: World, store: Store, pending: int
) -> None:
    rep = device_for("rep_n1")
    before = dump(store.url)
    body = {"device_id": rep.device_id, "pending": pending, "mutations": [_contact(rep, world)]}
    problem = _problem(_send(rep, body), 400)
    assert problem["field"] == "pending"
    assert dump(store.url) == before


def test_the_largest_seq_and_pending_the_stores_hold_are_applied(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    mutation = {**_contact(rep, world), "seq": MAX_INT64}
    body = {"device_id": rep.device_id, "pending": 2**31 - 1, "mutations": [mutation]}
    response = _send(rep, body)
    assert response.status_code == 200, response.text
