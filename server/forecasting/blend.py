"""The blend of run-rate and pipeline: the system forecast before reconciliation.

Rule (docs/forecasting.md prints ``RUN_RATE_WEIGHTS``), for each scope and period ``h``:

    run-rate estimate  = max(run-rate forecast, closed so far)
    pipeline estimate  = closed so far + expected value of open deals closing in the period
    blend              = w_h · run-rate estimate + (1 − w_h) · pipeline estimate, never below closed

The weight of the run-rate grows with the horizon because the pipeline is most complete for the
current period and thins out further ahead (deals for later months are not yet entered).

* A rep with no order history trusts the pipeline alone (w = 0).
* A rep with no open deal anywhere in the horizon trusts the run-rate alone (w = 1): an empty
  pipeline there means "not entered", not "nothing will be sold".
* A territory, region or the company uses the pipeline estimate of its reps added up, where a
  rep without open deals contributes their run-rate estimate instead, so one rep who keeps no
  pipeline does not drag the whole region toward zero.

The variance treats the two estimates as independent: w²·var(run-rate) + (1 − w)²·var(pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RUN_RATE_WEIGHTS", "Blend", "blend", "run_rate_weight"]

RUN_RATE_WEIGHTS: tuple[float, ...] = (0.5, 0.65, 0.8, 0.9)
"""Run-rate weight by horizon: the current period, the next, the one after; the last value
holds for every later period."""


@dataclass(frozen=True)
class Blend:
    value: float
    variance: float
    weight: float
    run_rate_estimate: float
    pipeline_estimate: float


def run_rate_weight(index: int, *, has_history: bool, has_pipeline: bool) -> float:
    if not has_history:
        return 0.0
    if not has_pipeline:
        return 1.0
    return RUN_RATE_WEIGHTS[min(index, len(RUN_RATE_WEIGHTS) - 1)]


def blend(
    *,
    index: int,
    run_rate: float,
    run_rate_variance: float,
    pipeline_estimate: float,
    pipeline_variance: float,
    closed: float,
    has_history: bool,
    has_pipeline: bool,
) -> Blend:
    w = run_rate_weight(index, has_history=has_history, has_pipeline=has_pipeline)
    rr = max(run_rate, closed)
    pe = max(pipeline_estimate, closed)
    value = max(w * rr + (1.0 - w) * pe, closed)
    variance = w * w * run_rate_variance + (1.0 - w) ** 2 * pipeline_variance
    return Blend(
        value=value, variance=variance, weight=w, run_rate_estimate=rr, pipeline_estimate=pe
    )
