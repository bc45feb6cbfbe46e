from __future__ import annotations

import numpy as np
import pytest

from server.forecasting.ets import forecast_one

MONTHS = 12
PATTERN = np.array([0.8, 0.9, 1.1, 1.2, 1.1, 1.0, 0.9, 0.7, 1.0, 1.2, 1.1, 0.9])


def test_an_empty_series_forecasts_zero_with_no_spread() -> None:
    fc = forecast_one([], horizon=6, season=MONTHS)
    assert fc.method == "zero"
    assert fc.point == (0.0,) * 6
    assert fc.variance == (0.0,) * 6


def test_a_series_of_zeros_forecasts_zero() -> None:
    assert forecast_one([0.0] * 30, horizon=3, season=MONTHS).point == (0.0, 0.0, 0.0)


def test_a_constant_series_forecasts_its_value() -> None:
    fc = forecast_one([250.0] * 36, horizon=6, season=MONTHS)
    assert fc.method == "constant"
    assert fc.point == (250.0,) * 6


def test_a_linear_trend_is_extrapolated() -> None:
    fc = forecast_one([100.0 + 5 * t for t in range(30)], horizon=4, season=MONTHS)
    assert fc.method in ("ets_aan", "ets_aadn")
    assert fc.point == pytest.approx([250.0, 255.0, 260.0, 265.0], rel=0.01)


def test_a_seasonal_series_gets_a_seasonal_model_that_follows_the_pattern() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(36)
    y = 1000 * PATTERN[t % 12] + rng.normal(0, 15, 36)
    fc = forecast_one(y, horizon=12, season=MONTHS)
    assert fc.method in ("ets_ana", "ets_aaa", "ets_aada")
    assert np.asarray(fc.point) == pytest.approx(1000 * PATTERN, rel=0.06)


def test_an_intermittent_series_uses_croston() -> None:
    y = [0, 0, 6, 0, 0, 0, 6, 0, 0, 6, 0, 0, 0, 6, 0, 0, 6, 0, 0, 0]
    fc = forecast_one(y, horizon=3, season=MONTHS)
    assert fc.method == "croston"
    # About one sale of 6 every 3.5 periods, shrunk a little by the bias correction.
    assert 1.2 < fc.point[0] < 1.9
    assert fc.point[0] == fc.point[2]


def test_a_history_shorter_than_two_seasons_uses_seasonal_naive() -> None:
    y = [float(10 + t) for t in range(18)]
    fc = forecast_one(y, horizon=6, season=MONTHS)
    assert fc.method == "seasonal_naive"
    assert fc.point == tuple(y[6:12])


def test_a_very_short_history_uses_its_mean() -> None:
    fc = forecast_one([30.0, 50.0], horizon=2, season=MONTHS)
    assert (fc.method, fc.point) == ("mean", (40.0, 40.0))


def test_leading_zeros_before_the_first_sale_are_not_history() -> None:
    fc = forecast_one([0.0] * 20 + [100.0, 120.0, 90.0], horizon=1, season=MONTHS)
    assert fc.n == 3


def test_intervals_widen_with_the_horizon() -> None:
    rng = np.random.default_rng(5)
    y = 500 + np.cumsum(rng.normal(0, 20, 30))
    fc = forecast_one(y, horizon=6, season=MONTHS)
    assert all(b > a for a, b in zip(fc.variance, fc.variance[1:], strict=False))
    assert fc.lower()[0] < fc.point[0] < fc.upper()[0]


def test_forecasts_of_a_falling_series_never_go_negative() -> None:
    fc = forecast_one([300.0 - 20 * t for t in range(15)], horizon=6, season=MONTHS)
    assert min(fc.point) >= 0.0
    assert min(fc.lower()) >= 0.0


def test_white_noise_around_a_level_gets_a_model_without_trend_or_season() -> None:
    rng = np.random.default_rng(9)
    fc = forecast_one(1000 + rng.normal(0, 50, 36), horizon=3, season=MONTHS)
    assert fc.method == "ets_ann"
    assert fc.point[0] == pytest.approx(1000, rel=0.06)


def test_a_named_method_is_used_where_the_history_allows_it() -> None:
    y = [100.0 + t for t in range(30)]
    assert forecast_one(y, horizon=2, season=MONTHS, method="naive").point == (129.0, 129.0)
    assert forecast_one([5.0, 6.0], horizon=1, season=MONTHS, method="ets_aaa").method == "mean"
