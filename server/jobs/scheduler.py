"""The in-process scheduler: an APScheduler 3 ``AsyncIOScheduler`` started and stopped by the
app's lifespan (never at import). Every replica runs one; each firing goes through the run-once
claim, so an occurrence runs on exactly one of them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

# APScheduler 3 ships no py.typed marker and typeshed has no stubs for it; ``_Scheduler`` types
# the part of it used here.
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]
from litestar import Litestar

from server.db.base import utcnow
from server.jobs.claim import process_owner, slot_for
from server.jobs.registry import JobSpec, registered_jobs, run_occurrence

__all__ = ["JobScheduler", "start_scheduler", "stop_scheduler"]

logger = logging.getLogger("fieldline.jobs")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STOP_GRACE_S = 10.0


class _Scheduler(Protocol):
    def add_job(
        self, func: Callable[[JobSpec], Awaitable[None]], trigger: object, **options: object
    ) -> object: ...

    def start(self) -> None: ...

    def pause(self) -> None: ...

    def shutdown(self, wait: bool = True) -> None: ...


class JobScheduler:
    def __init__(self, app: Litestar, specs: list[JobSpec]) -> None:
        self._app = app
        self._specs = specs
        self._owner = process_owner()
        self._inflight: set[asyncio.Task[object]] = set()
        self._scheduler: _Scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1},
        )

    @property
    def specs(self) -> list[JobSpec]:
        return list(self._specs)

    def start(self) -> None:
        for spec in self._specs:
            # Anchored at the epoch so every replica fires on the same instants.
            trigger = IntervalTrigger(seconds=spec.every_s, start_date=_EPOCH, timezone=UTC)
            self._scheduler.add_job(
                self._fire,
                trigger,
                args=[spec],
                id=spec.name,
                name=spec.name,
                misfire_grace_time=max(1, int(spec.every_s)),
            )
        self._scheduler.start()
        logger.info("scheduler started with %d jobs", len(self._specs))

    async def _fire(self, spec: JobSpec) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            state = self._app.state
            await run_occurrence(
                spec,
                settings=state.settings,
                engine=state.engine,
                sessionmaker=state.sessionmaker,
                slot_start=slot_for(utcnow(), spec.every_s),
                owner=self._owner,
            )
        except Exception:
            logger.exception("job %s could not be claimed or recorded", spec.name)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def stop(self) -> None:
        # Pause first: shutting down cancels the executor's running coroutines, which would
        # leave a claimed occurrence "running" with no outcome.
        self._scheduler.pause()
        pending = [t for t in self._inflight if not t.done()]
        if pending:
            # Let running occurrences finish (and record their outcome) before the engine goes.
            await asyncio.wait(pending, timeout=_STOP_GRACE_S)
        self._scheduler.shutdown(wait=False)


async def start_scheduler(app: Litestar) -> None:
    scheduler = JobScheduler(app, registered_jobs(app.state.settings))
    scheduler.start()
    app.state.scheduler = scheduler


async def stop_scheduler(app: Litestar) -> None:
    scheduler = getattr(app.state, "scheduler", None)
    if isinstance(scheduler, JobScheduler):
        await scheduler.stop()
        app.state.scheduler = None
