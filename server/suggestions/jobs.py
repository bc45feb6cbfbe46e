"""The nightly relearn of every account's suggestions, run through the scheduler's run-once
claim (one replica per night)."""

from __future__ import annotations

from typing import Any

from server.jobs.registry import JobContext, JobSpec
from server.settings import Settings
from server.suggestions.service import relearn

__all__ = ["NIGHTLY_S", "jobs"]

NIGHTLY_S = 24 * 3600.0
"""Anchored at the epoch by the scheduler, so it fires at midnight UTC."""


async def _relearn(ctx: JobContext) -> dict[str, Any]:
    summary = await relearn(ctx.sessionmaker, now=ctx.now)
    return summary.as_dict()


def jobs(settings: Settings) -> list[JobSpec]:
    return [
        JobSpec(
            name="suggestions.learn",
            every_s=NIGHTLY_S,
            func=_relearn,
            description="relearn every account's cross-sell and up-sell suggestions from the "
            "last year's orders",
        )
    ]
