"""Scope checksums kept as records are written, so a sync reads a few numbers.

A device proves its copy of an entity matches the server's by comparing (count, XOR digest) of
(id, version) pairs (sync/checksum.py). Hashing the caller's whole scope on every sync cost a
demo rep 60 ms of server CPU and a 50,000-record scope 1.6 s; instead, every write of
``sync_records`` appends the change it makes to these numbers, per entity and combination of
scope keys (``SyncScopeSum``), in the same transaction. A caller's checksum is the fold of the
rows its scope predicate matches: a handful of rows, whatever the scope's size.

Deltas are appended, never updated in place: two pushes into one territory do not queue on a
shared row, and a rolled-back savepoint takes its deltas with it. ``fold`` (a job, every
minute) replaces the rows of each combination by their sum. ``verify`` (a job, nightly)
recomputes everything from ``sync_records`` and repairs what disagrees — the documented full
verification; devices still detect and repair their own drift against these numbers on every
sync.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role
from server.auth.principal import Principal
from server.sync.entities import table_of
from server.sync.models import SyncRecord, SyncScopeSum
from server.sync.scope import ScopeKeys, scope_filter, scope_params
from sync.checksum import as_signed, record_term
from sync.messages import ScopeChecksum

__all__ = [
    "Held",
    "fold",
    "rebuild",
    "record_deltas",
    "scope_sums",
    "verify",
    "write_deltas",
]

_SUMS = table_of(SyncScopeSum)
_RECORDS = table_of(SyncRecord)
_TOP = 1 << 64

Combo = tuple[str, str | None, str | None, str | None, bool]
"""(entity, territory_id, user_id, region_id, public): one row's worth of scope keys."""


class Held(NamedTuple):
    """What ``sync_records`` holds for a record before a write: its keys, version, and whether
    it is deleted (deleted records are in no checksum)."""

    keys: ScopeKeys
    version: int
    deleted: bool


def _combo(entity: str, keys: ScopeKeys) -> Combo:
    return (entity, keys.territory_id, keys.user_id, keys.region_id, keys.public)


def record_deltas(
    records: Iterable[Mapping[str, Any]], held: Mapping[tuple[str, str], Held]
) -> dict[Combo, tuple[int, int]]:
    """The change to (count, digest) per combination when ``records`` (rows about to be upserted
    into ``sync_records``, the last write per record) replace what ``held`` says was there."""
    out: dict[Combo, list[int]] = defaultdict(lambda: [0, 0])
    for record in records:
        entity, record_id = record["entity"], record["record_id"]
        before = held.get((entity, record_id))
        if before is not None and not before.deleted:
            part = out[_combo(entity, before.keys)]
            part[0] -= 1
            part[1] ^= record_term(record_id, before.version)
        if not record["deleted"]:
            keys = ScopeKeys(
                record["territory_id"], record["user_id"], record["region_id"], record["public"]
            )
            part = out[_combo(entity, keys)]
            part[0] += 1
            part[1] ^= record_term(record_id, record["version"])
    return {combo: (count, digest) for combo, (count, digest) in out.items() if count or digest}


def write_deltas(conn: Any, deltas: Mapping[Combo, tuple[int, int]]) -> None:
    """Append ``deltas`` on the connection of the write they describe."""
    if not deltas:
        return
    conn.execute(
        insert(_SUMS),
        [_row(combo, count, digest) for combo, (count, digest) in sorted(deltas.items(), key=str)],
    )


def _row(combo: Combo, count: int, digest: int) -> dict[str, Any]:
    entity, territory, user, region, public = combo
    return {
        "entity": entity,
        "territory_id": territory,
        "user_id": user,
        "region_id": region,
        "public": public,
        "count": count,
        "digest": as_signed(digest),
    }


