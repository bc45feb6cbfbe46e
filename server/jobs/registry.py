"""Jobs are declared in code: a name, an interval and a coroutine. Every replica schedules the
same list; the run-once claim decides who runs each occurrence.

Areas contribute jobs by listing a module in ``_JOB_MODULES`` that exposes
``jobs(settings) -> list[JobSpec]``.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.db.base import utcnow
from server.jobs.claim import claim, finish
from server.settings import Settings

__all__ = ["JobContext", "JobSpec", "RunOutcome", "find_job", "registered_jobs", "run_occurrence"]

logger = logging.getLogger("fieldline.jobs")

_JOB_MODULES: list[str] = [
    "server.leads.jobs",
    "server.jobs.heartbeat",
    "server.forecasting.jobs",
    "server.sync.jobs",
    "server.suggestions.jobs",
]


@dataclass(frozen=True, slots=True)
class JobContext:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    slot_start: datetime
    now: datetime
    run_id: int
    owner: str


JobFunc = Callable[[JobContext], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: str
    every_s: float
    func: JobFunc
    description: str = ""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    job_name: str
    slot_start: datetime
    ran: bool
    """False when another replica (or an earlier run) had already claimed the slot."""
    run_id: int | None = None
    status: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None


def registered_jobs(settings: Settings) -> list[JobSpec]:
    found: list[JobSpec] = []
    for module in _JOB_MODULES:
        mod = __import__(module, fromlist=["jobs"])
        found.extend(mod.jobs(settings))
    names = [spec.name for spec in found]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"job names declared twice: {', '.join(sorted(duplicates))}")
    return found


def find_job(settings: Settings, name: str) -> JobSpec | None:
    return next((spec for spec in registered_jobs(settings) if spec.name == name), None)


async def run_occurrence(
    spec: JobSpec,
    *,
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    slot_start: datetime,
    owner: str,
    trigger: str = "schedule",
) -> RunOutcome:
    run_id = await claim(engine, spec.name, slot_start, owner=owner, trigger=trigger)
    if run_id is None:
        logger.debug("job %s slot %s already claimed", spec.name, slot_start.isoformat())
        return RunOutcome(spec.name, slot_start, ran=False)
    context = JobContext(settings, engine, sessionmaker, slot_start, utcnow(), run_id, owner)
    try:
        result = await spec.func(context) or {}
    except Exception as exc:
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        logger.exception("job %s failed", spec.name)
        await finish(engine, run_id, status="failed", error=error[:4000])
        return RunOutcome(spec.name, slot_start, True, run_id, "failed", None, error)
    await finish(engine, run_id, status="succeeded", result=result)
    return RunOutcome(spec.name, slot_start, True, run_id, "succeeded", result)
