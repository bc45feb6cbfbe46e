from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role
from server.auth.principal import Principal
from server.db.engine import create_engine, create_sessionmaker
from server.forecasting import service
from server.forecasting.engine import compute
from server.forecasting.models import Forecast, ForecastAdjustment, ForecastScore
from server.forecasting.service import RunSummary, add_adjustment
from server.orders.models import Order
from tests.seed import World, run_db
from tests.server.forecasting.history import NOW, monthly
from tests.server.forecasting.world import forecast_world, recompute_at
from tests.stores import Store

JUNE, JULY = date(2025, 6, 1), date(2025, 7, 1)


def _forecasts(url: str, **where: object) -> list[Forecast]:
    async def work(session: AsyncSession) -> list[Forecast]:
        query = select(Forecast).filter_by(**where)
        return list((await session.execute(query)).scalars())

    return run_db(url, work)


def _manager(world: World, region: str = "NORTH") -> Principal:
    username = "mgr_north" if region == "NORTH" else "mgr_south"
    return Principal(
        role=Role.MANAGER,
        user_id=world.user(username),
        username=username,
        region_id=world.regions[region],
    )


def _add_order(url: str, world: World, username: str, total: str, when: datetime) -> None:
    async def work(session: AsyncSession) -> None:
        session.add(
            Order(
                account_id=world.accounts[username.split("_")[1].upper()][0],
                rep_id=world.user(username),
                status="accepted",
                total=Decimal(total),
                submitted_at=when,
            )
        )

    run_db(url, work)


def test_recompute_forecasts_every_scope_for_six_months_from_the_current_one(store: Store) -> None:
    forecast_world(store.url)
    rows = _forecasts(store.url, granularity="month", origin=JUNE)
    by_scope = defaultdict(list)
    for f in rows:
        by_scope[f.scope_type].append(f)
    # 4 reps, 4 territories, 2 regions, 1 company; 6 periods each.
    assert {k: len(v) for k, v in by_scope.items()} == {
        "rep": 24,
        "territory": 24,
        "region": 12,
        "company": 6,
    }
    assert sorted({f.period_start for f in rows})[0] == JUNE
    assert {f.horizon for f in rows} == {1, 2, 3, 4, 5, 6}


def test_reps_add_up_to_territories_regions_and_the_company(store: Store) -> None:
    world = forecast_world(store.url)
    rows = _forecasts(store.url, granularity="month", origin=JUNE)
    value = {(f.scope_type, f.scope_id, f.period_start): f.blend for f in rows}
    periods = sorted({f.period_start for f in rows})
    for p in periods:
        for code in ("N1", "N2", "S1", "S2"):
            rep = world.user(f"rep_{code.lower()}")
            assert value[("territory", world.territories[code], p)] == pytest.approx(
                value[("rep", rep, p)], abs=0.02
            )
        north = (
            value[("territory", world.territories["N1"], p)]
            + value[("territory", world.territories["N2"], p)]
        )
        south = (
            value[("territory", world.territories["S1"], p)]
            + value[("territory", world.territories["S2"], p)]
        )
        assert value[("region", world.regions["NORTH"], p)] == pytest.approx(north, abs=0.02)
        assert value[("region", world.regions["SOUTH"], p)] == pytest.approx(south, abs=0.02)
        assert value[("company", "company", p)] == pytest.approx(north + south, abs=0.05)


def test_closed_counts_accepted_orders_of_the_current_month_only(store: Store) -> None:
    world = forecast_world(store.url)
    (rep_june,) = _forecasts(
        store.url, scope_id=world.user("rep_s2"), period_start=JUNE, granularity="month"
    )
    (company_june,) = _forecasts(
        store.url, scope_id="company", period_start=JUNE, granularity="month"
    )
    assert rep_june.closed == 4000.0  # the seeded "current" order; the rejected 99,999 never counts
    assert company_june.closed == 16000.0
    assert rep_june.blend >= rep_june.closed
    assert rep_june.lower >= rep_june.closed


def test_categories_and_pipeline_come_from_open_deals(store: Store) -> None:
    world = forecast_world(store.url)
    (june,) = _forecasts(
        store.url, scope_id=world.user("rep_n1"), period_start=JUNE, granularity="month"
    )
    (july,) = _forecasts(
        store.url, scope_id=world.user("rep_n1"), period_start=JULY, granularity="month"
    )
    assert (june.commit, june.best_case, june.pipeline_amount) == (20000.0, 0.0, 0.0)
    assert june.pipeline == pytest.approx(20000 * 0.65)
    assert (july.commit, july.pipeline) == (8000.0, pytest.approx(8000 * 0.40))


def test_a_second_recompute_with_nothing_new_refits_and_writes_nothing(store: Store) -> None:
    forecast_world(store.url)
    again = recompute_at(store.url)
    assert again.series_refit == 0
    assert again.series_skipped == again.series_total == 11
    assert again.forecasts_written == 0