async def scope_sums(session: AsyncSession, principal: Principal) -> list[ScopeChecksum]:
    """Count and digest per entity of what the caller's scope holds now, from the kept sums.
    Entities whose records all left the scope are still named (count 0), so a device holding
    stale copies of them learns it."""
    rows = await session.execute(_scope_sums_statement(principal.role), scope_params(principal))
    counts: dict[str, int] = defaultdict(int)
    digests: dict[str, int] = defaultdict(int)
    for entity, count, digest in rows:
        counts[entity] += count
        digests[entity] ^= digest % _TOP
    return [
        ScopeChecksum(entity=entity, count=counts[entity], digest=f"{digests[entity]:016x}")
        for entity in sorted(counts)
    ]


@cache
def _scope_sums_statement(role: Role) -> Any:
    """Built once per role: every sync reads the sums, and building the statement cost more
    than running it."""
    table = _SUMS
    return select(table.c.entity, table.c.count, table.c.digest).where(scope_filter(role, table))


def _fold_rows(rows: Iterable[Any]) -> dict[Combo, tuple[int, int]]:
    out: dict[Combo, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        part = out[(row.entity, row.territory_id, row.user_id, row.region_id, bool(row.public))]
        part[0] += row.count
        part[1] ^= row.digest % _TOP
    return {combo: (count, digest) for combo, (count, digest) in out.items() if count or digest}


async def fold(session: AsyncSession) -> int:
    """Replace the delta rows by one row per combination; returns how many rows it removed.
    Deltas committed while it runs keep their rows until the next fold: it folds exactly the
    rows its own statement deleted."""
    table = _SUMS
    deleted = (
        await session.execute(
            delete(table).returning(
                table.c.entity,
                table.c.territory_id,
                table.c.user_id,
                table.c.region_id,
                table.c.public,
                table.c.count,
                table.c.digest,
            )
        )
    ).all()
    folded = _fold_rows(deleted)
    if folded:
        await session.execute(
            insert(table), [_row(combo, *value) for combo, value in sorted(folded.items(), key=str)]
        )
    return len(deleted) - len(folded)


def _from_records(conn: Any) -> dict[Combo, tuple[int, int]]:
    records = _RECORDS
    out: dict[Combo, list[int]] = defaultdict(lambda: [0, 0])
    result = conn.execute(
        select(
            records.c.entity,
            records.c.record_id,
            records.c.version,
            records.c.territory_id,
            records.c.user_id,
            records.c.region_id,
            records.c.public,
        )
        .where(records.c.deleted.is_(False))
        .execution_options(yield_per=5000)
    )
    for entity, record_id, version, territory, user, region, public in result:
        part = out[(entity, territory, user, region, bool(public))]
        part[0] += 1
        part[1] ^= record_term(record_id, version)
    return {combo: (count, digest) for combo, (count, digest) in out.items()}


def rebuild(conn: Any) -> int:
    """Recompute every sum from ``sync_records`` (after a bulk load that bypassed capture, or to
    repair); returns the number of combinations. Runs on a sync connection."""
    sums = _from_records(conn)
    conn.execute(delete(_SUMS))
    if sums:
        conn.execute(
            insert(_SUMS),
            [_row(combo, *value) for combo, value in sorted(sums.items(), key=str)],
        )
    return len(sums)


async def verify(session: AsyncSession) -> dict[str, int]:
    """The full verification: recompute the sums from ``sync_records`` and compare with the kept
    ones; any disagreement (a write that bypassed capture, a bug) is repaired by a rebuild.
    Returns how many combinations were checked and how many disagreed."""

    def work(sync_session: Any) -> dict[str, int]:
        conn = sync_session.connection()
        expected = _from_records(conn)
        table = _SUMS
        kept = _fold_rows(conn.execute(select(table)).all())
        wrong = sum(
            1 for combo in expected.keys() | kept.keys() if expected.get(combo) != kept.get(combo)
        )
        if wrong:
            rebuild(conn)
        return {"combinations": len(expected), "disagreed": wrong}

    return await session.run_sync(work)


async def row_count(session: AsyncSession) -> int:
    """How many rows the sums table holds (folded combinations plus pending deltas)."""
    return int((await session.execute(select(func.count()).select_from(_SUMS))).scalar() or 0)
