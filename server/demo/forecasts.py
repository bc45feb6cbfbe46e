"""The demo's forecast history: a year of past months replayed (what the system would have
forecast at the start of each), and the adjustments regional managers made to some of them, so
the accuracy panel has scores and a value added to show on a fresh demo.

Managers know things the order history does not (a customer's budget freeze, a big tender):
their adjustments move part of the way toward what then happened, with an error of their own,
and some make things worse. These are generated: the value added the demo shows is the one
these rules give, not a measurement of real managers.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role, User
from server.forecasting.inputs import load_sales
from server.forecasting.models import Forecast, ForecastAdjustment
from server.forecasting.periods import add_periods, period_of, periods_between
from server.forecasting.replay import replay

__all__ = ["REPLAYED_MONTHS", "forecast_history"]

REPLAYED_MONTHS = 12
ADJUSTED_SHARE = 0.2
"""Share of the replayed rep forecasts for the next two months a manager adjusted."""
_REASONS = (
    "Customer confirmed a large order for this month",
    "Key account froze purchasing until the new budget",
    "Trade fair in the territory: expect extra demand",
    "Rep on leave for two weeks",
    "Competitor price cut in the region",
    "Framework contract renewal pulled forward",
)


async def forecast_history(session: AsyncSession, *, now: datetime, seed: int) -> int:
    """Replay the last ``REPLAYED_MONTHS`` and add managers' adjustments. Returns the number of
    adjustments made."""
    await replay(session, now=now, months=REPLAYED_MONTHS)
    rng = random.Random(f"fieldline-demo:{seed}:adjustments")
    current = period_of(now, "month")
    first = add_periods(current, -REPLAYED_MONTHS, "month")
    sales = (
        await load_sales(
            session,
            origins={"month": current},
            lengths={"month": REPLAYED_MONTHS},
            horizon=1,
        )
    )["month"]
    managers = {
        region_id: user_id
        for user_id, region_id in (
            await session.execute(select(User.id, User.region_id).where(User.role == Role.MANAGER))
        ).all()
    }
    rows = (
        await session.execute(
            select(Forecast)
            .where(
                Forecast.granularity == "month",
                Forecast.scope_type == "rep",
                Forecast.origin >= first,
                Forecast.period_start < current,
                Forecast.horizon <= 2,
            )
            .order_by(Forecast.origin, Forecast.scope_id, Forecast.period_start)
        )
    ).scalars()
    made = 0
    for forecast in rows:
        manager = managers.get(forecast.region_id)
        if manager is None or rng.random() >= ADJUSTED_SHARE:
            continue
        history = sales.history.get(forecast.scope_id)
        index = periods_between(sales.start, forecast.period_start, "month")
        if history is None or not 0 <= index < history.size:
            continue
        actual, system = float(history[index]), forecast.blend
        # Part of the way toward what happened, plus the manager's own error.
        value = system + rng.uniform(0.0, 0.7) * (actual - system)
        value *= 1.0 + rng.gauss(0.0, 0.08)
        when = datetime.combine(forecast.origin, datetime.min.time(), tzinfo=UTC)
        session.add(
            ForecastAdjustment(
                forecast_id=forecast.id,
                scope_type="rep",
                scope_id=forecast.scope_id,
                granularity="month",
                period_start=forecast.period_start,
                region_id=forecast.region_id,
                system_value=system,
                adjusted_value=round(max(value, 0.0), -1),
                reason=rng.choice(_REASONS),
                user_id=manager,
                created_at=when + timedelta(days=rng.uniform(1, 6)),
            )
        )
        made += 1
    await session.flush()
    return made
