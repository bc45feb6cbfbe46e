"""A job that only leaves a mark, scheduled when ``jobs_test_interval_s`` is set: it makes the
run-once claim observable across replicas (one audit entry per slot)."""

from __future__ import annotations

from typing import Any

from server.audit.service import record
from server.jobs.registry import JobContext, JobSpec
from server.settings import Settings

__all__ = ["jobs"]


async def heartbeat(ctx: JobContext) -> dict[str, Any]:
    async with ctx.sessionmaker() as session:
        await record(
            session,
            "jobs.heartbeat",
            target_type="job_run",
            target_id=str(ctx.run_id),
            details={"slot": ctx.slot_start.isoformat(), "owner": ctx.owner},
        )
        await session.commit()
    return {"slot": ctx.slot_start.isoformat()}


def jobs(settings: Settings) -> list[JobSpec]:
    if not settings.jobs_test_interval_s:
        return []
    return [
        JobSpec(
            name="jobs.heartbeat",
            every_s=settings.jobs_test_interval_s,
            func=heartbeat,
            description="test heartbeat: one audit entry per slot",
        )
    ]
