"""Odd histories reach the page as sensible numbers: every forecast row of every scope finite,
never negative, its interval around it — for a rep with nothing but zeros, one month, returns
larger than sales, no history at all, and zeros where a multiplicative model would divide."""

from __future__ import annotations

import math
from datetime import date

import numpy as np

from server.forecasting.engine import compute
from server.forecasting.inputs import COMPANY, Hierarchy, Opportunities, Sales

ORIGIN = date(2025, 6, 1)
LENGTH = 48
PATTERN = np.array([0.8, 0.9, 1.1, 1.2, 1.1, 1.0, 0.9, 0.7, 1.0, 1.2, 1.1, 0.9])


def _history() -> dict[str, np.ndarray]:
    t = np.arange(LENGTH)
    seasonal = 1000 * PATTERN[t % 12] * (1.02 ** (t / 12))
    returns = 400 * PATTERN[t % 12]
    returns[[7, 19, 31, 43]] = -250.0  # months where returns exceeded what was sold
    with_zeros = seasonal.copy()
    with_zeros[[5, 17, 29, 41]] = 0.0
    single = np.zeros(LENGTH)
    single[-1] = 900.0
    return {
        "zeros": np.zeros(LENGTH),
        "single": single,
        "returns": returns,
        "with_zeros": with_zeros,
        "steady": seasonal,
    }


def test_every_scope_gets_finite_non_negative_forecasts_with_intervals_around_them() -> None:
    history = _history()
    tree = Hierarchy()
    tree.add(COMPANY, None, "Company", None)
    tree.add(("region", "r"), COMPANY, "Region", "r")
    for rep in [*history, "newcomer"]:  # the newcomer has no history at all
        tree.add(("rep", rep), ("region", "r"), rep, "r")
    sales = Sales(
        origin=ORIGIN,
        start=date(2021, 6, 1),
        history=history,
        current={"returns": np.array([-50.0, 0, 0, 0, 0, 0])},
    )
    nothing = Opportunities(open_by_owner={}, open_ids={}, closed_by_owner={}, observed=set())
    outcome = compute(tree, sales, nothing, granularity="month", horizon=6, cached={})
    assert {row.key for row in outcome.rows} == set(tree.parents)
    for row in outcome.rows:
        values = (row.run_rate, row.blend, row.lower, row.upper, row.seasonal_naive)
        assert all(math.isfinite(v) for v in values), row
        assert 0.0 <= row.lower <= row.blend <= row.upper, row
        assert row.run_rate >= 0.0
    methods = {row.key[1]: row.method for row in outcome.rows if row.key[0] == "rep"}
    assert methods["zeros"] == methods["newcomer"] == "zero"
    assert methods["single"] == "mean"
    params = {k: v[1].params for k, v in outcome.fits.items()}
    for rep in ("returns", "with_zeros"):
        for described in params[("rep", rep)].get("models", {}).values():
            assert "M" not in described, (rep, described)  # no multiplicative form on them
