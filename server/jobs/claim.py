"""Run-once claims: a scheduled occurrence runs on exactly one replica.

APScheduler 3 keeps its job store in each process, so every replica schedules every job from
code and fires it at the same aligned instants. Before running, a replica inserts the row
(job_name, slot_start) into ``job_runs`` with ON CONFLICT DO NOTHING: the unique constraint lets
exactly one insert through, and only the replica whose insert returned a row runs the occurrence.
The claim commits on its own, before the work starts, so the race is decided in one short
transaction (SQLite serialises it; PostgreSQL's unique index does). A lock held while running
would only keep two runs from overlapping; it would not stop a slower replica from running the
same slot again afterwards.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.base import utcnow
from server.jobs.models import JobRun

__all__ = ["claim", "finish", "process_owner", "slot_for"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def process_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def slot_for(moment: datetime, every_s: float) -> datetime:
    """The scheduled instant ``moment`` belongs to. Triggers fire on multiples of the interval
    since the epoch, a little late; rounding to the nearest multiple recovers the instant as long
    as the delay is under half an interval (a later firing claims the next slot instead, so a
    slot can be missed, never run twice)."""
    steps = round((moment - _EPOCH).total_seconds() / every_s)
    return datetime.fromtimestamp(steps * every_s, UTC)


async def claim(
    engine: AsyncEngine,
    job_name: str,
    slot_start: datetime,
    *,
    owner: str,
    trigger: str = "schedule",
) -> int | None:
    """The id of the new ``job_runs`` row if this caller won the slot, else None."""
    insert = sqlite_insert if engine.dialect.name == "sqlite" else pg_insert
    statement = (
        insert(JobRun)
        .values(
            job_name=job_name,
            slot_start=slot_start,
            owner=owner,
            trigger=trigger,
            started_at=utcnow(),
            status="running",
            result={},
        )
        .on_conflict_do_nothing(index_elements=["job_name", "slot_start"])
        .returning(JobRun.id)
    )
    async with engine.begin() as conn:
        row = (await conn.execute(statement)).first()
    return None if row is None else int(row[0])


async def finish(
    engine: AsyncEngine,
    run_id: int,
    *,
    status: str,
    error: str | None = None,
    result: dict[str, Any] | None = None,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(JobRun)
            .where(JobRun.id == run_id)
            .values(finished_at=utcnow(), status=status, error=error, result=result or {})
        )
