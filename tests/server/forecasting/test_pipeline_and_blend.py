from __future__ import annotations

import math
import random
from datetime import date

import pytest

from server.forecasting.blend import RUN_RATE_WEIGHTS, blend
from server.forecasting.pipeline import (
    PRIOR_STRENGTH,
    PRIOR_WIN_RATE,
    STAGE_PRIOR,
    ClosedOutcome,
    OpenOpportunity,
    amount_bands,
    calibration,
    category_of,
    learn_win_rates,
    pipeline_by_period,
)


def test_without_closed_history_the_stage_rates_are_the_prior() -> None:
    rates = learn_win_rates([])
    assert {s: r.rate for s, r in rates.stages.items()} == pytest.approx(STAGE_PRIOR)
    assert rates.overall.rate == pytest.approx(PRIOR_WIN_RATE)


def _odds_shift(rate: float, frm: float, to: float) -> float:
    def logit(p: float) -> float:
        return math.log(p / (1 - p))

    return 1 / (1 + math.exp(-(logit(rate) + logit(to) - logit(frm))))


def test_a_region_that_wins_more_gets_higher_rates_shrunk_toward_the_prior() -> None:
    rates = learn_win_rates([ClosedOutcome(won=True)] * 10)
    overall = (10 + PRIOR_STRENGTH * PRIOR_WIN_RATE) / (10 + PRIOR_STRENGTH)
    assert rates.overall.rate == pytest.approx(overall)
    assert rates.rate("proposal") == pytest.approx(
        _odds_shift(STAGE_PRIOR["proposal"], PRIOR_WIN_RATE, overall)
    )
    assert STAGE_PRIOR["proposal"] < rates.rate("proposal") < 1.0


def test_a_winning_region_on_thin_data_never_reads_its_late_stage_as_certain() -> None:
    """Ten straight wins once put negotiation at 0.99 (the default scaled by the region's ratio
    to the prior, capped): those deals then counted as already won."""
    for wins in (5, 10, 30):
        rates = learn_win_rates([ClosedOutcome(won=True)] * wins)
        assert rates.rate("negotiation") < 0.97
    assert learn_win_rates([ClosedOutcome(won=True)] * 10).rate("negotiation") < 0.9


def test_deals_in_an_amount_band_that_wins_less_get_a_lower_rate() -> None:
    small = [ClosedOutcome(won=i % 3 != 0, amount=2_000.0) for i in range(30)]  # 2 in 3 won
    large = [ClosedOutcome(won=i % 5 == 0, amount=90_000.0) for i in range(30)]  # 1 in 5 won
    middle = [ClosedOutcome(won=i % 2 == 0, amount=20_000.0) for i in range(30)]
    outcomes = small + middle + large
    bands = amount_bands(o.amount for o in outcomes)
    assert len(bands) == 2
    rates = learn_win_rates(outcomes, bands=bands)
    assert (
        rates.rate("proposal", 2_000.0) > rates.rate("proposal") > rates.rate("proposal", 90_000.0)
    )
    # Without a size the stage rate holds; with too few deals there are no bands at all.
    assert amount_bands([1_000.0] * 29) == ()


def test_calibration_scores_each_month_from_earlier_months_only() -> None:
    rng = random.Random(4)
    outcomes = [
        ClosedOutcome(
            won=rng.random() < 0.25,
            amount=rng.lognormvariate(9.0, 0.8),
            closed_on=date(2024, rng.randint(1, 12), rng.randint(1, 28)),
        )
        for _ in range(400)
    ]
    result = calibration({"north": outcomes[::2], "south": outcomes[1::2]})
    january = sum(o.closed_on is not None and o.closed_on.month == 1 for o in outcomes)
    assert result.deals == len(outcomes) - january  # the first month has nothing to learn from
    assert result.brier is not None and 0.0 < result.brier < 0.25
    assert sum(d["deals"] for d in result.deciles) == result.deals
    # The learned rates land near the true 25 %, none of them anywhere near certain.
    assert 0.18 < sum(d["predicted"] * d["deals"] for d in result.deciles) / result.deals < 0.32
    assert max(d["predicted"] for d in result.deciles) < 0.5


def test_deals_seen_at_a_stage_teach_that_stage_its_rate() -> None:
    outcomes = [ClosedOutcome(won=False, stages_seen=frozenset({"negotiation"}))] * 30
    rates = learn_win_rates(outcomes)
    prior_mean = _odds_shift(STAGE_PRIOR["negotiation"], PRIOR_WIN_RATE, rates.overall.rate)
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
