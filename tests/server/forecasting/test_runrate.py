"""The run-rate forecaster: which model a history gets, and that no history — however odd —
produces an exception, a NaN or a negative forecast."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from server.forecasting.runrate import (
    CANDIDATES,
    SHRINK_MARGIN,
    SeriesForecast,
    combination_weights,
    forecast_many,
    forecast_one,
)
from server.forecasting.synthetic import monthly_histories

MONTHS = 12
PATTERN = np.array([0.8, 0.9, 1.1, 1.2, 1.1, 1.0, 0.9, 0.7, 1.0, 1.2, 1.1, 0.9])


def _sane(fc: SeriesForecast, horizon: int) -> None:
    for values in (fc.point, fc.variance, fc.lower80, fc.upper80, fc.lower95, fc.upper95):
        assert len(values) == horizon
        assert all(math.isfinite(v) for v in values)
    assert min(fc.point) >= 0.0
    for lo80, hi80, lo95, hi95, p in zip(
        fc.lower80, fc.upper80, fc.lower95, fc.upper95, fc.point, strict=True
    ):
        assert 0.0 <= lo95 <= lo80 <= p <= hi80 <= hi95


def test_an_empty_series_forecasts_zero_with_no_spread() -> None:
    fc = forecast_one([], horizon=6, season=MONTHS)
    assert fc.method == "zero"
    assert fc.point == (0.0,) * 6
    assert fc.variance == (0.0,) * 6
    _sane(fc, 6)


def test_a_series_of_zeros_forecasts_zero() -> None:
    fc = forecast_one([0.0] * 30, horizon=3, season=MONTHS)
    assert (fc.method, fc.point) == ("zero", (0.0, 0.0, 0.0))


def test_a_single_month_forecasts_that_month_with_a_wide_interval() -> None:
    fc = forecast_one([900.0], horizon=6, season=MONTHS)
    assert fc.method == "mean"
    assert fc.point == (900.0,) * 6
    assert fc.upper80[0] > 900.0 > fc.lower80[0]
    _sane(fc, 6)


def test_a_constant_series_forecasts_its_value() -> None:
    fc = forecast_one([250.0] * 36, horizon=6, season=MONTHS)
    assert fc.method == "constant"
    assert fc.point == (250.0,) * 6


def test_a_seasonal_series_is_forecast_with_its_pattern_by_a_model_that_beat_seasonal_naive() -> (
    None
):
    rng = np.random.default_rng(3)
    t = np.arange(48)
    y = 1000 * PATTERN[t % 12] * (1 + 0.01 * t) + rng.normal(0, 15, 48)
    fc = forecast_one(y, horizon=12, season=MONTHS)
    assert fc.method in (*CANDIDATES["full"], "combination")
    errors = fc.params["validation_mae"]
    assert errors[fc.method] <= errors["seasonal_naive"]
    expected = 1000 * PATTERN * (1 + 0.01 * (48 + np.arange(12)))
    assert np.asarray(fc.point) == pytest.approx(expected, rel=0.08)
    _sane(fc, 12)


def test_a_linear_trend_is_extrapolated() -> None:
    fc = forecast_one([100.0 + 5 * t for t in range(30)], horizon=4, season=MONTHS)
    assert fc.point == pytest.approx([250.0, 255.0, 260.0, 265.0], rel=0.02)


def test_a_model_never_beats_seasonal_naive_only_on_paper() -> None:
    """A repeating pattern with no noise: seasonal naive is exact in validation, so nothing
    that did worse there may be chosen."""
    y = np.tile(1000 * PATTERN, 4)
    fc = forecast_one(y, horizon=6, season=MONTHS)
    errors = fc.params["validation_mae"]
    assert errors[fc.method] <= errors["seasonal_naive"] + 1e-6
    assert np.asarray(fc.point) == pytest.approx(1000 * PATTERN[:6], rel=0.01)


def test_an_intermittent_series_gets_an_intermittent_demand_method() -> None:
    y = [0, 0, 6, 0, 0, 0, 6, 0, 0, 6, 0, 0, 0, 6, 0, 0, 6, 0, 0, 0, 6, 0, 0, 6]
    fc = forecast_one(y, horizon=3, season=MONTHS)
    assert fc.method in ("croston", "seasonal_naive", "naive")
    _sane(fc, 3)


def test_negative_months_from_returns_get_an_additive_model_and_no_negative_forecast() -> None:
    rng = np.random.default_rng(8)
    t = np.arange(36)
    y = 400 * PATTERN[t % 12] + rng.normal(0, 60, 36)
    y[[5, 17, 29]] = [-150.0, -90.0, -200.0]  # months where returns exceeded sales
    fc = forecast_one(y, horizon=6, season=MONTHS)
    for description in fc.params["models"].values():
        assert "M" not in description.split("(")[-1].split(",")[0]  # no multiplicative error
    _sane(fc, 6)


def test_zeros_inside_a_multiplicative_looking_history_still_forecast_finite_values() -> None:
    t = np.arange(48)
    y = 100 * (1.03**t) * PATTERN[t % 12]
    y[[10, 22, 34]] = 0.0  # the multiplicative forms cannot fit a zero: they must drop out
    fc = forecast_one(y, horizon=6, season=MONTHS)
    for description in fc.params["models"].values():
        assert ",M)" not in description and "(M," not in description
    _sane(fc, 6)


def test_leading_zeros_before_the_first_sale_are_not_history() -> None:
    fc = forecast_one([0.0] * 20 + [100.0, 120.0, 90.0], horizon=1, season=MONTHS)
    assert fc.n == 3


def test_missing_values_count_as_nothing_booked() -> None:
    y = [100.0, float("nan"), 120.0, 90.0, float("inf"), 110.0, 100.0, 95.0]
    _sane(forecast_one(y, horizon=6, season=MONTHS), 6)


def test_a_falling_series_never_forecasts_below_zero() -> None:
    fc = forecast_one([300.0 - 20 * t for t in range(15)], horizon=6, season=MONTHS)
    _sane(fc, 6)


def test_intervals_do_not_narrow_further_ahead() -> None:
    rng = np.random.default_rng(5)
    y = 500 + np.cumsum(rng.normal(0, 20, 40))
    fc = forecast_one(y, horizon=6, season=MONTHS)
    widths = [hi - lo for lo, hi in zip(fc.lower95, fc.upper95, strict=True)]
    assert all(b >= a - 1e-6 for a, b in itertools.pairwise(widths))
    _sane(fc, 6)


def test_weekly_histories_use_their_52_week_season() -> None:
    rng = np.random.default_rng(2)
    t = np.arange(104)
    y = 200 + 50 * np.sin(2 * np.pi * t / 52) + rng.normal(0, 5, 104)
    fc = forecast_one(y, horizon=6, season=52)
    expected = 200 + 50 * np.sin(2 * np.pi * (104 + np.arange(6)) / 52)
    assert np.asarray(fc.point) == pytest.approx(expected, rel=0.1)
    _sane(fc, 6)


def test_many_series_in_processes_give_the_same_forecasts_as_one_by_one() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(36)
    series = [
        1000 * PATTERN[t % 12] * rng.uniform(0.5, 2) + rng.normal(0, 30, 36) for _ in range(70)
    ]
    together = forecast_many(series, horizon=6, season=MONTHS, workers=2)
    alone = [forecast_one(s, horizon=6, season=MONTHS) for s in series[:3]]
    assert [f.point for f in together[:3]] == [f.point for f in alone]


def test_a_fit_survives_its_round_trip_through_the_series_cache() -> None:
    fc = forecast_one(np.tile(1000 * PATTERN, 3) + np.arange(36), horizon=6, season=MONTHS)
    assert SeriesForecast.from_json(fc.to_json()) == fc


def test_the_combination_weighs_each_model_by_its_validation_error() -> None:
    weights = combination_weights([10.0, 20.0, 10.0])
    assert weights == pytest.approx([4 / 9, 1 / 9, 4 / 9])
    assert combination_weights([5.0, 5.0, 5.0]) == pytest.approx([1 / 3] * 3)


def test_a_forecast_records_what_chose_it() -> None:
    rng = np.random.default_rng(9)
    t = np.arange(48)
    fc = forecast_one(500 * PATTERN[t % 12] + rng.normal(0, 20, 48), horizon=6, season=MONTHS)
    assert set(fc.params["validation_mae"]) >= {"seasonal_naive", fc.method}
    assert sum(fc.params["weights"].values()) == pytest.approx(1.0, abs=0.01)


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown forecasting method"):
        forecast_one([1.0, 2.0], horizon=1, season=MONTHS, method="prophet")


def test_ets_takes_one_of_its_three_seasonal_forms_on_a_seasonal_history() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(48)
    y = (300 + 4 * t) * PATTERN[t % 12] * rng.lognormal(0, 0.05, 48)
    fc = forecast_one(y, horizon=6, season=MONTHS, method="ets")
    assert fc.params["models"]["ets"] in {"ETS(A,Ad,A)", "ETS(M,Ad,M)", "ETS(M,A,M)"}


def test_seasonal_naive_joins_a_combination_that_barely_beat_it_and_only_then() -> None:
    # Noisy seasonal reps: some series' models lead seasonal naive widely in validation, some
    # narrowly; only the narrow leads lean on seasonal naive.
    histories = monthly_histories(40, 36, seed=3)
    joined = alone = 0
    for fc in forecast_many(histories, horizon=6, season=MONTHS, workers=1):
        if fc.method != "combination":
            continue
        maes = fc.params["validation_mae"]
        base = "seasonal_naive" if "seasonal_naive" in maes else "naive"
        if base in fc.params["weights"]:
            joined += 1
            assert fc.params["weights"][base] > 0.0
            assert maes["combination"] <= maes[base]
        else:
            alone += 1
            assert maes["combination"] <= SHRINK_MARGIN * maes[base] + 0.01
    assert joined and alone


def test_a_history_shorter_than_two_seasons_gets_theta_or_naive() -> None:
    rng = np.random.default_rng(6)
    y = 200 + 3 * np.arange(20) + rng.normal(0, 10, 20)
    fc = forecast_one(y, horizon=6, season=MONTHS)
    assert fc.method in ("theta", "combination", "naive", "seasonal_naive")
    assert set(fc.params["weights"]) <= {"theta", "naive", "seasonal_naive"}
    _sane(fc, 6)


@pytest.mark.parametrize("m", [4, 7, 12, 52])
def test_the_seasonal_adjustment_is_the_librarys_test_and_classical_decomposition(m: int) -> None:
    """Theta's season is adjusted out in numpy; it must be the statsmodels decomposition (and the
    autocorrelation test) statsforecast's Theta applies itself."""
    from scipy.stats import norm
    from statsmodels.tsa.seasonal import seasonal_decompose
    from statsmodels.tsa.stattools import acf

    from server.forecasting.runrate import _classical, _seasonal_test

    rng = np.random.default_rng(m)
    for _ in range(20):
        n = int(rng.integers(2 * m, 4 * m + 5))
        t = np.arange(n)
        y = (50 + t) * (1 + 0.3 * np.sin(2 * np.pi * t / m)) * rng.lognormal(0, 0.2, n)
        r = acf(y, nlags=m, fft=False)[1:]
        stat = np.sqrt((1 + 2 * np.sum(r[:-1] ** 2)) / n)
        assert _seasonal_test(y, m) == bool(abs(r[-1]) / stat > norm.ppf(0.95))
        for model in ("multiplicative", "additive"):
            expected = seasonal_decompose(y, model=model, period=m).seasonal
            got = _classical(y, m, model == "multiplicative")
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-8)


