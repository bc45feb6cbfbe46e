"""Replaying past months: what the system would have forecast at the start of each month, from
the history it had then, scored like any forecast once the month closed."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role
from server.auth.principal import Principal
from server.forecasting.models import Forecast, ForecastRun, ForecastScore
from server.forecasting.periods import add_periods
from server.forecasting.replay import replay
from server.forecasting.reports import accuracy_report
from server.forecasting.runrate import forecast_one
from tests.seed import run_db, seed_world
from tests.server.forecasting.history import NOW, REPS, monthly, seed_history
from tests.server.forecasting.world import recompute_at
from tests.stores import Store

JUNE = date(2025, 6, 1)


def _replayed_world(url: str, months: int = 4) -> dict[str, str]:
    world = seed_world(url)
    seed_history(url, world, months=36)
    run_db(url, lambda s: replay(s, now=NOW, months=months))
    return {u: world.user(u) for u in REPS}


def test_each_replayed_month_is_forecast_from_the_history_before_it_only(store: Store) -> None:
    reps = _replayed_world(store.url)
    first = add_periods(JUNE, -36, "month")

    async def rows(session: AsyncSession) -> list[Forecast]:
        query = select(Forecast).where(Forecast.scope_type == "rep", Forecast.horizon == 1)
        return list((await session.execute(query)).scalars())

    found = run_db(store.url, rows)
    assert {f.origin for f in found} == {add_periods(JUNE, -k, "month") for k in (1, 2, 3, 4)}
    rep_index = {rep_id: i for i, rep_id in enumerate(reps.values())}
    for f in found:
        assert f.components["replayed"] is True
        assert f.pipeline == 0.0 and f.closed == 0.0
        if f.scope_id == reps["rep_n1"]:
            # Exactly the run-rate of the months before its origin, nothing after.
            months = (f.origin.year - first.year) * 12 + f.origin.month - first.month
            history = [monthly(rep_index[f.scope_id], m) for m in range(months)]
            expected = forecast_one(history, horizon=6, season=12)
            assert f.run_rate == pytest.approx(expected.point[0], abs=0.01)


def test_replayed_months_are_scored_and_reach_the_accuracy_report(store: Store) -> None:
    _replayed_world(store.url)
    recompute_at(store.url)

    async def scores(session: AsyncSession) -> list[ForecastScore]:
        return list((await session.execute(select(ForecastScore))).scalars())

    scored = run_db(store.url, scores)
    assert {s.period_start for s in scored} == {
        add_periods(JUNE, -k, "month") for k in (1, 2, 3, 4)
    }
    admin = Principal(role=Role.ADMIN, user_id=None, username="admin", region_id=None)
    report = run_db(store.url, lambda s: accuracy_report(s, admin))
    system = report.methods["system"]
    assert system.n > 0 and system.mase is not None and np.isfinite(system.mase)
    # No replayed forecast had a pipeline: "pipeline alone" is not scored on them.
    assert report.methods["pipeline"].n == 0


def test_a_month_that_has_forecasts_of_its_own_is_not_replayed_again(store: Store) -> None:
    _replayed_world(store.url, months=2)
    written = run_db(store.url, lambda s: replay(s, now=NOW, months=3))

    async def runs(session: AsyncSession) -> list[ForecastRun]:
        query = select(ForecastRun).where(ForecastRun.trigger == "replay")
        return list((await session.execute(query)).scalars())

    assert len(run_db(store.url, runs)) == 3
    assert written > 0  # only the third month back was new
