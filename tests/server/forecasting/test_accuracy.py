from __future__ import annotations

import pytest

from server.forecasting.accuracy import Scored, bias, mase, metrics, value_added, wape


def test_mase_divides_each_error_by_its_series_scale() -> None:
    # |110-100|/10 + |90-100|/10 + |100-100|/10 = 2, over 3 forecasts.
    assert mase([110, 90, 100], [100, 100, 100], [10, 10, 10]) == pytest.approx(2 / 3)
    # Different scales: 10/5 + 30/60 = 2.5, over 2.
    assert mase([110, 130], [100, 100], [5, 60]) == pytest.approx(1.25)


def test_mase_leaves_out_forecasts_made_without_history() -> None:
    assert mase([110, 500], [100, 100], [10, None]) == pytest.approx(1.0)


def test_wape_is_total_absolute_error_over_total_actual() -> None:
    # (10 + 10 + 0) / 300
    assert wape([110, 90, 100], [100, 100, 100]) == pytest.approx(20 / 300)


def test_bias_keeps_the_sign_and_errors_cancel() -> None:
    assert bias([110, 90, 100], [100, 100, 100]) == 0.0
    assert bias([120, 110], [100, 100]) == pytest.approx(0.15)
    assert bias([80, 90], [100, 100]) == pytest.approx(-0.15)


def test_wape_and_bias_are_undefined_when_nothing_was_sold() -> None:
    assert wape([5, 5], [0, 0]) is None
    assert bias([5, 5], [0, 0]) is None


def test_metrics_bundle_the_three_measures() -> None:
    m = metrics([Scored(120, 100, 20), Scored(90, 100, 10)])
    assert (m.n, m.mase, m.wape, m.bias) == (
        2,
        pytest.approx(1.0),
        pytest.approx(0.15),
        pytest.approx(0.05),
    )


def test_value_added_is_the_error_of_the_system_minus_the_error_of_the_adjustment() -> None:
    pairs = [
        (Scored(120, 100, 10), Scored(105, 100, 10)),
        (Scored(80, 100, 10), Scored(95, 100, 10)),
    ]
    added = value_added(pairs)
    # System WAPE 40/200 = 0.20, adjusted 10/200 = 0.05: adjustments removed 15 points.
    assert added.wape == pytest.approx(0.15)
    # System MASE (2 + 2)/2 = 2.0, adjusted (0.5 + 0.5)/2 = 0.5.
    assert added.mase == pytest.approx(1.5)


def test_adjustments_that_made_it_worse_have_negative_value_added() -> None:
    added = value_added([(Scored(100, 100, 10), Scored(130, 100, 10))])
    assert added.wape == pytest.approx(-0.3)
