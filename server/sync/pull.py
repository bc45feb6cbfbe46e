"""Serving pulls: a bootstrap snapshot of the caller's scope for a new device, then the change
log after its cursor, both filtered by the same scope keys (server/sync/scope.py).

A snapshot is read from ``sync_records`` one scope branch after another, each in (entity, id)
pages, while the change log keeps moving; the cursor handed over at its end is the log position
taken *before* the first page, so every change that raced the snapshot is replayed afterwards
(devices apply a record only if its version is not older than theirs, so the replay never
regresses a row).
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from functools import cache
from typing import Any

import msgspec
from sqlalchemy import (
    ColumnElement,
    Text,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    not_,
    null,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role
from server.auth.principal import Principal
from server.errors import BadRequest
from server.settings import Settings
from server.sync.clock import server_clock
from server.sync.entities import model_for
from server.sync.log import (
    Cursor,
    LogRow,
    check_horizon,
    decode_cursor,
    encode_cursor,
    head_position,
    read_branches,
    read_log_rows,
)
from server.sync.models import ChangeLog, SyncRecord
from server.sync.scope import (
    device_branch,
    scope_branches,
    scope_key,
    scope_params,
)
from server.sync.sums import scope_sums
from sync.messages import Change, ConflictNotice, Eviction, PullItem, PullPage

__all__ = ["pull"]


async def pull(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    *,
    cursor: str | None,
    limit: int,
    checksums: bool = False,
    resync: str | None = None,
    raw_json: bool = False,
) -> PullPage:
    """``raw_json``: the page will be encoded as JSON, so snapshot record bodies may be passed
    through as stored (msgspec.Raw) instead of being decoded and encoded again — the bulk of a
    bootstrap's cost."""
    key = scope_key(principal)
    if resync is not None and model_for(resync) is None:
        raise BadRequest(f"no entity called {resync!r}", field="resync")
    position = decode_cursor(cursor) if cursor else None
    if position is not None and position.k != key and resync is None:
        position = None  # the caller's scope changed: start over with a consistent view
    if position is None or (resync is not None and position.e != resync):
        start = await head_position(session)
        position = msgspec.structs.replace(start, k=key, b=[], e=resync)
        return await _snapshot_page(
            session, principal, settings, position, limit, first=True, raw_json=raw_json
        )
    if position.b is not None:
        return await _snapshot_page(
            session, principal, settings, position, limit, first=False, raw_json=raw_json
        )

    snapshot = await check_horizon(session, position, settings.sync_retention_days)
    rows, next_position, more = await read_log_rows(
        session,
        position,
        limit=limit,
        branches=_log_branches(principal.role),
        params=scope_params(principal),
        snapshot=snapshot,
    )
    items = [_item(row) for row in rows]
    sums = await scope_sums(session, principal) if checksums and not more else None
    return PullPage(
        items=items,
        cursor=encode_cursor(next_position),
        more=more,
        retention_days=settings.sync_retention_days,
        server_hlc=server_clock.now(),
        checksums=sums,
    )


