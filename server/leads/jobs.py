"""Scheduled lead work: retry the unassigned queue, and enforce the first-touch SLA.

Each page of work commits on its own so a SQLite writer never holds the lock for long.
"""

from __future__ import annotations

from typing import Any

from server.jobs.registry import JobContext, JobSpec
from server.leads.service import assign_pending, reroute_overdue
from server.settings import Settings

__all__ = ["jobs", "run_assign_pending", "run_first_touch_sla"]

_PAGE = 200


async def run_assign_pending(ctx: JobContext) -> dict[str, Any]:
    evaluated = assigned = 0
    after: str | None = None
    while True:
        async with ctx.sessionmaker() as session:
            outcomes, after = await assign_pending(
                session, now=ctx.now, after_id=after, limit=_PAGE
            )
            await session.commit()
        evaluated += len(outcomes)
        assigned += sum(1 for o in outcomes if o.assigned)
        if after is None:
            break
    return {"evaluated": evaluated, "assigned": assigned}


async def run_first_touch_sla(ctx: JobContext) -> dict[str, Any]:
    totals: dict[str, int] = {}
    while True:
        async with ctx.sessionmaker() as session:
            counts = await reroute_overdue(session, now=ctx.now, limit=_PAGE)
            await session.commit()
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        # Every overdue lead handled gets a fresh due date, so the next page holds new ones.
        if counts["overdue"] < _PAGE or counts["overdue"] == counts["skipped_manual"]:
            break
    return totals


def jobs(settings: Settings) -> list[JobSpec]:
    return [
        JobSpec(
            name="leads.assign_pending",
            every_s=settings.leads_assign_every_s,
            func=run_assign_pending,
            description="assign leads still waiting in the queue",
        ),
        JobSpec(
            name="leads.first_touch_sla",
            every_s=settings.leads_sla_every_s,
            func=run_first_touch_sla,
            description="re-route leads not contacted within their SLA; notify managers",
        ),
    ]
