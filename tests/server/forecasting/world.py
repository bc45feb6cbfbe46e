"""A seeded world with order history and forecasts already computed (mid-June 2025)."""

from __future__ import annotations

from datetime import date

from server.forecasting.periods import add_periods
from server.forecasting.service import RunSummary, recompute
from tests.seed import World, run_db, seed_world
from tests.server.forecasting.history import NOW, seed_history, seed_opportunities

__all__ = ["forecast_world", "recompute_at"]


def recompute_at(url: str, *, now=NOW, granularities: tuple[str, ...] = ("month",)) -> RunSummary:  # type: ignore[no-untyped-def]
    return run_db(url, lambda s: recompute(s, now=now, trigger="test", granularities=granularities))


def forecast_world(url: str, *, past_runs: int = 0) -> World:
    """The seeded world with 30 months of orders, a few open deals for rep_n1, and forecasts
    made now (mid-June 2025) and, with ``past_runs``, in the middle of each month before (so
    there are closed periods with scored forecasts)."""
    world = seed_world(url)
    seed_history(url, world, current=4000.0)
    seed_opportunities(
        url,
        world,
        "rep_n1",
        [
            ("negotiation", 20_000.0, date(2025, 6, 27), None),
            ("proposal", 8_000.0, date(2025, 7, 18), "commit"),
            ("prospecting", 5_000.0, date(2025, 8, 5), None),
        ],
    )
    for months_back in range(past_runs, 0, -1):
        month = add_periods(date(NOW.year, NOW.month, 1), -months_back, "month")
        recompute_at(url, now=NOW.replace(year=month.year, month=month.month))
    recompute_at(url)
    return world
