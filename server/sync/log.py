"""Reading the change log through cursors that never skip a change.

Theory of operation
-------------------
SQLite has one writer at a time and a row's ``seq`` is assigned inside the writing transaction,
so sequence order is commit order: a cursor is simply the last ``seq`` read.

PostgreSQL runs writers concurrently. Transaction A may take seq 10, transaction B seq 11, and B
may commit first: a reader that saw 11 and moved its cursor past it would never see 10. The
tempting fix — read only ``txid < xmin`` of the current snapshot — still skips rows, because
"committed" and "below xmin" are different things for concurrently running readers. So we use
snapshot windows, as PgQ does: each row records the id of the transaction that wrote it
(``pg_current_xact_id()``); a cursor holds the snapshot ``lo`` its reader last reached; a read
takes the current snapshot ``hi`` and returns exactly the rows visible in ``hi`` but not in
``lo`` (``pg_visible_in_snapshot``). Every committed transaction is invisible in some snapshot
and visible in every later one, so it falls in exactly one window: nothing is skipped, nothing is
read twice, and nobody waits for a slow writer (a transaction still in progress at ``hi`` simply
lands in a later window). Inside a window rows are paged by ``seq``; the cursor then also holds
``hi`` and the last ``seq`` read.

Cursors also carry the wall time their position was reached (``t``). Compaction deletes rows
older than the retention horizon and records it; a cursor from before the horizon may have missed
deletes, so it is refused with 410 and the device re-bootstraps.
"""

from __future__ import annotations

import base64
import binascii
import operator
import re
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, cast

import msgspec
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CursorResult,
    Integer,
    String,
    TextClause,
    and_,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.direct import execute
from server.errors import BadRequest, Gone
from server.sync.models import ChangeLog, PushReceipt, SyncMeta
from sync.messages import MAX_INT64

__all__ = [
    "Cursor",
    "LogPage",
    "LogRow",
    "compact",
    "decode_cursor",
    "distinct_adjacent",
    "encode_cursor",
    "head_cursor",
    "read_branches",
    "read_changes",
    "read_log_rows",
    "start_cursor",
]

_EMPTY_SNAPSHOT = "1:1:"
"""A PostgreSQL snapshot in which no transaction is visible: the start of the log."""
_HORIZON_KEY = "compacted_before_ms"
_PG_WINDOW = text(
    "txid >= :xmin AND txid < :xmax"
    " AND NOT pg_visible_in_snapshot(txid::text::xid8, CAST(:lo AS pg_snapshot))"
    " AND pg_visible_in_snapshot(txid::text::xid8, CAST(:hi AS pg_snapshot))"
).bindparams(
    bindparam("xmin", type_=BigInteger),
    bindparam("xmax", type_=BigInteger),
    bindparam("lo", type_=String),
    bindparam("hi", type_=String),
)
"""Rows written by transactions visible in snapshot ``hi`` but not in ``lo``."""
_COMPACTION_MARGIN = timedelta(hours=1)


# What a cursor may hold. It comes back from the device, so each value is bounded by what the
# statements it feeds can bind: integers to a signed 64-bit column, text free of NUL (which
# PostgreSQL refuses) and no longer than the column it is compared with. Checked on decoding.
_Int64 = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT64)]
_NO_NUL = "^[^\x00]*$"
_Key = Annotated[str, msgspec.Meta(max_length=64, pattern=_NO_NUL)]
_ScopeKey = Annotated[str, msgspec.Meta(max_length=200, pattern=_NO_NUL)]
_Branch = Annotated[int, msgspec.Meta(ge=0, le=15)]


class Cursor(msgspec.Struct, kw_only=True, omit_defaults=True):
    v: _Int64 = 1
    t: _Int64 = 0
    """Wall time (ms) when this position was reached."""
    q: _Int64 = 0
    """SQLite: last seq read. PostgreSQL: last seq read inside the window ``lo``..``hi``."""
    lo: str | None = None
    hi: str | None = None
    """PostgreSQL snapshots (``pg_snapshot`` text), checked by ``decode_cursor``."""
    k: _ScopeKey | None = None
    """The caller's scope key when issued (sync cursors only)."""
    b: list[_Key] | None = None
    """Bootstrap in progress: [entity, last record id] read so far in scope branch ``a``."""
    a: _Branch = 0
    """Bootstrap in progress: which of the caller's scope branches the snapshot is reading (it
    reads them one after another, server/sync/pull.py)."""
    e: _Key | None = None
    """Bootstrap restricted to one entity (a checksum repair)."""