def test_a_series_that_ends_with_seasonal_naive_pays_for_no_whole_history_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Candidates are fitted on the whole history only once validation put them in the
    forecast (an ETS validated in its whole-history form excepted)."""
    from server.forecasting import runrate

    sizes: list[int] = []
    fit = runrate._Model.fit

    def counting(self: runrate._Model, history: runrate._History) -> None:
        if self.name not in ("seasonal_naive", "naive"):
            sizes.append(history.y.size)
        fit(self, history)

    monkeypatch.setattr(runrate._Model, "fit", counting)
    # A repeating pattern with a shock in every year: seasonal naive is exact on the last
    # origins, no smoothing model is.
    y = np.tile(PATTERN * 100.0, 3)
    y[::7] *= 1.5
    fc = forecast_one(y, horizon=6, season=MONTHS)
    assert fc.method == "seasonal_naive", fc.params
    assert sizes and y.size not in sizes


@pytest.mark.parametrize(("name", "length"), [("ets", 30), ("ets", 48), ("theta", 36)])
def test_validation_read_off_one_run_equals_running_forward_from_each_origin(
    name: str, length: int
) -> None:
    """The validation reads every origin's forecast off one run of the model's state recursion
    over the history; it must be what the library's forward over the history up to that origin
    gives."""
    from server.forecasting import runrate

    rng = np.random.default_rng(length)
    t = np.arange(length)
    y = (300 + 4 * t) * PATTERN[t % 12] * rng.lognormal(0, 0.08, length)
    model = runrate._Model(name, MONTHS)
    model.fit(runrate._History(y[:19], MONTHS))
    run = model.run_over(y)
    assert run is not None
    for origin in range(19, length):
        past = runrate._History(y[:origin], MONTHS)
        np.testing.assert_allclose(run(past, 6), model.forward(past, 6), rtol=1e-12)
