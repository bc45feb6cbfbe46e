from __future__ import annotations

import numpy as np

from server.forecasting.backtest import rolling_origin
from server.forecasting.synthetic import monthly_histories


def test_the_backtest_rolls_the_origin_over_the_history() -> None:
    series = {"a": np.arange(1, 31, dtype=float), "b": np.arange(1, 31, dtype=float) * 2}
    result = rolling_origin(
        series, season=12, horizon=3, min_train=24, methods=("theta", "seasonal_naive")
    )
    assert result.origins == 6  # origins 24..29
    # Every origin scores what is left of the horizon: 3+3+3+3+2+1 per series.
    assert result.forecasts == 2 * 15


def test_seasonal_naive_scores_one_against_itself_and_smoothing_beats_it_on_seasonal_sales() -> (
    None
):
    series = {str(i): h for i, h in enumerate(monthly_histories(40, 36, seed=3))}
    result = rolling_origin(series, season=12, horizon=6, methods=("auto", "seasonal_naive"))
    scores = {m.method: m for m in result.methods}
    assert scores["seasonal_naive"].mase_vs_seasonal_naive == 1.0
    assert scores["auto"].mase_vs_seasonal_naive is not None
    assert scores["auto"].mase_vs_seasonal_naive < 1.0