def test_a_new_order_refits_only_the_series_above_its_rep(store: Store) -> None:
    world = forecast_world(store.url)
    _add_order(store.url, world, "rep_s1", "2500", datetime(2025, 5, 20, tzinfo=UTC))
    again = recompute_at(store.url)
    # rep_s1, territory S1, region SOUTH, company.
    assert again.series_refit == 4


def test_adjustments_survive_recomputation(store: Store) -> None:
    world = forecast_world(store.url)
    (july,) = _forecasts(
        store.url, scope_type="region", scope_id=world.regions["NORTH"], period_start=JULY
    )
    run_db(
        store.url,
        lambda s: add_adjustment(
            s, _manager(world), july.id, value=99_000.0, reason="Big tender won"
        ),
    )
    _add_order(store.url, world, "rep_n2", "7000", datetime(2025, 5, 28, tzinfo=UTC))
    recompute_at(store.url)
    # Next month's run makes a new forecast for July; the adjustment still stands beside it.
    recompute_at(store.url, now=datetime(2025, 7, 3, tzinfo=UTC))

    stored = run_db(store.url, lambda s: _all(s, ForecastAdjustment))
    assert [(a.adjusted_value, a.reason, a.system_value) for a in stored] == [
        (99_000.0, "Big tender won", july.blend)
    ]
    july_rows = _forecasts(
        store.url, scope_type="region", scope_id=world.regions["NORTH"], period_start=JULY
    )
    assert {f.origin for f in july_rows} == {JUNE, JULY}


async def _all(session: AsyncSession, model: type) -> list:  # type: ignore[type-arg]
    return list((await session.execute(select(model))).scalars())


def test_a_closed_period_is_scored_against_what_was_booked(store: Store) -> None:
    world = forecast_world(store.url)
    (july,) = _forecasts(
        store.url, scope_type="rep", scope_id=world.user("rep_n1"), period_start=JULY
    )
    run_db(
        store.url,
        lambda s: add_adjustment(
            s, _manager(world), july.id, value=11_111.0, reason="Holiday closures", now=NOW
        ),
    )
    _add_order(store.url, world, "rep_n1", "9000", datetime(2025, 7, 9, tzinfo=UTC))
    summary = recompute_at(store.url, now=datetime(2025, 8, 2, tzinfo=UTC))
    assert summary.scores_written > 0
    scores = {s.forecast_id: s for s in run_db(store.url, lambda s: _all(s, ForecastScore))}
    score = scores[july.id]
    assert score.actual == 9000.0
    assert score.system_value == july.blend
    assert score.adjusted_value == 11_111.0
    assert score.horizon == 2
    (june_rep,) = _forecasts(
        store.url, scope_id=world.user("rep_n1"), period_start=JUNE, origin=JUNE
    )
    # June booked the seeded month-start order of 4,000 (the history ends in May).
    assert scores[june_rep.id].actual == 4000.0


def test_history_before_the_origin_feeds_the_run_rate(store: Store) -> None:
    world = forecast_world(store.url)
    (f,) = _forecasts(
        store.url, scope_id=world.user("rep_s2"), period_start=JUNE, granularity="month"
    )
    # rep_s2 (index 3) sells around 40,000 × the June swing; the run-rate lands near it.
    assert f.run_rate == pytest.approx(monthly(3, 30), rel=0.15)
    assert f.components["history_periods"] == 30


def test_a_forced_recompute_refits_every_series_and_changes_nothing(store: Store) -> None:
    from server.forecasting.service import recompute

    forecast_world(store.url)
    forced = run_db(
        store.url, lambda s: recompute(s, now=NOW, granularities=("month",), force=True)
    )
    assert forced.series_refit == 11
    assert forced.forecasts_written == 0


def test_devices_write_while_the_recompute_fits_its_series(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fitting every series takes seconds; a push arriving meanwhile must not wait for it (on
    SQLite one transaction writes at a time)."""
    world = forecast_world(store.url)
    written_meanwhile: list[str] = []

    async def main() -> RunSummary:
        engine = create_engine(store.url, null_pool=True)
        sessions = create_sessionmaker(engine)
        loop = asyncio.get_running_loop()

        async def push_an_order() -> None:
            async with sessions() as session:
                order = Order(
                    account_id=world.accounts["N1"][0],
                    rep_id=world.user("rep_n1"),
                    status="draft",
                    total=Decimal("10"),
                )
                session.add(order)
                await session.commit()
                written_meanwhile.append(order.id)

        def fitting(*args: Any, **kwargs: Any) -> Any:
            asyncio.run_coroutine_threadsafe(push_an_order(), loop).result(timeout=5)
            return compute(*args, **kwargs)

        monkeypatch.setattr(service, "compute", fitting)
        try:
            async with sessions() as session:
                summary = await service.recompute(session, now=NOW, trigger="test", force=True)
                await session.commit()
                return summary
        finally:
            await engine.dispose()

    summary = asyncio.run(main())
    assert len(written_meanwhile) == 2  # month and week, each fitted while a device wrote
    assert summary.series_refit == summary.series_total > 0
    assert _forecasts(store.url, run_id=summary.run_id)