_cursor_encoder = msgspec.msgpack.Encoder()
_cursor_decoder = msgspec.msgpack.Decoder(Cursor)
# pg_snapshot's text form as PostgreSQL writes it, "xmin:xmax:xip,xip,…". ASCII digits only:
# ``\d`` also takes the digits of other scripts, which int() reads and PostgreSQL does not.
_SNAPSHOT = re.compile(r"([0-9]{1,19}):([0-9]{1,19}):((?:[0-9]{1,19},)*[0-9]{1,19})?")


def encode_cursor(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(_cursor_encoder.encode(cursor)).decode().rstrip("=")


def decode_cursor(value: str, *, field: str = "cursor") -> Cursor:
    """The position ``value`` names, or 400 naming ``field``. Whatever a device sends back in
    place of a cursor this server issued (any shape or type, numbers past what a column holds, a
    snapshot PostgreSQL would not read) is refused here, before a statement sees it."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        cursor = _cursor_decoder.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise BadRequest("cursor is not one this server issued", field=field) from exc
    if not _well_formed(cursor):
        raise BadRequest("cursor is not one this server issued", field=field)
    return cursor


def _well_formed(cursor: Cursor) -> bool:
    if cursor.b is not None and len(cursor.b) not in (0, 2):
        return False
    return all(text is None or _is_snapshot(text) for text in (cursor.lo, cursor.hi))


def _is_snapshot(text: str) -> bool:
    """Whether PostgreSQL reads ``text`` as a pg_snapshot whose ids compare with the log's bigint
    ``txid``: 0 < xmin <= xmax < 2**63, each running id in [xmin, xmax) and in order."""
    match = _SNAPSHOT.fullmatch(text)
    if match is None:
        return False
    xmin, xmax = int(match[1]), int(match[2])
    if not 0 < xmin <= xmax <= MAX_INT64:
        return False
    running = [int(x) for x in match[3].split(",")] if match[3] else []
    return all(xmin <= x < xmax for x in running) and running == sorted(running)


class LogRow(msgspec.Struct, kw_only=True):
    seq: int
    at: datetime
    entity: str
    record_id: str
    op: str
    version: int
    data: dict[str, Any]
    event: str | None = None
    device_id: str | None = None
    origin_device_id: str | None = None


class LogPage(msgspec.Struct, kw_only=True):
    rows: list[LogRow]
    cursor: str
    more: bool


def _now_ms() -> int:
    return int(time.time() * 1000)


def _is_pg(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


_CURRENT_SNAPSHOT: ColumnElement[str] = literal_column("pg_current_snapshot()::text")


async def _snapshot(session: AsyncSession) -> str:
    return str((await session.execute(select(_CURRENT_SNAPSHOT))).scalar_one())


def _xmin(snapshot: str) -> int:
    return int(snapshot.split(":", 1)[0])


def _xmax(snapshot: str) -> int:
    return int(snapshot.split(":", 2)[1])


async def start_cursor(session: AsyncSession) -> Cursor:
    """The position at the very start of the retained log."""
    if _is_pg(session):
        return Cursor(t=_now_ms(), lo=_EMPTY_SNAPSHOT)
    return Cursor(t=_now_ms(), q=0)


async def head_position(session: AsyncSession) -> Cursor:
    """The position at the current end of the log (what a bootstrap snapshot is consistent
    with: replaying from here after reading current state loses nothing)."""
    if _is_pg(session):
        return Cursor(t=_now_ms(), lo=await _snapshot(session))
    seq = (await session.execute(select(func.max(ChangeLog.seq)))).scalar_one_or_none()
    return Cursor(t=_now_ms(), q=seq or 0)


async def head_cursor(session: AsyncSession) -> str:
    return encode_cursor(await head_position(session))


# Run straight on the driver (server/db/direct.py): it runs on every incremental pull, and
# through the session it cost a third of a small pull's reading.
_HORIZON = select(SyncMeta.__table__.c.value).where(SyncMeta.__table__.c.key == _HORIZON_KEY)
_HORIZON_AND_SNAPSHOT = select(
    _HORIZON.scalar_subquery().label("value"),
    _CURRENT_SNAPSHOT.label("snapshot"),
)


async def check_horizon(session: AsyncSession, cursor: Cursor, retention_days: int) -> str | None:
    """Refuse (410) a cursor from before the compaction horizon. On PostgreSQL, when the
    cursor's window is closed, the same round trip also takes the snapshot that the read after
    this opens its next window with, and returns it (``read_log_rows``'s ``snapshot``)."""
    if cursor.hi is None and _is_pg(session):
        [row] = await execute(session, _HORIZON_AND_SNAPSHOT, {})
        horizon, snapshot = row.value, str(row.snapshot)
    else:
        found = await execute(session, _HORIZON, {})
        horizon, snapshot = (found[0].value if found else None), None
    if horizon is not None and cursor.t < int(horizon):
        raise Gone(
            "this cursor is older than the change log's retention "
            f"({retention_days} days): changes it has not seen were compacted away; "
            "start again without a cursor (bootstrap) and keep unsent changes",
            extra={"retention_days": retention_days, "code": "cursor_expired"},
        )
    return snapshot


_LOG = ChangeLog.__table__
_LOG_COLUMNS = (
    _LOG.c.seq,
    _LOG.c.at,
    _LOG.c.entity,
    _LOG.c.record_id,
    _LOG.c.op,
    _LOG.c.version,
    _LOG.c.data,
    _LOG.c.event,
    _LOG.c.device_id,
    _LOG.c.origin_device_id,
)
_AFTER_SEQ = _LOG.c.seq > bindparam("after_seq")
_EVERYTHING = (true(),)


async def read_log_rows(
    session: AsyncSession,
    cursor: Cursor,
    *,
    limit: int,
    where: ColumnElement[bool] | None = None,
    branches: tuple[ColumnElement[bool], ...] | None = None,
    params: dict[str, Any] | None = None,
    snapshot: str | None = None,
) -> tuple[list[LogRow], Cursor, bool]:
    """Rows after ``cursor`` matching ``where`` (and any one of ``branches``), in commit order,
    at most ``limit``; the cursor to continue from; whether more rows are already available.
    ``snapshot``: PostgreSQL's current snapshot, taken by the caller in this transaction
    (``check_horizon``), to open the next window with instead of a round trip of its own.

    ``branches`` are read as one ordered stream each and merged (a device's scope: each branch
    seeks its own index, ``(key, seq)`` on SQLite and ``(key, txid)`` over the window on
    PostgreSQL), so a pull costs the rows in its scope that changed, not every row written since
    its cursor nor the scope's history. Without ``where``, the statements are built once per
    ``branches`` (whose values come in ``params``) and reused."""
    conditions = (_AFTER_SEQ,) if where is None else (_AFTER_SEQ, where)
    params = dict(params or {})
    reuse = where is None
    if _is_pg(session):
        return await _read_pg(session, cursor, conditions, branches, limit, params, reuse, snapshot)
    params["after_seq"] = cursor.q
    raw = await _ordered(session, conditions, branches, limit + 1, params, reuse)
    rows = [_row(r) for r in distinct_adjacent(raw, 1)[:limit]]
    more = len(raw) > limit
    last = rows[-1].seq if rows else cursor.q
    next_t = int(rows[-1].at.timestamp() * 1000) if more else _now_ms()
    return rows, msgspec.structs.replace(cursor, q=last, t=max(cursor.t, next_t)), more


async def _read_pg(
    session: AsyncSession,
    cursor: Cursor,
    conditions: tuple[ColumnElement[bool], ...],
    branches: tuple[ColumnElement[bool], ...] | None,
    limit: int,
    params: dict[str, Any],
    reuse: bool,
    snapshot: str | None,
) -> tuple[list[LogRow], Cursor, bool]:
    rows: list[LogRow] = []
    while True:
        lo = cursor.lo or _EMPTY_SNAPSHOT
        opened_earlier = cursor.hi is not None
        hi = cursor.hi or snapshot or await _snapshot(session)
        snapshot = None  # a window read on below takes a snapshot of its own
        params.update(xmin=_xmin(lo), xmax=_xmax(hi), lo=lo, hi=hi, after_seq=cursor.q)
        want = limit - len(rows)
        raw = await _ordered(session, (_PG_WINDOW, *conditions), branches, want + 1, params, reuse)
        rows.extend(_row(r) for r in distinct_adjacent(raw, 1)[:want])
        if len(raw) > want:
            return rows, msgspec.structs.replace(cursor, lo=lo, hi=hi, q=rows[-1].seq), True
        # Window finished: the next read starts after ``hi``.
        cursor = msgspec.structs.replace(cursor, lo=hi, hi=None, q=0, t=_now_ms())
        if not opened_earlier or len(rows) >= limit:
            return rows, cursor, len(rows) >= limit and opened_earlier
        # That window was opened by an earlier request, so changes committed since may already
        # wait in the next one: read on rather than report "caught up" too early.


async def read_branches(
    session: AsyncSession,
    columns: Sequence[Any],
    conditions: Sequence[ColumnElement[bool] | TextClause],
    branches: Sequence[ColumnElement[bool]],
    order: tuple[str, ...],
    limit: int,
    params: dict[str, Any] | None = None,
    *,
    reuse: bool = False,
) -> list[Any]:
    """The first ``limit`` rows, by the columns named in ``order``, matching ``conditions`` and
    any of ``branches``: one ordered read per branch (each walks its own index), merged, in one
    statement. A row matching several branches comes once per branch, side by side (see
    ``distinct_adjacent``).

    SQLite merges the reads itself (``UNION ALL … ORDER BY … LIMIT``). PostgreSQL's planner
    misjudges how many rows a page bound leaves in a branch and, given that statement, collected
    and sorted them all, on disk, for every page; there each branch is its own ``SELECT`` with its
    own ``ORDER BY … LIMIT`` (an index scan that stops at the page size), the ``UNION ALL`` only
    concatenates them, and the rows are merged here. Key columns compare the same way in Python
    as in the database: integers, or text in byte order (the "C" collation on PostgreSQL,
    migration 0006).

    ``params`` holds the values of bound parameters in the conditions and branches.
    ``reuse``: the caller passes the same element objects every time (the page limit aside), so
    the statement is built once and kept: building and hashing it cost about as much as running
    it for a small pull. Rows are read by position (in the order of ``columns``)."""
    pg = _is_pg(session)
    shape = (tuple(columns), tuple(conditions), tuple(branches), order, pg)
    statement = _statement(*shape) if reuse else _statement.__wrapped__(*shape)
    values = {**(params or {}), "page_limit": limit}
    if reuse:
        # A kept statement goes straight to the driver (server/db/direct.py): SQLAlchemy's own
        # path computes a cache key over the whole statement on every call, which cost as much
        # as the read of a small page.
        rows = await execute(session, statement, values, named=False)
    else:
        rows = list((await session.execute(statement, values)).all())
    if not pg or len(branches) == 1:
        return rows
    names = [column.key for column in columns]
    key = operator.itemgetter(*(names.index(name) for name in order))
    # The branches' rows come as sorted runs, one after the other: the sort merges them in C
    # (it finds the runs), where heapq.merge called back into Python for every row.
    return sorted(rows, key=key)[:limit]


@lru_cache(maxsize=64)
def _statement(
    columns: tuple[Any, ...],
    conditions: tuple[ColumnElement[bool] | TextClause, ...],
    branches: tuple[ColumnElement[bool], ...],
    order: tuple[str, ...],
    pg: bool,
) -> Any:
    """The read of every branch in one statement (see ``read_branches``): one round trip
    instead of one per branch, which cost a small pull about a third of its CPU on PostgreSQL."""
    limit = bindparam("page_limit", type_=Integer)
    arms = [select(*columns).where(*conditions, branch) for branch in branches]
    if pg or len(arms) == 1:
        bounded = [
            arm.order_by(*(arm.selected_columns[n] for n in order)).limit(limit) for arm in arms
        ]
        return union_all(*bounded) if len(bounded) > 1 else bounded[0]
    merged = union_all(*arms)
    return merged.order_by(*(merged.selected_columns[n] for n in order)).limit(limit)


def distinct_adjacent(rows: Sequence[Any], key_width: int) -> list[Any]:
    """Drop the copies ``merge_branches`` returns for a row several branches matched: adjacent,
    and equal in their first ``key_width`` columns. A page cut short by copies is still correct:
    the cursor continues after its last row."""
    # One C call per row for the key: a page of 5,000 records spent a tenth of its time here
    # slicing rows into tuples.
    key = operator.itemgetter(*range(key_width))
    out: list[Any] = []
    last: Any = _NO_ROW
    for row in rows:
        current = key(row)
        if current != last:
            out.append(row)
            last = current
    return out


_NO_ROW = object()


async def _ordered(
    session: AsyncSession,
    conditions: tuple[ColumnElement[bool] | TextClause, ...],
    branches: tuple[ColumnElement[bool], ...] | None,
    limit: int,
    params: dict[str, Any],
    reuse: bool,
) -> list[Any]:
    """Log rows matching ``conditions`` (and one of ``branches``) in seq order, at most
    ``limit``."""
    return await read_branches(
        session,
        _LOG_COLUMNS,
        conditions,
        branches or _EVERYTHING,
        ("seq",),
        limit,
        params,
        reuse=reuse,
    )


def _row(r: Any) -> LogRow:
    # By position (the order of _LOG_COLUMNS): kept statements return plain tuples.
    seq, at, entity, record_id, op, version, data, event, device_id, origin_device_id = r
    return LogRow(
        seq=seq,
        at=at if at.tzinfo else at.replace(tzinfo=UTC),
        entity=entity,
        record_id=record_id,
        op=op,
        version=version,
        data=data or {},
        event=event,
        device_id=device_id,
        origin_device_id=origin_device_id,
    )


async def read_changes(
    session: AsyncSession,
    *,
    cursor: str | None,
    limit: int,
    entities: Collection[str] | None = None,
    events: Collection[str] | None = None,
    retention_days: int = 45,
) -> LogPage:
    """The whole log (no scope), for server-side consumers such as the back-office feed and the
    webhook dispatcher. ``cursor=None`` starts at the beginning of the retained log."""
    position = decode_cursor(cursor) if cursor else await start_cursor(session)
    if cursor:
        snapshot = await check_horizon(session, position, retention_days)
    else:
        snapshot = None
    table = ChangeLog.__table__
    clauses: list[ColumnElement[bool]] = [table.c.device_id.is_(None)]
    if entities is not None:
        clauses.append(table.c.entity.in_(list(entities)))
    if events is not None:
        clauses.append(table.c.event.in_(list(events)))
    rows, next_position, more = await read_log_rows(
        session, position, limit=limit, where=and_(*clauses), snapshot=snapshot
    )
    return LogPage(rows=rows, cursor=encode_cursor(next_position), more=more)


async def compact(
    session: AsyncSession, *, retention_days: int, now: datetime | None = None
) -> int:
    """Delete change-log rows and push receipts older than the retention horizon; cursors
    from before it get 410 from then on. Returns the number of log rows removed."""
    now = now or datetime.now(UTC)
    horizon = now - timedelta(days=retention_days)
    cutoff = horizon - _COMPACTION_MARGIN
    deleting = delete(ChangeLog).where(ChangeLog.at < cutoff)
    # Session.execute is typed Result for any statement; a DELETE's is a CursorResult.
    removed = cast(CursorResult[Any], await session.execute(deleting)).rowcount
    await session.execute(delete(PushReceipt).where(PushReceipt.at < cutoff))
    value = str(int(horizon.timestamp() * 1000))
    existing = await session.get(SyncMeta, _HORIZON_KEY)
    if existing is None:
        session.add(SyncMeta(key=_HORIZON_KEY, value=value))
    elif int(existing.value) < int(value):
        existing.value = value
    return int(removed or 0)
