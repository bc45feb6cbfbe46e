"""The nightly forecast recompute, run through the scheduler's run-once claim (one replica per
night), and ``recompute_all`` for anything that wants the same work outside the scheduler."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.forecasting.service import RunSummary, recompute
from server.jobs.registry import JobContext, JobSpec
from server.settings import Settings

__all__ = ["NIGHTLY_S", "jobs", "recompute_all"]

NIGHTLY_S = 24 * 3600.0
"""Anchored at the epoch by the scheduler, so it fires at midnight UTC."""


async def recompute_all(
    session: AsyncSession, *, now: datetime, trigger: str = "nightly"
) -> RunSummary:
    return await recompute(session, now=now, trigger=trigger)


async def _nightly(ctx: JobContext) -> dict[str, Any]:
    async with ctx.sessionmaker() as session:
        summary = await recompute_all(session, now=ctx.now)
        await session.commit()
    return {
        "run_id": summary.run_id,
        "series_refit": summary.series_refit,
        "series_skipped": summary.series_skipped,
        "forecasts_written": summary.forecasts_written,
        "scores_written": summary.scores_written,
    }


def jobs(settings: Settings) -> list[JobSpec]:
    return [
        JobSpec(
            name="forecast.recompute",
            every_s=NIGHTLY_S,
            func=_nightly,
            description="recompute every forecast (incrementally) and score closed periods",
        )
    ]
