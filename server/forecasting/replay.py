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
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.base import utcnow
from server.forecasting.engine import compute, history_hash, node_histories
from server.forecasting.inputs import (
    Hierarchy,
    Key,
    Opportunities,
    Sales,
    load_hierarchy,
    load_sales,
)
from server.forecasting.models import Forecast, ForecastRun
from server.forecasting.periods import add_periods, period_of, season_length
from server.forecasting.runrate import SeriesForecast, forecast_many
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
    months_to_replay: list[tuple[date, Sales]] = []
    for back in range(months, 0, -1):
        origin = add_periods(current, -back, granularity)
        if origin in done:
            continue
        end = length + months - back  # index of the origin in the loaded history
        months_to_replay.append(
            (
                origin,
                Sales(
                    origin=origin,
                    start=add_periods(origin, -length, granularity),
                    history={
                        rep: values[end - length : end] for rep, values in sales.history.items()
                    },
                    current={},
                ),
            )
        )
    # Every month's series fitted in one batch, so the worker processes stay busy across months
    # instead of waiting at the end of each month for its slowest series.
    cached = await asyncio.to_thread(_fit_all, tree, months_to_replay, granularity)
    written = 0
    for (origin, past), fits in zip(months_to_replay, cached, strict=True):
        outcome = await asyncio.to_thread(
            compute, tree, past, nothing, granularity=granularity, horizon=HORIZON, cached=fits
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


def _fit_all(
    tree: Hierarchy, months: list[tuple[date, Sales]], granularity: str
) -> list[dict[Key, tuple[str, SeriesForecast]]]:
    """Each month's fits keyed as ``compute`` looks them up (node → history hash, fit)."""
    keyed: list[tuple[int, Key, str, np.ndarray]] = []
    for index, (origin, past) in enumerate(months):
        for key, values in node_histories(tree, past, granularity).items():
            keyed.append((index, key, history_hash(granularity, origin, values), values))
    fits = forecast_many(
        [values for *_, values in keyed], horizon=HORIZON, season=season_length(granularity)
    )
    out: list[dict[Key, tuple[str, SeriesForecast]]] = [{} for _ in months]
    for (index, key, digest, _), fit in zip(keyed, fits, strict=True):
        out[index][key] = (digest, fit)
    return out