async def _snapshot_page(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    position: Cursor,
    limit: int,
    *,
    first: bool,
    raw_json: bool,
) -> PullPage:
    table = SyncRecord.__table__
    params = scope_params(principal)
    if position.e is not None:
        params[_SNAPSHOT_ENTITY] = position.e
    branches = scope_branches(principal.role, table)
    columns = _snapshot_columns(raw_json)
    branch, after = position.a, position.b or []
    page: list[Any] = []
    next_position: Cursor | None = None
    # The scope's branches are read one after another, each through its own index in
    # (entity, record_id) order, skipping records an earlier branch has already sent. A page
    # costs its own rows: merging the branches in one order made every page read a page's
    # worth from each branch (the territory's tickets on every page of the rep's orders) and
    # the records on two branches twice.
    while branch < len(branches):
        if after:
            params[_AFTER_ENTITY], params[_AFTER_ID] = after
        want = limit - len(page)
        rows = await read_branches(
            session,
            columns,
            _snapshot_conditions(principal.role, branch, position.e is not None, bool(after)),
            (branches[branch],),
            ("entity", "record_id"),
            want + 1,
            params,
            reuse=True,
        )
        page.extend(rows[:want])
        if len(rows) > want:
            last_entity, last_id, *_ = page[-1]
            next_position = msgspec.structs.replace(position, a=branch, b=[last_entity, last_id])
            break
        branch, after = branch + 1, []
        if len(page) == limit and branch < len(branches):
            # Full, and the next branch not looked at yet: it starts the next page.
            next_position = msgspec.structs.replace(position, a=branch, b=[])
            break
    # Stored items go into the page as they are (msgspec.Raw encodes as its own bytes). Rows
    # are (entity, record_id, version, packed, data), read by position: a page is thousands of
    # them, and unpacking each into names cost a tenth of building it.
    if raw_json:
        bodies: Iterator[Any] = (msgspec.Raw(row[4]) for row in page)
    else:
        unpacked = [row[4] for row in page if row[3] is None]
        bodies = iter(_bodies.decode("[" + ",".join(unpacked) + "]") if unpacked else ())
    items: list[PullItem | msgspec.Raw] = [
        msgspec.Raw(row[3])
        if row[3] is not None
        else Change(entity=row[0], id=row[1], op="upsert", version=row[2], fields=next(bodies))
        for row in page
    ]
    if next_position is not None:
        more = True
    else:
        # Snapshot done: continue from the log position taken before it began. A one-entity
        # re-fetch ends here; the device goes on with its own cursor.
        next_position = msgspec.structs.replace(position, a=0, b=None, e=None)
        more = position.e is None
    return PullPage(
        # msgspec writes a Raw out as it is: each one is a PullItem, encoded in advance.
        items=typing.cast(list[PullItem], items),
        cursor=encode_cursor(next_position),
        more=more,
        snapshot=True,
        reset=first,
        retention_days=settings.sync_retention_days,
        server_hlc=server_clock.now(),
        entity=position.e,
    )


_bodies = msgspec.json.Decoder(list[dict[str, Any]])

_SNAPSHOT_ENTITY = "snapshot_entity"
_AFTER_ENTITY = "after_entity"
_AFTER_ID = "after_record_id"


@cache
def _snapshot_columns(raw_json: bool) -> tuple[Any, ...]:
    table = SyncRecord.__table__
    text = cast(table.c.data, Text)
    return (
        table.c.entity,
        table.c.record_id,
        table.c.version,
        # A MessagePack page is the stored items side by side; a JSON page passes the stored
        # bodies through as text. Rows packed before ``packed`` existed bring their text too,
        # decoded in one call per page (instead of one JSON column conversion per row).
        (null() if raw_json else table.c.packed).label("packed"),
        (text if raw_json else case((table.c.packed.is_(None), text), else_=null())).label("data"),
    )


@cache
def _snapshot_conditions(
    role: Role, branch: int, one_entity: bool, after: bool
) -> tuple[ColumnElement[bool], ...]:
    """The conditions of a snapshot's read of one scope branch, besides the branch's own, built
    once per shape with their values as parameters, so that its statements are kept
    (``read_branches``, ``reuse``): records that an earlier branch of the role's scope matches
    are left out, as that branch has sent them."""
    table = SyncRecord.__table__
    conditions: list[ColumnElement[bool]] = [table.c.deleted.is_(False)]
    if one_entity:
        conditions.append(table.c.entity == bindparam(_SNAPSHOT_ENTITY))
    if after:
        conditions.append(
            tuple_(table.c.entity, table.c.record_id)
            > tuple_(bindparam(_AFTER_ENTITY), bindparam(_AFTER_ID))
        )
    # A comparison with a NULL key is NULL, which NOT keeps NULL: coalesced, it reads "not on
    # that branch".
    conditions.extend(
        not_(func.coalesce(earlier, false())) for earlier in scope_branches(role, table)[:branch]
    )
    return tuple(conditions)


@cache
def _log_branches(role: Role) -> tuple[ColumnElement[bool], ...]:
    """A role's scope over the change log, one branch per index: the shared rows in its scope,
    and the rows addressed to the caller's device alone (which carry no scope keys)."""
    table = ChangeLog.__table__
    shared = (and_(table.c.device_id.is_(None), b) for b in scope_branches(role, table))
    return (*shared, device_branch(table))


def _item(row: LogRow) -> PullItem:
    if row.op == "evict":
        return Eviction(entity=row.entity, id=row.record_id)
    if row.op == "conflict":
        return msgspec.convert(row.data, ConflictNotice)
    if row.op == "delete":
        return Change(entity=row.entity, id=row.record_id, op="delete", version=row.version)
    return Change(
        entity=row.entity, id=row.record_id, op="upsert", version=row.version, fields=row.data
    )
