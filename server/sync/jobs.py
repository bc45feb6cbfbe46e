"""Scheduled sync housekeeping: compact the change log past the retention horizon, daily; fold
the scope-checksum deltas every minute; verify the kept checksums against the index nightly."""

from __future__ import annotations

from typing import Any

from server.jobs.registry import JobContext, JobSpec
from server.settings import Settings
from server.sync.log import compact
from server.sync.sums import fold, verify

__all__ = ["jobs"]


async def _compact(ctx: JobContext) -> dict[str, Any]:
    async with ctx.sessionmaker() as session:
        removed = await compact(
            session, retention_days=ctx.settings.sync_retention_days, now=ctx.now
        )
        await session.commit()
    return {"removed": removed, "retention_days": ctx.settings.sync_retention_days}


async def _fold_sums(ctx: JobContext) -> dict[str, Any]:
    async with ctx.sessionmaker() as session:
        removed = await fold(session)
        await session.commit()
    return {"removed": removed}


async def _verify_sums(ctx: JobContext) -> dict[str, Any]:
    async with ctx.sessionmaker() as session:
        found = await verify(session)
        await session.commit()
    return found


def jobs(settings: Settings) -> list[JobSpec]:
    return [
        JobSpec(
            name="sync.compact",
            every_s=24 * 3600,
            func=_compact,
            description="delete change-log rows and push receipts older than the retention",
        ),
        JobSpec(
            name="sync.fold_sums",
            every_s=60,
            func=_fold_sums,
            description="fold the scope-checksum deltas written since the last fold",
        ),
        JobSpec(
            name="sync.verify_sums",
            every_s=24 * 3600,
            func=_verify_sums,
            description="recompute the scope checksums from the sync index; repair any drift",
        ),
    ]
