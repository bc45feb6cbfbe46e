"""Run-rate forecasts: exponential smoothing (ETS, additive errors) fitted to many series at once.

Theory of operation
-------------------
Every series goes through the rule table ``RULES`` first: empty and all-zero series forecast zero,
constant series repeat their value, intermittent ones (many zero periods) get Croston's method
with the Syntetos–Boylan correction, very short ones their mean, series shorter than two seasons
the seasonal naive forecast, and the rest an ETS model chosen per series by AICc.

The ETS candidates are the six additive-error models ETS(A,N,N), (A,A,N), (A,Ad,N), (A,N,A),
(A,A,A) and (A,Ad,A), written in error-correction form::

    ŷ_t  = l_{t-1} + φ·b_{t-1} + s_{t-m}
    e_t  = y_t − ŷ_t
    l_t  = l_{t-1} + φ·b_{t-1} + α·e_t
    b_t  = φ·b_{t-1} + β·e_t                 (0 < β ≤ α)
    s_t  = s_{t-m} + γ·e_t                   (0 ≤ γ ≤ 1 − α)

Initial states come from the first seasons (classical decomposition), so only the smoothing
parameters are searched: a coarse grid, then a finer grid around each series' best point, both
evaluated for all series and all parameter combinations at once as numpy arrays (the recursion
runs once over time, vectorised over series × combinations). The fit minimises the in-sample
one-step sum of squared errors; the model with the lowest AICc wins, counting the smoothing
parameters, the starting level and trend and the error variance as parameters.

Prediction intervals use the residual variance σ² = SSE/n and the class-1 ETS variance growth
``var_h = σ²·(1 + Σ_{j<h} c_j²)`` with ``c_j = α + β·(φ + … + φ^j) + γ·[j mod m = 0]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ETS_MODELS",
    "METHODS",
    "RULES",
    "Z80",
    "SeriesForecast",
    "classify",
    "forecast_many",
    "forecast_one",
    "mase_scale",
]

Z80 = 1.2815515655446004
"""Normal quantile for the central 80% interval every forecast carries."""

_INTERMITTENT_ZERO_SHARE = 0.3
_MIN_ETS_POINTS = 4
_CHUNK = 256  # series per batch: bounds the (series × combinations × season) state array


@dataclass(frozen=True)
class _Spec:
    trend: bool
    damped: bool
    seasonal: bool

    def n_params(self, m: int) -> int:
        # The seasonal starting values come from a fixed decomposition of the first two seasons,
        # not from the search, and are not counted: counted, their m − 1 values outweigh 24–36
        # points and AICc never picks a seasonal model, even where the backtest shows it
        # forecasts best.
        smoothing = 1 + int(self.trend) + int(self.damped) + int(self.seasonal)
        initial = 1 + int(self.trend)
        return smoothing + initial + 1  # + the error variance


ETS_MODELS: dict[str, _Spec] = {
    "ets_ann": _Spec(trend=False, damped=False, seasonal=False),
    "ets_aan": _Spec(trend=True, damped=False, seasonal=False),
    "ets_aadn": _Spec(trend=True, damped=True, seasonal=False),
    "ets_ana": _Spec(trend=False, damped=False, seasonal=True),
    "ets_aaa": _Spec(trend=True, damped=False, seasonal=True),
    "ets_aada": _Spec(trend=True, damped=True, seasonal=True),
}

METHODS: dict[str, str] = {
    "zero": "Zero (no history)",
    "constant": "Constant",
    "mean": "Mean",
    "naive": "Naive (last value)",
    "seasonal_naive": "Seasonal naive",
    "croston": "Croston (SBA)",
    "ets_ann": "ETS(A,N,N) simple smoothing",
    "ets_aan": "ETS(A,A,N) Holt",
    "ets_aadn": "ETS(A,Ad,N) damped Holt",
    "ets_ana": "ETS(A,N,A) seasonal",
    "ets_aaa": "ETS(A,A,A) Holt-Winters",
    "ets_aada": "ETS(A,Ad,A) damped Holt-Winters",
}
"""Every method a forecast can carry, with the name shown to people."""

RULES: tuple[tuple[str, str], ...] = (
    ("no history, or only zeros", "zero"),
    ("every period the same value", "constant"),
    (f"at least {int(_INTERMITTENT_ZERO_SHARE * 100)}% of periods are zero", "croston"),
    (f"fewer than {_MIN_ETS_POINTS} periods", "mean"),
    ("shorter than one season", "ETS without seasonality, chosen by AICc"),
    ("at least one but fewer than two seasons", "seasonal_naive"),
    (
        "two seasons or more",
        "ETS chosen by AICc: all six models if the seasonal autocorrelation is significant, "
        "else the three without season",
    ),
)
"""How a series' history decides its method (history is counted from its first non-zero
period). Printed in docs/forecasting.md."""

_ALPHAS = (0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 0.95)
_BETA_SHARES = (0.05, 0.2, 0.5)  # β as a share of α
_GAMMA_SHARES = (0.05, 0.2, 0.5)  # γ as a share of 1 − α
_PHIS = (0.8, 0.9, 0.98)


@dataclass(frozen=True)
class SeriesForecast:
    method: str
    point: tuple[float, ...]
    variance: tuple[float, ...]
    sigma2: float
    n: int
    scale: float
    """MASE scale: the in-sample mean absolute error of the (seasonal) naive forecast."""
    seasonal_naive: tuple[float, ...]
    aicc: float | None = None
    params: dict[str, float] = field(default_factory=dict)

    def lower(self, z: float = Z80) -> list[float]:
        return [
            max(0.0, p - z * math.sqrt(v)) for p, v in zip(self.point, self.variance, strict=True)
        ]

    def upper(self, z: float = Z80) -> list[float]:
        return [p + z * math.sqrt(v) for p, v in zip(self.point, self.variance, strict=True)]

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "point": list(self.point),
            "variance": list(self.variance),
            "sigma2": self.sigma2,
            "n": self.n,
            "scale": self.scale,
            "seasonal_naive": list(self.seasonal_naive),
            "aicc": self.aicc,
            "params": self.params,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeriesForecast:
        return cls(
            method=data["method"],
            point=tuple(data["point"]),
            variance=tuple(data["variance"]),
            sigma2=data["sigma2"],
            n=data["n"],
            scale=data["scale"],
            seasonal_naive=tuple(data["seasonal_naive"]),
            aicc=data.get("aicc"),
            params=dict(data.get("params") or {}),
        )


def _trim(values: Sequence[float] | np.ndarray) -> np.ndarray:
    y = np.asarray(values, dtype=float)
    nonzero = np.flatnonzero(y)
    return y[nonzero[0] :] if nonzero.size else y[:0]


def classify(y: np.ndarray, m: int) -> str:
    """The rule of ``RULES`` that applies to a (trimmed) history."""
    n = y.size
    if n == 0 or not np.any(y):
        return "zero"
    if float(np.ptp(y)) == 0.0:
        return "constant"
    if n >= _MIN_ETS_POINTS and float(np.mean(y == 0)) >= _INTERMITTENT_ZERO_SHARE:
        return "croston"
    if n < _MIN_ETS_POINTS:
        return "mean"
    if n < m:
        return "ets_nonseasonal"
    if n < 2 * m:
        return "seasonal_naive"
    return "ets_all"


def mase_scale(y: np.ndarray, m: int) -> float:
    """Mean absolute in-sample error of the seasonal naive forecast (naive when the history is
    shorter than a season and a period); falls back to the mean level, then 1, so a perfect
    history never divides by zero."""
    if y.size > m:
        scale = float(np.mean(np.abs(y[m:] - y[:-m])))
    elif y.size > 1:
        scale = float(np.mean(np.abs(np.diff(y))))
    else:
        scale = 0.0
    if scale <= 0.0:
        scale = float(np.mean(np.abs(y))) if y.size else 0.0
    return scale if scale > 0.0 else 1.0


def _seasonal_naive_points(y: np.ndarray, horizon: int, m: int) -> np.ndarray:
    n = y.size
    if n == 0:
        return np.zeros(horizon)
    if n < m:
        return np.full(horizon, y[-1])
    return np.array([y[n - m + (h % m)] for h in range(horizon)])


def forecast_one(
    values: Sequence[float] | np.ndarray, *, horizon: int, season: int, method: str = "auto"
) -> SeriesForecast:
    return forecast_many([values], horizon=horizon, season=season, method=method)[0]


def forecast_many(
    series: Sequence[Sequence[float] | np.ndarray],
    *,
    horizon: int,
    season: int,
    method: str = "auto",
) -> list[SeriesForecast]:
    """Forecast ``horizon`` periods after each series. ``method`` "auto" follows ``RULES``; a
    named method (an ETS model, "seasonal_naive", "naive", "croston", "mean") is used wherever the
    history allows it, and the rule table decides elsewhere (the result names what was used)."""
    m = season
    trimmed = [_trim(s) for s in series]
    results: list[SeriesForecast | None] = [None] * len(trimmed)
    ets_jobs: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    for i, y in enumerate(trimmed):
        rule = classify(y, m)
        chosen = _forced(method, rule, y.size, m)
        if chosen is None:
            chosen = rule
        if chosen in ("ets_all", "ets_nonseasonal") or chosen in ETS_MODELS:
            if chosen == "ets_all" and _looks_seasonal(y, m):
                names: tuple[str, ...] = tuple(ETS_MODELS)
            elif chosen in ("ets_all", "ets_nonseasonal"):
                names = tuple(k for k, spec in ETS_MODELS.items() if not spec.seasonal)
            else:
                names = (chosen,)
            names = tuple(k for k in names if _eligible(ETS_MODELS[k], y.size, m))
            if names:
                ets_jobs.setdefault((y.size, names), []).append(i)
                continue
            chosen = "mean"
        results[i] = _simple(chosen, y, horizon, m)
    for (_, names), indices in ets_jobs.items():
        for start in range(0, len(indices), _CHUNK):
            chunk = indices[start : start + _CHUNK]
            matrix = np.stack([trimmed[i] for i in chunk])
            for i, fc in zip(chunk, _select_ets(matrix, names, horizon, m), strict=True):
                results[i] = fc
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def _forced(method: str, rule: str, n: int, m: int) -> str | None:
    if method == "auto" or rule in ("zero", "constant"):
        return None
    if method in ETS_MODELS:
        return method if _eligible(ETS_MODELS[method], n, m) else None
    if method == "seasonal_naive":
        return method if n >= m else None
    if method in ("naive", "mean", "croston"):
        return method if n >= 1 else None
    raise ValueError(f"unknown forecasting method {method!r}")


def _looks_seasonal(y: np.ndarray, m: int) -> bool:
    """The autocorrelation at the seasonal lag exceeds one standard error (Bartlett's formula):
    only then are seasonal models candidates. Without this gate a model whose starting season is
    read off noise can win AICc on a series with no season at all; a stricter gate (1.645 standard
    errors) rejected too many genuinely seasonal 24–36 month sales histories in backtests."""
    n = y.size
    centred = y - y.mean()
    denominator = float(np.dot(centred, centred))
    if n <= m or denominator == 0.0:
        return False
    acf = np.array([np.dot(centred[k:], centred[:-k]) / denominator for k in range(1, m + 1)])
    limit = np.sqrt((1.0 + 2.0 * np.sum(acf[:-1] ** 2)) / n)
    return bool(acf[-1] > limit)


def _eligible(spec: _Spec, n: int, m: int) -> bool:
    if spec.seasonal and n < 2 * m:
        return False
    return n >= _MIN_ETS_POINTS and n - spec.n_params(m) - 1 > 0


# Simple methods ---------------------------------------------------------------------------


def _simple(method: str, y: np.ndarray, horizon: int, m: int) -> SeriesForecast:
    n = y.size
    snaive = _seasonal_naive_points(y, horizon, m)
    scale = mase_scale(y, m)
    steps = np.arange(horizon)
    params: dict[str, float] = {}
    point: np.ndarray
    var: np.ndarray
    sigma2: float
    if method == "zero":
        point, sigma2, var = np.zeros(horizon), 0.0, np.zeros(horizon)
    elif method == "constant":
        point, sigma2, var = np.full(horizon, y[-1]), 0.0, np.zeros(horizon)
    elif method == "mean":
        point = np.full(horizon, float(np.mean(y)))
        sigma2 = float(np.var(y, ddof=1)) if n > 1 else float(y[0] ** 2) / 4.0
        var = np.full(horizon, sigma2 * (1.0 + 1.0 / n))
    elif method == "naive":
        point = np.full(horizon, y[-1])
        sigma2 = float(np.mean(np.diff(y) ** 2)) if n > 1 else float(y[0] ** 2) / 4.0
        var = sigma2 * (steps + 1.0)
    elif method == "seasonal_naive":
        point = snaive
        residuals = y[m:] - y[:-m] if n > m else y - np.mean(y)
        sigma2 = float(np.mean(residuals**2))
        var = sigma2 * (1.0 + steps // m)
    elif method == "croston":
        level, sigma2, alpha = _croston(y)
        point = np.full(horizon, level)
        var = sigma2 * (1.0 + steps * alpha**2)
        params = {"alpha": alpha}
    else:  # pragma: no cover - guarded by classify/_forced
        raise ValueError(method)
    return SeriesForecast(
        method=method,
        point=tuple(float(v) for v in np.maximum(point, 0.0)),
        variance=tuple(float(v) for v in var),
        sigma2=float(sigma2),
        n=n,
        scale=scale,
        seasonal_naive=tuple(float(v) for v in np.maximum(snaive, 0.0)),
        params=params,
    )


def _croston(y: np.ndarray) -> tuple[float, float, float]:
    """Croston's method with the Syntetos–Boylan bias correction; the smoothing constant is the
    one of a few that gives the smallest in-sample squared error."""
    best: tuple[float, float, float] | None = None
    best_sse = math.inf
    for alpha in (0.05, 0.1, 0.2, 0.3):
        size = interval = None
        gap = 1
        sse = 0.0
        count = 0
        for value in y:
            if size is not None and interval is not None:
                fitted = (1 - alpha / 2) * size / interval
                sse += (value - fitted) ** 2
                count += 1
            if value != 0:
                if size is None or interval is None:
                    size, interval = float(value), float(gap)
                else:
                    size += alpha * (value - size)
                    interval += alpha * (gap - interval)
                gap = 1
            else:
                gap += 1
        assert size is not None and interval is not None
        point = (1 - alpha / 2) * size / interval
        sigma2 = sse / count if count else float(np.var(y))
        if best is None or sse < best_sse:
            best, best_sse = (point, sigma2, alpha), sse
    assert best is not None
    return best


# ETS --------------------------------------------------------------------------------------


def _initial_states(
    y: np.ndarray, spec: _Spec, m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Level, trend and seasonal states before the first observation, per series (rows)."""
    s_count, n = y.shape
    seasonal = np.zeros((s_count, m))
    if spec.seasonal:
        first, second = y[:, :m].mean(axis=1), y[:, m : 2 * m].mean(axis=1)
        slope = (second - first) / m if spec.trend else np.zeros(s_count)
        centre = np.arange(m) - (m - 1) / 2.0
        dev = (
            (y[:, :m] - first[:, None] - slope[:, None] * centre)
            + (y[:, m : 2 * m] - second[:, None] - slope[:, None] * centre)
        ) / 2.0
        seasonal = dev - dev.mean(axis=1, keepdims=True)
        level = first - slope * ((m - 1) / 2.0 + 1.0)
        return level, slope, seasonal
    k = min(n, 12)
    head = y[:, :k]
    if spec.trend:
        t = np.arange(k, dtype=float)
        t_mean = t.mean()
        slope = ((head - head.mean(axis=1, keepdims=True)) * (t - t_mean)).sum(axis=1) / (
            ((t - t_mean) ** 2).sum()
        )
        intercept = head.mean(axis=1) - slope * t_mean
        return intercept - slope, slope, seasonal
    return head[:, : min(k, 6)].mean(axis=1), np.zeros(s_count), seasonal


def _run(
    y: np.ndarray,
    init: tuple[np.ndarray, np.ndarray, np.ndarray],
    spec: _Spec,
    m: int,
    alpha: np.ndarray,
    beta: np.ndarray,
    gamma: np.ndarray,
    phi: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One pass of the recursion for (series × combinations) parameter arrays; returns the SSE
    and the final level, trend and seasonal states."""
    s_count, n = y.shape
    combos = alpha.shape[1]
    level = np.repeat(init[0][:, None], combos, axis=1)
    trend = np.repeat(init[1][:, None], combos, axis=1)
    sse = np.zeros((s_count, combos))
    season = np.repeat(init[2][:, None, :], combos, axis=1) if spec.seasonal else None
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(n):
            base = level + phi * trend if spec.trend else level
            if season is not None:
                slot = season[:, :, t % m]
                error = y[:, t : t + 1] - (base + slot)
                season[:, :, t % m] = slot + gamma * error
            else:
                error = y[:, t : t + 1] - base
            sse += error * error
            level = base + alpha * error
            if spec.trend:
                trend = phi * trend + beta * error
    sse = np.where(np.isfinite(sse), sse, np.inf)
    empty = np.zeros((s_count, combos, m))
    return sse, level, trend, season if season is not None else empty


def _grid(spec: _Spec, s_count: int) -> tuple[np.ndarray, ...]:
    rows = []
    for a in _ALPHAS:
        for bs in _BETA_SHARES if spec.trend else (0.0,):
            for gs in _GAMMA_SHARES if spec.seasonal else (0.0,):
                for p in _PHIS if spec.damped else (1.0,):
                    rows.append((a, bs, gs, p))
    grid = np.array(rows, dtype=float).T
    return tuple(np.broadcast_to(g, (s_count, g.size)).copy() for g in grid)


def _refine(spec: _Spec, best: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    a, bs, gs, p = best
    factors = (1 / 1.35, 1.0, 1.35)
    rows: list[tuple[np.ndarray, ...]] = []
    for fa in factors:
        for fb in factors if spec.trend else (1.0,):
            for fg in factors if spec.seasonal else (1.0,):
                for dp in (-0.04, 0.0, 0.04) if spec.damped else (0.0,):
                    rows.append(
                        (
                            np.clip(a * fa, 0.01, 0.99),
                            np.clip(bs * fb, 0.01, 1.0) if spec.trend else bs,
                            np.clip(gs * fg, 0.01, 1.0) if spec.seasonal else gs,
                            np.clip(p + dp, 0.8, 0.98) if spec.damped else p,
                        )
                    )
    return tuple(np.stack([r[k] for r in rows], axis=1) for k in range(4))


def _to_model(shares: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    a, bs, gs, p = shares
    return a, a * bs, (1.0 - a) * gs, p


def _fit(y: np.ndarray, spec: _Spec, m: int) -> dict[str, np.ndarray]:
    s_count = y.shape[0]
    init = _initial_states(y, spec, m)
    shares = _grid(spec, s_count)
    sse = _run(y, init, spec, m, *_to_model(shares))[0]
    pick = np.argmin(sse, axis=1)
    rows = np.arange(s_count)
    best = tuple(g[rows, pick] for g in shares)
    fine = _refine(spec, best)
    sse2 = _run(y, init, spec, m, *_to_model(fine))[0]
    pick2 = np.argmin(sse2, axis=1)
    final = tuple(g[rows, pick2][:, None] for g in fine)
    alpha, beta, gamma, phi = _to_model(final)
    sse_best, level, trend, season = _run(y, init, spec, m, alpha, beta, gamma, phi)
    return {
        "sse": sse_best[:, 0],
        "alpha": alpha[:, 0],
        "beta": beta[:, 0],
        "gamma": gamma[:, 0],
        "phi": phi[:, 0],
        "level": level[:, 0],
        "trend": trend[:, 0],
        "season": season[:, 0, :],
    }


def _aicc(sse: np.ndarray, n: int, k: int) -> np.ndarray:
    with np.errstate(divide="ignore"):
        # A perfect fit would be log(0): a tiny floor relative to the series keeps it finite.
        return n * np.log(np.maximum(sse / n, 1e-12)) + 2 * k + 2 * k * (k + 1) / (n - k - 1)


def _select_ets(
    y: np.ndarray, names: tuple[str, ...], horizon: int, m: int
) -> list[SeriesForecast]:
    s_count, n = y.shape
    fits = {name: _fit(y, ETS_MODELS[name], m) for name in names}
    scores = np.stack(
        [_aicc(fits[name]["sse"], n, ETS_MODELS[name].n_params(m)) for name in names], axis=1
    )
    chosen = np.argmin(np.where(np.isfinite(scores), scores, np.inf), axis=1)
    out: list[SeriesForecast] = []
    steps = np.arange(1, horizon + 1)
    for row in range(s_count):
        name = names[int(chosen[row])]
        spec, fit = ETS_MODELS[name], fits[name]
        alpha, beta = float(fit["alpha"][row]), float(fit["beta"][row])
        gamma, phi = float(fit["gamma"][row]), float(fit["phi"][row])
        phi_sums = np.cumsum(phi**steps) if spec.trend else np.zeros(horizon)
        point = np.full(horizon, float(fit["level"][row])) + phi_sums * float(fit["trend"][row])
        if spec.seasonal:
            point += np.array([fit["season"][row][(n + h - 1) % m] for h in steps])
        sigma2 = float(fit["sse"][row]) / n
        c = np.full(horizon, alpha) + (beta * phi_sums if spec.trend else 0.0)
        if spec.seasonal:
            c = c + gamma * (steps % m == 0)
        growth = np.concatenate([[1.0], 1.0 + np.cumsum(c[: horizon - 1] ** 2)])
        params = {"alpha": alpha}
        if spec.trend:
            params["beta"] = beta
        if spec.damped:
            params["phi"] = phi
        if spec.seasonal:
            params["gamma"] = gamma
        history = y[row]
        out.append(
            SeriesForecast(
                method=name,
                point=tuple(float(v) for v in np.maximum(point, 0.0)),
                variance=tuple(float(v) for v in sigma2 * growth),
                sigma2=sigma2,
                n=n,
                scale=mase_scale(history, m),
                seasonal_naive=tuple(
                    float(v) for v in np.maximum(_seasonal_naive_points(history, horizon, m), 0)
                ),
                aicc=float(scores[row, chosen[row]]),
                params={k: round(v, 4) for k, v in params.items()},
            )
        )
    return out
