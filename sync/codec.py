"""Wire codecs: JSON and MessagePack for every sync message, encoders and typed decoders built
once at import, the media-type negotiation and the protocol version check.

Both formats carry the same Structs: decimals travel as strings, datetimes as ISO 8601 text, so a
record reads the same whichever format fetched it. Decoding is strict (unknown fields in a push
are refused) and errors name the path of the bad value (``$.mutations[3].seq``).
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from sync.errors import MalformedMessage, ProtocolMismatch, UnsupportedMediaType
from sync.messages import PROTOCOL_VERSION, Change, PullPage, PushRequest, PushResponse

__all__ = [
    "MAX_MUTATIONS_HEADER",
    "MEDIA_JSON",
    "MEDIA_MSGPACK",
    "MSGPACK_ALIASES",
    "NEXT_CURSOR_HEADER",
    "PROTOCOL_HEADER",
    "SUPPORTED_PROTOCOLS",
    "UPLOAD_PARTS_HEADER",
    "canonical_media_type",
    "check_protocol",
    "decode_pull_page",
    "decode_push",
    "decode_push_response",
    "encode",
    "encode_change_msgpack",
    "negotiate",
]

MEDIA_JSON = "application/json"
MEDIA_MSGPACK = "application/msgpack"
MSGPACK_ALIASES = frozenset({MEDIA_MSGPACK, "application/x-msgpack", "application/vnd.msgpack"})
PROTOCOL_HEADER = "X-Fieldline-Protocol"
NEXT_CURSOR_HEADER = "X-Fieldline-Next-Cursor"
"""On a pull page that has more after it: the page's cursor, so a client can ask for the next page
as soon as the headers arrive, before it has read or decoded this one (docs/sync.md, "Pages")."""
MAX_MUTATIONS_HEADER = "X-Fieldline-Max-Mutations"
UPLOAD_PARTS_HEADER = "X-Fieldline-Upload-Parts"
"""On push answers: the server takes attachment content in parts (``Content-Range``), so a device
may upload resumably; a device that never saw it sends content whole, as to older servers."""
"""On every push answer: the most mutations the server takes in one push. A larger push is
refused whole (413); a client sizes its batches to this (docs/sync.md, "Push")."""
SUPPORTED_PROTOCOLS = frozenset({PROTOCOL_VERSION})

_T = TypeVar("_T")

_json_encoder = msgspec.json.Encoder()
_msgpack_encoder = msgspec.msgpack.Encoder()


class _Decoders:
    def __init__(self, kind: type[_T]) -> None:
        self.json = msgspec.json.Decoder(kind)
        self.msgpack = msgspec.msgpack.Decoder(kind)


_PUSH = _Decoders(PushRequest)
_PULL = _Decoders(PullPage)
_PUSH_RESPONSE = _Decoders(PushResponse)


def canonical_media_type(content_type: str | None) -> str:
    """The canonical media type of a Content-Type value: parameters dropped, MessagePack aliases
    folded to ``application/msgpack``; a missing value means JSON."""
    if content_type is None or not content_type.strip():
        return MEDIA_JSON
    base = content_type.split(";", 1)[0].strip().lower()
    if base in MSGPACK_ALIASES:
        return MEDIA_MSGPACK
    if base == MEDIA_JSON or (base.startswith("application/") and base.endswith("+json")):
        return MEDIA_JSON
    raise UnsupportedMediaType(
        f"unsupported media type {base!r}: send {MEDIA_JSON} or {MEDIA_MSGPACK}"
    )


def _decode(body: bytes, content_type: str | None, decoders: _Decoders, what: str) -> Any:
    kind = canonical_media_type(content_type)
    decoder = decoders.msgpack if kind == MEDIA_MSGPACK else decoders.json
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise MalformedMessage(f"malformed {what} ({kind}): {exc}") from exc


def decode_push(body: bytes, content_type: str | None) -> PushRequest:
    result: PushRequest = _decode(body, content_type, _PUSH, "push request")
    return result


def decode_pull_page(body: bytes, content_type: str | None) -> PullPage:
    result: PullPage = _decode(body, content_type, _PULL, "pull page")
    return result


def decode_push_response(body: bytes, content_type: str | None) -> PushResponse:
    result: PushResponse = _decode(body, content_type, _PUSH_RESPONSE, "push response")
    return result


def encode(msg: Any, media_type: str) -> bytes:
    kind = canonical_media_type(media_type)
    if kind == MEDIA_MSGPACK:
        return _msgpack_encoder.encode(msg)
    return _json_encoder.encode(msg)


def encode_change_msgpack(entity: str, record_id: str, version: int, fields: Any) -> bytes:
    """An upsert ``Change`` as MessagePack. A server may store these when a record is written
    and lay them side by side in a page (``msgspec.Raw``): the bytes are exactly what encoding
    the page would have produced for that item."""
    return _msgpack_encoder.encode(
        Change(entity=entity, id=record_id, op="upsert", version=version, fields=fields)
    )


def _accept_entries(accept: str) -> list[tuple[str, float]]:
    entries: list[tuple[str, float]] = []
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        quality = 1.0
        for param in pieces[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        entries.append((pieces[0].lower(), quality))
    return entries


def negotiate(accept: str | None) -> str:
    """MessagePack when the Accept header prefers it (a higher quality than JSON, or equal and
    listed first, or named explicitly where JSON only matches a wildcard); JSON otherwise."""
    if not accept:
        return MEDIA_JSON
    msgpack_q, msgpack_at = 0.0, -1
    json_q, json_at, json_explicit = 0.0, -1, False
    for index, (kind, quality) in enumerate(_accept_entries(accept)):
        if kind in MSGPACK_ALIASES:
            if quality > msgpack_q:
                msgpack_q, msgpack_at = quality, index
        elif kind == MEDIA_JSON:
            if not json_explicit or quality > json_q:
                json_q, json_at, json_explicit = quality, index, True
        elif kind in ("*/*", "application/*") and not json_explicit and quality > json_q:
            json_q, json_at = quality, index
    if msgpack_q <= 0.0:
        return MEDIA_JSON
    if msgpack_q > json_q:
        return MEDIA_MSGPACK
    if msgpack_q == json_q and (not json_explicit or msgpack_at < json_at):
        return MEDIA_MSGPACK
    return MEDIA_JSON


def check_protocol(value: str | None) -> None:
    """Accept a device's ``X-Fieldline-Protocol`` header (missing: version 1)."""
    if value is None or not value.strip():
        return
    try:
        version = int(value.strip())
    except ValueError:
        raise MalformedMessage(f"{PROTOCOL_HEADER} must be an integer, got {value!r}") from None
    if version not in SUPPORTED_PROTOCOLS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_PROTOCOLS))
        raise ProtocolMismatch(
            f"This app speaks sync protocol {version}; the server speaks {supported}. "
            "Update the app to the current version to sync again (no data is lost: unsent "
            "changes stay on the device)."
        )
