"""Wire codecs: every message kind round-trips through JSON and MessagePack; bad bodies name the
bad path; media types are negotiated; the protocol header is checked."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from sync import codec
from sync.errors import MalformedMessage, ProtocolMismatch, UnsupportedMediaType
from sync.messages import (
    Applied,
    Change,
    ConflictNotice,
    Delete,
    Eviction,
    Merged,
    PullPage,
    PullRequest,
    PushRequest,
    PushResponse,
    Rejected,
    ScopeChecksum,
    Upsert,
)
from tests.sync.helpers import stamp

MEDIA = [codec.MEDIA_JSON, codec.MEDIA_MSGPACK]

PUSH = PushRequest(
    device_id="dev-1",
    mutations=[
        Upsert(
            seq=1,
            tx="tx-1",
            entity="order",
            id="o1",
            fields={"notes": "rush", "total": "12.50", "lines": [1, 2]},
            hlc=stamp(1_000, "dev-1"),
            base_version=None,
        ),
        Delete(
            seq=2, tx="tx-2", entity="contact", id="c1", hlc=stamp(1_001, "dev-1"), base_version=3
        ),
    ],
    hlc=stamp(1_002, "dev-1"),
    pending=2,
    oldest_pending_at="2024-05-02T09:00:00Z",
)
PUSH_RESPONSE = PushResponse(
    results=[
        Applied(seq=1, entity="order", id="o1", version=1),
        Merged(
            seq=2, entity="account", id="a1", version=4, fields={"phone": "1"}, discarded=["phone"]
        ),
        Rejected(
            seq=3,
            entity="order",
            id="o2",
            reason="illegal_transition",
            detail="no",
            field="notes",
            current={"status": "accepted"},
        ),
    ],
    server_hlc=stamp(2_000, "server"),
)
PULL_PAGE = PullPage(
    items=[
        Change(
            entity="account", id="a1", op="upsert", version=4, fields={"name": "Acme", "lat": 52.5}
        ),
        Change(entity="contact", id="c1", op="delete", version=5),
        Eviction(entity="account", id="a2"),
        ConflictNotice(
            conflict_id=7,
            entity="account",
            id="a1",
            field="phone",
            kept="1",
            discarded="2",
            kept_hlc=stamp(1, "server"),
            discarded_hlc=stamp(0, "dev-1"),
            kept_origin="server",
            discarded_origin="dev-1",
            rule="lww",
        ),
    ],
    cursor="42",
    more=True,
    snapshot=False,
    reset=False,
    retention_days=30,
    server_hlc=stamp(2_000, "server"),
    checksums=[ScopeChecksum(entity="account", count=2, digest="ab12")],
)


@pytest.mark.parametrize("media", MEDIA)
def test_push_request_round_trips(media: str) -> None:
    assert codec.decode_push(codec.encode(PUSH, media), media) == PUSH


@pytest.mark.parametrize("media", MEDIA)
def test_push_response_round_trips(media: str) -> None:
    assert codec.decode_push_response(codec.encode(PUSH_RESPONSE, media), media) == PUSH_RESPONSE


@pytest.mark.parametrize("media", MEDIA)
def test_pull_page_round_trips(media: str) -> None:
    assert codec.decode_pull_page(codec.encode(PULL_PAGE, media), media) == PULL_PAGE


@pytest.mark.parametrize("media", MEDIA)
def test_a_push_that_asks_for_a_pull_round_trips_with_the_page_in_its_answer(media: str) -> None:
    push = msgspec.structs.replace(PUSH, pull=PullRequest(cursor="42", limit=100, checksums=True))
    assert codec.decode_push(codec.encode(push, media), media) == push
    answer = msgspec.structs.replace(PUSH_RESPONSE, page=PULL_PAGE, pulls=True)
    assert codec.decode_push_response(codec.encode(answer, media), media) == answer


def test_a_push_leaves_out_what_it_does_not_use_so_an_older_server_can_read_it() -> None:
    sent = msgspec.json.decode(
        codec.encode(PushRequest(device_id="d", mutations=[]), codec.MEDIA_JSON)
    )
    assert sent == {"device_id": "d", "mutations": []}


def test_an_answer_from_a_server_that_predates_pulls_in_a_push_reads_as_not_taking_them() -> None:
    older = b'{"results": [], "server_hlc": "x"}'
    answer = codec.decode_push_response(older, codec.MEDIA_JSON)
    assert answer.page is None and not answer.pulls


@pytest.mark.parametrize("media", MEDIA)
def test_decimals_travel_as_strings_in_both_formats(media: str) -> None:
    page = PullPage(
        items=[
            Change(
                entity="price",
                id="p",
                op="upsert",
                version=1,
                fields={"unit_price": Decimal("2.50")},
            )
        ],
        cursor="1",
        more=False,
    )
    decoded = codec.decode_pull_page(codec.encode(page, media), media)
    change = decoded.items[0]
    assert isinstance(change, Change)
    assert change.fields["unit_price"] == "2.50"


def test_json_tags_each_kind() -> None:
    body = msgspec.json.decode(codec.encode(PUSH, codec.MEDIA_JSON))
    assert [m["kind"] for m in body["mutations"]] == ["upsert", "delete"]


@pytest.mark.parametrize(
    "alias", ["application/x-msgpack", "application/vnd.msgpack", "Application/MsgPack; q=1"]
)
def test_msgpack_aliases_decode(alias: str) -> None:
    assert codec.decode_push(codec.encode(PUSH, codec.MEDIA_MSGPACK), alias) == PUSH


@pytest.mark.parametrize("content_type", [None, "", "application/json; charset=utf-8"])
def test_missing_or_parametrised_content_type_means_json(content_type: str | None) -> None:
    assert codec.decode_push(codec.encode(PUSH, codec.MEDIA_JSON), content_type) == PUSH


def test_unsupported_content_type_is_415() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        codec.decode_push(b"<xml/>", "application/xml")
    assert caught.value.http_status == 415


def test_a_bad_value_is_reported_with_its_path() -> None:
    raw = msgspec.json.decode(codec.encode(PUSH, codec.MEDIA_JSON))
    raw["mutations"][1]["seq"] = 0
    with pytest.raises(MalformedMessage) as caught:
        codec.decode_push(msgspec.json.encode(raw), codec.MEDIA_JSON)
    assert "$.mutations[1].seq" in caught.value.detail
    assert caught.value.http_status == 400


def test_unknown_fields_in_a_push_are_refused() -> None:
    raw: dict[str, Any] = msgspec.json.decode(codec.encode(PUSH, codec.MEDIA_JSON))
    raw["mutations"][0]["colour"] = "red"
    with pytest.raises(MalformedMessage, match="colour"):
        codec.decode_push(msgspec.json.encode(raw), codec.MEDIA_JSON)


def test_an_unknown_mutation_kind_is_refused() -> None:
    raw: dict[str, Any] = msgspec.json.decode(codec.encode(PUSH, codec.MEDIA_JSON))
    raw["mutations"][0]["kind"] = "teleport"
    with pytest.raises(MalformedMessage, match="teleport"):
        codec.decode_push(msgspec.json.encode(raw), codec.MEDIA_JSON)


@pytest.mark.parametrize("media", MEDIA)
def test_truncated_bodies_are_malformed(media: str) -> None:
    body = codec.encode(PUSH, media)
    with pytest.raises(MalformedMessage):
        codec.decode_push(body[: len(body) // 2], media)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, codec.MEDIA_JSON),
        ("", codec.MEDIA_JSON),
        ("*/*", codec.MEDIA_JSON),
        ("application/json", codec.MEDIA_JSON),
        ("application/msgpack", codec.MEDIA_MSGPACK),
        ("application/x-msgpack", codec.MEDIA_MSGPACK),
        ("application/msgpack, */*", codec.MEDIA_MSGPACK),
        ("application/msgpack, application/json", codec.MEDIA_MSGPACK),
        ("application/json, application/msgpack", codec.MEDIA_JSON),
        ("application/json;q=0.5, application/msgpack", codec.MEDIA_MSGPACK),
        ("application/msgpack;q=0.4, application/json;q=0.9", codec.MEDIA_JSON),
        ("application/msgpack;q=0", codec.MEDIA_JSON),
        ("text/html, application/vnd.msgpack;q=0.8", codec.MEDIA_MSGPACK),
    ],
)
def test_negotiate(accept: str | None, expected: str) -> None:
    assert codec.negotiate(accept) == expected


@pytest.mark.parametrize("value", [None, "", "1", " 1 "])
def test_supported_protocol_versions_pass(value: str | None) -> None:
    codec.check_protocol(value)


@pytest.mark.parametrize("value", ["one", "1.0", "v1"])
def test_non_integer_protocol_header_is_malformed(value: str) -> None:
    with pytest.raises(MalformedMessage, match=codec.PROTOCOL_HEADER):
        codec.check_protocol(value)


@pytest.mark.parametrize("value", ["0", "2", "99"])
def test_unsupported_protocol_is_426_telling_the_app_to_update(value: str) -> None:
    with pytest.raises(ProtocolMismatch) as caught:
        codec.check_protocol(value)
    assert caught.value.http_status == 426
    assert "Update the app" in caught.value.detail
