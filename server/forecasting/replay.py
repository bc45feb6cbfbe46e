"""Replaying past months: the forecasts the system would have made at the start of each of the
last months, from the order history it would have had then, stored as that month's forecasts so
the next recompute scores them against what was booked.

A replay knows only the order history: deals open in a past month and the stages they stood at
are not kept, so a replayed forecast is the run-rate alone (no pipeline, nothing closed yet at
the start of the month), reconciled over today's hierarchy. Replayed runs carry the trigger
``replay`` and each row ``components.replayed``; a month that already has forecasts of its own
is left alone.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.base import utcnow
from server.forecasting.engine import compute
from server.forecasting.inputs import Opportunities, Sales, load_hierarchy, load_sales
from server.forecasting.models import Forecast, ForecastRun
from server.forecasting.periods import add_periods, period_of
from server.forecasting.service import HISTORY_LENGTH, HORIZON, store_rows

__all__ = ["replay"]


async def replay(
    session: AsyncSession, *, now: datetime, months: int = 12, granularity: str = "month"
) -> int:
    """Store the forecasts each of the last ``months`` periods before ``now`` would have got at
    its start. Returns the number of forecast rows written."""
    current = period_of(now, granularity)
    length = HISTORY_LENGTH[granularity]
    sales = (
        await load_sales(
            session,
            origins={granularity: current},
            lengths={granularity: length + months},
            horizon=1,
        )
    )[granularity]
    tree = await load_hierarchy(session, set(sales.history))
    done = set(
        (
            await session.execute(
                select(Forecast.origin).where(Forecast.granularity == granularity).distinct()
            )
        ).scalars()
    )
    nothing = Opportunities(open_by_owner={}, open_ids={}, closed_by_owner={}, observed=set())
    written = 0
    for back in range(months, 0, -1):
        origin = add_periods(current, -back, granularity)
        if origin in done:
            continue
        end = length + months - back  # index of the origin in the loaded history
        past = Sales(
            origin=origin,
            start=add_periods(origin, -length, granularity),
            history={rep: values[end - length : end] for rep, values in sales.history.items()},
            current={},
        )
        outcome = await asyncio.to_thread(
            compute, tree, past, nothing, granularity=granularity, horizon=HORIZON, cached={}
        )
        for row in outcome.rows:
            row.components["replayed"] = True
        made = datetime.combine(origin, datetime.min.time(), tzinfo=UTC)
        run = ForecastRun(trigger="replay", origin=origin, started_at=made)
        session.add(run)
        await session.flush()
        written += await store_rows(session, run.id, granularity, origin, outcome.rows, made)
        run.series_total = run.series_refit = len(outcome.fits)
        run.forecasts_written = len(outcome.rows)
        run.finished_at = utcnow()
    await session.flush()
    return written
