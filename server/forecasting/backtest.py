"""Rolling-origin backtest of the run-rate methods.

For every origin ``o`` from ``min_train`` to the last period, each method is fitted on the first
``o`` periods of every series and forecasts the next ``horizon``; those forecasts are scored
against what followed (as far as the history reaches). Each method is reported with MASE, WAPE
and bias, sMAPE, how often its 80 % and 95 % intervals held the actual, the CPU seconds per
series fit, and against the seasonal naive benchmark: ``mase_vs_seasonal_naive`` below 1.0
means the method beat it. These are the figures ``bench/forecast_accuracy.py`` reports.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from server.forecasting.accuracy import Metrics, Scored, metrics
from server.forecasting.runrate import Z80, Z95, forecast_many, mase_scale

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
    smape: float | None = None
    coverage_80: float | None = None
    coverage_95: float | None = None
    coverage_by_horizon: dict[int, tuple[float, float]] = field(default_factory=dict)
    """Horizon (1 = the first period) → (80 % coverage, 95 % coverage)."""
    cpu_s_per_series: float | None = None


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
    last_origins: int | None = None,
    window: int | None = None,
    workers: int | None = None,
) -> BacktestResult:
    """``last_origins`` keeps only the latest origins (as the benchmark's 12); ``window`` fits
    each origin on at most that many latest periods (as the recompute keeps 48 months)."""
    data = {k: np.asarray(v, dtype=float) for k, v in series.items()}
    length = max((v.size for v in data.values()), default=0)
    start = min_train if min_train is not None else 2 * season
    origins = list(range(start, length, step))
    if last_origins is not None:
        origins = origins[-last_origins:]
    scored: dict[str, list[Scored]] = {m: [] for m in methods}
    smapes: dict[str, list[float]] = {m: [] for m in methods}
    inside: dict[str, list[tuple[int, bool, bool]]] = {m: [] for m in methods}
    cpu: dict[str, float] = dict.fromkeys(methods, 0.0)
    fits = 0
    used: dict[str, dict[str, int]] = {m: {} for m in methods}
    count = 0
    for origin in origins:
        # A series with nothing sold before the origin has nothing to learn from: every method
        # would forecast zero, so it says nothing about the methods.
        keys = [k for k, v in data.items() if v.size > origin and _trimmed(v[:origin]).size >= 2]
        first = 0 if window is None else max(0, origin - window)
        trains = [data[k][first:origin] for k in keys]
        actuals = [data[k][origin : origin + horizon] for k in keys]
        scales = [mase_scale(_trimmed(t), season) for t in trains]
        fits += len(keys)
        for method in methods:
            started = time.process_time()
            results = forecast_many(
                trains, horizon=horizon, season=season, method=method, workers=workers
            )
            cpu[method] += time.process_time() - started
            for fc, actual, scale in zip(results, actuals, scales, strict=True):
                used[method][fc.method] = used[method].get(fc.method, 0) + 1
                lo80, hi80 = fc.lower(Z80), fc.upper(Z80)
                lo95, hi95 = fc.lower(Z95), fc.upper(Z95)
                for h, value in enumerate(actual):
                    a = float(value)
                    scored[method].append(Scored(forecast=fc.point[h], actual=a, scale=scale))
                    total = abs(fc.point[h]) + abs(a)
                    smapes[method].append(2 * abs(fc.point[h] - a) / total if total else 0.0)
                    inside[method].append((h + 1, lo80[h] <= a <= hi80[h], lo95[h] <= a <= hi95[h]))
        count += sum(a.size for a in actuals)
    summary = {m: metrics(rows) for m, rows in scored.items()}
    baseline = summary.get("seasonal_naive")
    out = []
    for method in methods:
        result = summary[method]
        rows = inside[method]
        by_horizon = {
            h: (
                float(np.mean([r[1] for r in rows if r[0] == h])),
                float(np.mean([r[2] for r in rows if r[0] == h])),
            )
            for h in sorted({r[0] for r in rows})
        }
        out.append(
            MethodScore(
                method=method,
                metrics=result,
                mase_vs_seasonal_naive=_ratio(result.mase, baseline.mase if baseline else None),
                wape_vs_seasonal_naive=_ratio(result.wape, baseline.wape if baseline else None),
                used=used[method],
                smape=float(np.mean(smapes[method])) if smapes[method] else None,
                coverage_80=float(np.mean([r[1] for r in rows])) if rows else None,
                coverage_95=float(np.mean([r[2] for r in rows])) if rows else None,
                coverage_by_horizon=by_horizon,
                # Parallel workers' time is not this process's: with workers > 1 this
                # undercounts, so the CLI runs the backtest in one process.
                cpu_s_per_series=cpu[method] / fits if fits else None,
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
