"""The nightly forecast recompute, run through the scheduler's run-once claim (one replica per
night), and ``recompute_all`` for anything that wants the same work outside the scheduler.

A server that schedules the recompute also starts its worker pool when it starts
(``start_pool_warming``, in the background) and stops it when it stops (``stop_pool``): the
first recompute of a process would otherwise pay for the pool's start — the fork server's import
of the library and each worker's warm-up, about 3 s of the 10 s the nightly recompute may take.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from server.forecasting.runrate import shutdown_pool, start_pool
from server.forecasting.service import RunSummary, recompute
from server.jobs.registry import JobContext, JobSpec
from server.settings import Settings

__all__ = [
    "NIGHTLY_S",
    "PoolWarming",
    "jobs",
    "recompute_all",
    "start_pool_warming",
    "stop_pool",
]

logger = logging.getLogger("fieldline.forecasting")

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


@dataclass
class PoolWarming:
    """The worker pool being started in the background (``app.state.forecast_pool``)."""

    task: asyncio.Task[bool]
    """Its result: whether every worker warmed up."""
    stop: threading.Event


async def start_pool_warming(app: Litestar) -> None:
    """Start the forecast worker pool in a thread and return at once: the server does not wait
    for it, and its event loop is never blocked by it."""
    stop = threading.Event()

    async def warm() -> bool:
        started = time.perf_counter()
        ready = await asyncio.to_thread(start_pool, stop=stop)
        if ready:
            logger.info("forecast worker pool warm in %.1f s", time.perf_counter() - started)
        elif not stop.is_set():
            logger.warning("forecast worker pool did not warm up; it starts on first use")
        return ready

    app.state.forecast_pool = PoolWarming(asyncio.create_task(warm()), stop)


async def stop_pool(app: Litestar) -> None:
    """Stop the warming and the pool, and wait for the pool's processes to exit. A pool still
    warming up has its workers ended rather than waited for: a server stopped soon after its
    start does not wait out their warm-up."""
    warming = getattr(app.state, "forecast_pool", None)
    if not isinstance(warming, PoolWarming):
        return
    app.state.forecast_pool = None
    warming.stop.set()
    if not warming.task.done():
        await asyncio.to_thread(shutdown_pool, terminate=True)
    await asyncio.wait([warming.task])
    # The warming may have started a pool after the stop above was decided.
    await asyncio.to_thread(shutdown_pool)
