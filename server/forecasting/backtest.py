"""Rolling-origin backtest of the run-rate methods.

For every origin ``o`` from ``min_train`` to the last period, each method is fitted on the first
``o`` periods of every series and forecasts the next ``horizon``; those forecasts are scored
against what followed (as far as the history reaches). Each method is reported with MASE, WAPE
and bias, and against the seasonal naive benchmark: ``mase_vs_seasonal_naive`` below 1.0 means
the method beat it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from server.forecasting.accuracy import Metrics, Scored, metrics
from server.forecasting.runrate import forecast_many, mase_scale

__all__ = ["DEFAULT_METHODS", "BacktestResult", "MethodScore", "rolling_origin"]

DEFAULT_METHODS: tuple[str, ...] = (
    "auto",
    "ets",
    "theta",
    "arima",
    "combination",
    "seasonal_naive",
)


@dataclass(frozen=True)
class MethodScore:
    method: str
    metrics: Metrics
    mase_vs_seasonal_naive: float | None
    wape_vs_seasonal_naive: float | None
    used: dict[str, int]
    """Which method actually ran (a method the history does not allow falls back to the rules)."""


@dataclass(frozen=True)
class BacktestResult:
    series: int
    origins: int
    horizon: int
    forecasts: int
    methods: list[MethodScore]


def rolling_origin(
    series: Mapping[str, Sequence[float] | np.ndarray],
    *,
    season: int,
    horizon: int = 6,
    min_train: int | None = None,
    methods: Sequence[str] = DEFAULT_METHODS,
    step: int = 1,
) -> BacktestResult:
    data = {k: np.asarray(v, dtype=float) for k, v in series.items()}
    length = max((v.size for v in data.values()), default=0)
    start = min_train if min_train is not None else 2 * season
    origins = list(range(start, length, step))
    scored: dict[str, list[Scored]] = {m: [] for m in methods}
    used: dict[str, dict[str, int]] = {m: {} for m in methods}
    count = 0
    for origin in origins:
        # A series with nothing sold before the origin has nothing to learn from: every method
        # would forecast zero, so it says nothing about the methods.
        keys = [k for k, v in data.items() if v.size > origin and _trimmed(v[:origin]).size >= 2]
        trains = [data[k][:origin] for k in keys]
        actuals = [data[k][origin : origin + horizon] for k in keys]
        scales = [mase_scale(_trimmed(t), season) for t in trains]
        for method in methods:
            results = forecast_many(trains, horizon=horizon, season=season, method=method)
            for fc, actual, scale in zip(results, actuals, scales, strict=True):
                used[method][fc.method] = used[method].get(fc.method, 0) + 1
                for h, value in enumerate(actual):
                    scored[method].append(
                        Scored(forecast=fc.point[h], actual=float(value), scale=scale)
                    )
        count += sum(a.size for a in actuals)
    summary = {m: metrics(rows) for m, rows in scored.items()}
    baseline = summary.get("seasonal_naive")
    out = []
    for method in methods:
        result = summary[method]
        out.append(
            MethodScore(
                method=method,
                metrics=result,
                mase_vs_seasonal_naive=_ratio(result.mase, baseline.mase if baseline else None),
                wape_vs_seasonal_naive=_ratio(result.wape, baseline.wape if baseline else None),
                used=used[method],
            )
        )
    return BacktestResult(
        series=len(data), origins=len(origins), horizon=horizon, forecasts=count, methods=out
    )


def _trimmed(values: np.ndarray) -> np.ndarray:
    nonzero = np.flatnonzero(values)
    return values[nonzero[0] :] if nonzero.size else values[:0]


def _ratio(x: float | None, y: float | None) -> float | None:
    if x is None or y is None or y == 0:
        return None
    return x / y
