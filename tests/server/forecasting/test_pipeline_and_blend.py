from __future__ import annotations

from datetime import date

import pytest

from server.forecasting.blend import RUN_RATE_WEIGHTS, blend
from server.forecasting.pipeline import (
    PRIOR_STRENGTH,
    PRIOR_WIN_RATE,
    STAGE_PRIOR,
    ClosedOutcome,
    OpenOpportunity,
    category_of,
    learn_win_rates,
    pipeline_by_period,
)


def test_without_closed_history_the_stage_rates_are_the_prior() -> None:
    rates = learn_win_rates([])
    assert {s: r.rate for s, r in rates.stages.items()} == pytest.approx(STAGE_PRIOR)
    assert rates.overall.rate == pytest.approx(PRIOR_WIN_RATE)


def test_a_region_that_wins_more_gets_higher_rates_shrunk_toward_the_prior() -> None:
    rates = learn_win_rates([ClosedOutcome(won=True)] * 10)
    overall = (10 + PRIOR_STRENGTH * PRIOR_WIN_RATE) / (10 + PRIOR_STRENGTH)
    assert rates.overall.rate == pytest.approx(overall)
    assert rates.rate("proposal") == pytest.approx(
        STAGE_PRIOR["proposal"] * overall / PRIOR_WIN_RATE
    )
    assert rates.rate("proposal") < 1.0


def test_deals_seen_at_a_stage_teach_that_stage_its_rate() -> None:
    outcomes = [ClosedOutcome(won=False, stages_seen=frozenset({"negotiation"}))] * 30
    rates = learn_win_rates(outcomes)
    prior_mean = STAGE_PRIOR["negotiation"] * rates.overall.rate / PRIOR_WIN_RATE
    assert rates.rate("negotiation") == pytest.approx(
        PRIOR_STRENGTH * prior_mean / (30 + PRIOR_STRENGTH)
    )
    assert rates.stages["negotiation"].closed == 30


def test_pipeline_weights_deals_by_stage_and_buckets_them_by_close_date() -> None:
    rates = learn_win_rates([])
    deals = [
        OpenOpportunity(1000, date(2025, 5, 20), "negotiation", "commit"),  # slipped: counts now
        OpenOpportunity(2000, date(2025, 6, 30), "proposal", "best_case"),
        OpenOpportunity(4000, date(2025, 7, 1), "prospecting", "pipeline"),
        OpenOpportunity(9000, date(2026, 1, 1), "negotiation", "commit"),  # beyond the horizon
    ]
    periods = pipeline_by_period(
        deals, rates, origin=date(2025, 6, 1), horizon=3, granularity="month"
    )
    assert periods[0].expected == pytest.approx(1000 * 0.65 + 2000 * 0.40)
    assert periods[0].amounts == {"commit": 1000, "best_case": 2000, "pipeline": 0.0}
    assert periods[1].expected == pytest.approx(400.0)
    assert periods[0].variance == pytest.approx(1000**2 * 0.65 * 0.35 + 2000**2 * 0.4 * 0.6)
    assert sum(p.count for p in periods) == 3


def test_the_reps_call_beats_the_stage_for_the_category() -> None:
    assert category_of("proposal", None) == "best_case"
    assert category_of("proposal", "commit") == "commit"
    assert category_of("negotiation", None) == "commit"


def _blend(**kw: object) -> float:
    args: dict[str, object] = {
        "index": 0,
        "run_rate": 100.0,
        "run_rate_variance": 0.0,
        "pipeline_estimate": 60.0,
        "pipeline_variance": 0.0,
        "closed": 0.0,
        "has_history": True,
        "has_pipeline": True,
    }
    args.update(kw)
    return blend(**args).value  # type: ignore[arg-type]


def test_the_blend_leans_on_the_run_rate_further_ahead() -> None:
    w0, w3 = RUN_RATE_WEIGHTS[0], RUN_RATE_WEIGHTS[3]
    assert _blend(index=0) == pytest.approx(w0 * 100 + (1 - w0) * 60)
    assert _blend(index=5) == pytest.approx(w3 * 100 + (1 - w3) * 60)


def test_no_history_means_pipeline_only_and_no_pipeline_means_run_rate_only() -> None:
    assert _blend(has_history=False) == 60.0
    assert _blend(has_pipeline=False) == 100.0


def test_the_blend_never_falls_below_what_is_already_closed() -> None:
    assert _blend(run_rate=10.0, pipeline_estimate=20.0, closed=50.0) == 50.0
