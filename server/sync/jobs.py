"""Scheduled sync housekeeping: compact the change log past the retention horizon, daily."""

from __future__ import annotations

from typing import Any

from server.jobs.registry import JobContext, JobSpec
from server.settings import Settings
from server.sync.log import compact

__all__ = ["jobs"]


async def _compact(ctx: JobContext) -> dict[str, Any]:
    async with ctx.sessionmaker() as session:
        removed = await compact(
            session, retention_days=ctx.settings.sync_retention_days, now=ctx.now
        )
        await session.commit()
    return {"removed": removed, "retention_days": ctx.settings.sync_retention_days}


def jobs(settings: Settings) -> list[JobSpec]:
    return [
        JobSpec(
            name="sync.compact",
            every_s=24 * 3600,
            func=_compact,
            description="delete change-log rows and push receipts older than the retention",
        )
    ]
