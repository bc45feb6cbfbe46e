"""The server's side of the final comparison, read straight from the database: every syncable
row with its clocks, the current-state index (``sync_records``) and what each device's user may
see of it, the conflict log and the quarantine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role, User
from server.auth.principal import Principal
from server.sync.entities import syncable_models, wire_record
from server.sync.models import ConflictRecord, QuarantinedMutation, SyncRecord
from server.sync.scope import scope_filter, scope_params
from server.sync.sums import scope_sums
from tests.seed import run_db

__all__ = ["ConflictRow", "IndexRow", "ServerRow", "ServerView", "read_server"]

Key = tuple[str, str]


@dataclass(frozen=True)
class ServerRow:
    version: int
    deleted: bool
    clocks: dict[str, Any]
    wire: dict[str, Any]


@dataclass(frozen=True)
class IndexRow:
    version: int
    data: dict[str, Any]
    deleted: bool


@dataclass(frozen=True)
class ConflictRow:
    id: int
    entity: str
    record_id: str
    field: str
    kept: Any
    discarded: Any
    kept_origin: str | None
    discarded_origin: str | None
    rule: str


@dataclass
class ServerView:
    rows: dict[Key, ServerRow]
    index: dict[Key, IndexRow]
    scopes: dict[str, dict[Key, IndexRow]]
    """Device id → the live records of ``sync_records`` its user's scope selects."""
    conflicts: list[ConflictRow]
    quarantine: dict[str, set[int]]
    """Device id → seqs of its mutations the server refused."""
    sums: dict[str, dict[str, tuple[int, str]]]
    """Device id → entity → (count, digest) the kept scope checksums give its user."""


def read_server(url: str, devices: dict[str, str]) -> ServerView:
    """``devices``: device id → user id."""

    async def work(session: AsyncSession) -> ServerView:
        rows: dict[Key, ServerRow] = {}
        for entity, model in syncable_models().items():
            for obj in (await session.execute(select(model))).scalars():
                rows[(entity, obj.id)] = ServerRow(
                    version=obj.version,
                    deleted=obj.deleted_at is not None,
                    clocks=dict(obj.field_clocks or {}),
                    wire=wire_record(obj),
                )
        table = SyncRecord.__table__
        index = {
            (r.entity, r.record_id): IndexRow(r.version, dict(r.data or {}), bool(r.deleted))
            for r in await session.execute(select(table))
        }
        scopes: dict[str, dict[Key, IndexRow]] = {}
        sums: dict[str, dict[str, tuple[int, str]]] = {}
        for device_id, user_id in devices.items():
            principal = await _principal(session, user_id, device_id)
            sums[device_id] = {
                s.entity: (s.count, s.digest) for s in await scope_sums(session, principal)
            }
            visible = await session.execute(
                select(table.c.entity, table.c.record_id).where(
                    table.c.deleted.is_(False), scope_filter(principal.role, table)
                ),
                scope_params(principal),
            )
            scopes[device_id] = {(e, i): index[(e, i)] for e, i in visible}
        conflicts = [
            ConflictRow(
                id=c.id,
                entity=c.entity,
                record_id=c.record_id,
                field=c.field,
                kept=c.kept,
                discarded=c.discarded,
                kept_origin=c.kept_origin,
                discarded_origin=c.discarded_origin,
                rule=c.rule,
            )
            for c in (await session.execute(select(ConflictRecord))).scalars()
        ]
        quarantine: dict[str, set[int]] = {device_id: set() for device_id in devices}
        for device_id, seq in await session.execute(
            select(QuarantinedMutation.device_id, QuarantinedMutation.seq)
        ):
            quarantine.setdefault(device_id, set()).add(seq)
        return ServerView(rows, index, scopes, conflicts, quarantine, sums)

    return run_db(url, work)


async def _principal(session: AsyncSession, user_id: str, device_id: str) -> Principal:
    user = await session.get(User, user_id)
    assert user is not None
    return Principal(
        role=Role(user.role),
        user_id=user.id,
        username=user.username,
        device_id=device_id,
        region_id=user.region_id,
        territory_id=user.territory_id,
    )
