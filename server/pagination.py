"""Cursor pagination for every list endpoint.

Keyset, not offset: a page is "the next ``limit`` rows whose key is past the last one seen", so
a row inserted while a client pages never shifts or repeats another. Record ids are UUIDv7 (time
ordered, unique), so the id alone is a total order that follows creation time. The cursor is the
last key of the page, base64url-encoded JSON; clients treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import Parameter
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from server.errors import BadRequest

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Cursor",
    "Limit",
    "Page",
    "decode_cursor",
    "encode_cursor",
    "paginate",
]

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description=f"page size, 1..{MAX_LIMIT}")]
Cursor = Annotated[
    str | None,
    Parameter(
        required=False,
        max_length=200,
        description="the next_cursor of the previous page; omit for the first page",
    ),
]


class Page(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    next_cursor: str | None
    """Pass as ``cursor`` to get the next page; null on the last page."""


class _CursorKey(msgspec.Struct, forbid_unknown_fields=True):
    k: str


_cursor_decoder = msgspec.json.Decoder(_CursorKey)
_cursor_encoder = msgspec.json.Encoder()


def encode_cursor(key: str) -> str:
    raw = _cursor_encoder.encode(_CursorKey(k=key))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return _cursor_decoder.decode(raw).k
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise BadRequest(
            "cursor is not one this server issued; pass next_cursor unchanged", field="cursor"
        ) from None


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    key: InstrumentedAttribute[str],
    limit: int,
    cursor: str | None,
    out: Callable[[Any], T],
) -> Page[T]:
    """One page of ``stmt`` (already filtered and scoped) ordered by ``key``."""
    if cursor:
        stmt = stmt.where(key > decode_cursor(cursor))
    rows: Sequence[Any] = (
        (await session.execute(stmt.order_by(key).limit(limit + 1))).scalars().all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(getattr(rows[-1], key.key)) if more and rows else None
    return Page(items=[out(row) for row in rows], next_cursor=next_cursor)
