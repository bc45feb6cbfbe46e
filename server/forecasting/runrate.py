"""Run-rate forecasts: statsforecast's models, chosen per series by rolling-origin validation on
its own history, with intervals calibrated on the same validation errors.

Theory of operation
-------------------
Every series (history counted from its first non-zero period) goes through ``RULES`` first:
empty, all-zero and constant series need no model; a series with fewer than ``MIN_MODEL_POINTS``
periods gets its mean. Every other series gets a set of candidate models (``CANDIDATES``):

* ``ets``: statsforecast ``AutoETS`` in the form of ``ETS_FORMS`` with the lowest AICc: damped
  trend with additive or multiplicative season, or a straight trend with a multiplicative one
  (multiplicative forms only on strictly positive data; weekly data: MSTL with an ETS on the
  seasonally adjusted part);
* ``theta``: ``DynamicOptimizedTheta`` (the Theta method with optimised θ) on the series with
  its season adjusted out when it tests seasonal: the library's own test and classical
  decomposition, computed here in numpy once per history (``_deseasonalise``);
* ``croston``: ``CrostonSBA`` for intermittent series (many zero periods);
* ``seasonal_naive`` (``naive`` when the history is shorter than a season and a period): the
  benchmark every forecast must beat.

``arima`` (the seasonal "airline" ARIMA(0,1,1)(0,1,1)ₘ, ARIMA(0,1,1) without a season) can be
forced in a backtest; it is no longer a candidate: its fit cost as much as the rest together
for a small share of the accuracy (docs/forecasting.md).

Each candidate is validated: fitted on the history up to the first validation origin (12
origins before the end) and run forward (its states updated, its parameters kept) from every
later origin to the end of the history, forecasting up to ``horizon`` periods ahead from each.
The candidates that make the forecast are fitted on the whole history. An ETS whose validation
history is long enough for the same kind of model is fitted on the whole history first and
validated in the form that fit chose; every other candidate is fitted on the whole history only
once the validation has put it in the forecast (a series that ends up with seasonal naive pays
for no whole-history fit). The forecast is the combination
of ets and theta (theta alone on less than two seasons) weighted by 1 / (validation MAE)²
(``combination_weights``) — a combination is steadier than picking one model on a dozen noisy
validation errors, and the weights still let a model that clearly forecasts this series best
dominate — unless seasonal naive did better in validation than that combination: then it is
seasonal naive. Where the combination's lead over seasonal naive is under 20 %
(``SHRINK_MARGIN``), seasonal naive joins it as a member.

Intervals are conformal: the validation errors of the forecast's members averaged with equal
weights (the weights were tuned on those errors, so the weighted errors are too kind), divided
by a per-horizon scale (their root mean square at that horizon, made non-decreasing in the
horizon), give one pool of normalised errors per series; the finite-sample quantile of their
absolute values at 80 % and 95 %, times each horizon's scale, is the half-width (the 95 % one
never narrower than normal errors would make it, given the 80 % one).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

__all__ = [
    "CANDIDATES",
    "ETS_FORMS",
    "FORCEABLE",
    "METHODS",
    "MIN_MODEL_POINTS",
    "RULES",
    "SHRINK_MARGIN",
    "Z80",
    "Z95",
    "SeriesForecast",
    "classify",
    "combination_weights",
    "default_workers",
    "forecast_many",
    "forecast_one",
    "mase_scale",
    "pool_processes",
    "shutdown_pool",
    "start_pool",
    "warm_up",
]

Z80 = 1.2815515655446004
"""Normal quantile for the central 80 % interval: turns a stored half-width into a variance."""
Z95 = 1.959963984540054

MIN_MODEL_POINTS = 6
"""Below this many periods a series gets its mean: no model has anything to learn from."""
_INTERMITTENT_ZERO_SHARE = 0.3
VALIDATION_ORIGINS = 12
"""Origins whose full horizon lies inside the history; later origins add shorter horizons."""
_MIN_FIT = 8
"""Fewest periods a candidate is fitted on before the first validation origin."""
_PARALLEL_MIN = 64
"""Below this many series a process pool costs more than it saves."""
ETS_FORMS = ("A,Ad,A", "M,Ad,M", "M,A,M")
"""The ETS forms (error, trend, season) a seasonal series chooses among by AICc; multiplicative
forms only on strictly positive data."""
ETS_FORMS_PLAIN = ("A,N,N", "M,N,N", "A,Ad,N", "M,Ad,N")
"""The same without a season (weekly validation, a forced backtest): level alone or a damped
trend."""
SHRINK_MARGIN = 0.8
"""When the models' validation error is above this share of seasonal naive's (their lead is
under 20 %), seasonal naive joins the combination, weighted like the others."""
_MAX_STATSFORECAST_SEASON = 24
"""statsforecast's ETS ignores longer seasons (with a warning); weekly data fits them without."""

METHODS: dict[str, str] = {
    "zero": "Zero (no history)",
    "constant": "Constant",
    "mean": "Mean",
    "naive": "Naive (last value)",
    "seasonal_naive": "Seasonal naive",
    "croston": "Croston (SBA)",
    "ets": "Automatic ETS",
    "theta": "Theta",
    "arima": "ARIMA",
    "combination": "Combination of ETS and Theta (and seasonal naive where it came close), "
    "weighted by validation",
}
"""Every method a forecast can carry, with the name shown to people."""

RULES: tuple[tuple[str, str], ...] = (
    ("no history, or only zeros", "zero"),
    (f"fewer than {MIN_MODEL_POINTS} periods", "mean"),
    ("every period the same value", "constant"),
    (
        f"at least {int(_INTERMITTENT_ZERO_SHARE * 100)}% of periods are zero",
        "croston or (seasonal) naive, whichever did better in validation",
    ),
    (
        "shorter than two seasons",
        "theta without a season, or (seasonal) naive where it did better",
    ),
    (
        "two seasons or more",
        "ets + theta, weighted by validation, or seasonal naive where it did better",
    ),
)
"""How a series' history decides its candidates. Printed in docs/forecasting.md."""

CANDIDATES: dict[str, tuple[str, ...]] = {
    "croston": ("croston",),
    "short": ("theta",),
    "full": ("ets", "theta"),
}
"""The models a rule combines; seasonal naive (naive on less than a season) is always the
benchmark they must beat in validation."""
_COMBINED = ("ets", "theta")
FORCEABLE = ("ets", "theta", "arima", "croston", "combination", "seasonal_naive")
"""Methods a backtest may force (where the history allows them)."""


@dataclass(frozen=True)
class SeriesForecast:
    method: str
    point: tuple[float, ...]
    variance: tuple[float, ...]
    """The spread the blend and reconciliation weigh by: (80 % half-width / z₈₀)²."""
    sigma2: float
    n: int
    scale: float
    """MASE scale: the in-sample mean absolute error of the (seasonal) naive forecast."""
    seasonal_naive: tuple[float, ...]
    lower80: tuple[float, ...] = ()
    upper80: tuple[float, ...] = ()
    lower95: tuple[float, ...] = ()
    upper95: tuple[float, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    """What chose the method: each candidate's validation error, the model's own name."""

    def lower(self, z: float = Z80) -> list[float]:
        if z == Z80 and self.lower80:
            return list(self.lower80)
        if z == Z95 and self.lower95:
            return list(self.lower95)
        return [
            max(0.0, p - z * math.sqrt(v)) for p, v in zip(self.point, self.variance, strict=True)
        ]

    def upper(self, z: float = Z80) -> list[float]:
        if z == Z80 and self.upper80:
            return list(self.upper80)
        if z == Z95 and self.upper95:
            return list(self.upper95)
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
            "lower80": list(self.lower80),
            "upper80": list(self.upper80),
            "lower95": list(self.lower95),
            "upper95": list(self.upper95),
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
            lower80=tuple(data.get("lower80") or ()),
            upper80=tuple(data.get("upper80") or ()),
            lower95=tuple(data.get("lower95") or ()),
            upper95=tuple(data.get("upper95") or ()),
            params=dict(data.get("params") or {}),
        )


def _trim(values: Sequence[float] | np.ndarray) -> np.ndarray:
    y = np.asarray(values, dtype=float)
    y = np.where(np.isfinite(y), y, 0.0)  # a missing month is a month with nothing booked
    nonzero = np.flatnonzero(y)
    return y[nonzero[0] :] if nonzero.size else y[:0]


def classify(y: np.ndarray, m: int) -> str:
    """The rule of ``RULES`` that applies to a (trimmed) history."""
    n = y.size
    if n == 0 or not np.any(y):
        return "zero"
    if n < MIN_MODEL_POINTS:
        return "mean"
    if float(np.ptp(y)) == 0.0:
        return "constant"
    if float(np.mean(y == 0)) >= _INTERMITTENT_ZERO_SHARE:
        return "croston"
    if n < 2 * m:
        return "short"
    return "full"


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


_SEASONAL_TEST_Z = 1.6448536269514722
"""One-sided 95 % normal quantile: a season is adjusted out when the autocorrelation at the
seasonal lag is significant at 90 % (the test of the Theta method's M3 setup)."""


@dataclass(frozen=True)
class _Season:
    """A classical decomposition of one history: the seasonally adjusted history and the
    seasonal factors (or offsets) of the periods after it."""

    adjusted: np.ndarray
    ahead: np.ndarray
    """Factors (offsets) of the next ``m`` periods, repeated for longer horizons."""
    multiplicative: bool

    def restore(self, forecast: np.ndarray) -> np.ndarray:
        h = forecast.size
        factors = np.tile(self.ahead, h // self.ahead.size + 1)[:h]
        restored: np.ndarray = forecast * factors if self.multiplicative else forecast + factors
        return restored


def _seasonal_test(y: np.ndarray, m: int) -> bool:
    """Is the autocorrelation at lag ``m`` significant (90 %, one-sided), given the lags below
    it (Bartlett's variance)?"""
    n = y.size
    d = y - y.mean()
    denominator = float(d @ d)
    if denominator <= 0.0:
        return False
    r = np.array([float(d[:-k] @ d[k:]) for k in range(1, m + 1)]) / denominator
    stat = math.sqrt((1.0 + 2.0 * float(np.sum(r[:-1] ** 2))) / n)
    return bool(abs(r[-1]) / stat > _SEASONAL_TEST_Z)


def _classical(y: np.ndarray, m: int, multiplicative: bool) -> np.ndarray:
    """Seasonal component of a classical decomposition: a centred moving average of one season
    (2×m for an even m) as the trend, the detrended values averaged per position of the season,
    normalised to average 1 (multiplicative) or 0 (additive)."""
    n = y.size
    filt = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    half = (filt.size - 1) // 2
    trend = np.full(n, np.nan)
    trend[half : n - half] = np.convolve(y, filt, mode="valid")
    detrended = y / trend if multiplicative else y - trend
    usable = np.isfinite(detrended)
    positions = np.arange(n) % m
    sums = np.bincount(positions[usable], weights=detrended[usable], minlength=m)
    counts = np.bincount(positions[usable], minlength=m)
    averages = sums / np.maximum(counts, 1)
    averages = averages / averages.mean() if multiplicative else averages - averages.mean()
    seasonal: np.ndarray = averages[positions]
    return seasonal


def _deseasonalise(y: np.ndarray, m: int) -> _Season | None:
    """The history with its season adjusted out, when it has two seasons and tests seasonal:
    multiplicative on positive data whose factors stay above 0.01, additive otherwise."""
    if m < 4 or y.size < 2 * m or not _seasonal_test(y, m):
        return None
    multiplicative = bool(np.min(y) > 0)
    seasonal = _classical(y, m, multiplicative)
    if multiplicative and np.any(seasonal < 0.01):
        multiplicative = False
        seasonal = _classical(y, m, False)
    adjusted = y / seasonal if multiplicative else y - seasonal
    return _Season(adjusted, seasonal[y.size - m :], multiplicative)


class _History:
    """One history a model is fitted on or run forward over, with its seasonal adjustment
    computed once for every model that needs it."""

    def __init__(self, y: np.ndarray, m: int) -> None:
        self.y, self.m = y, m
        self._season: _Season | bool | None = False

    @property
    def season(self) -> _Season | None:
        if self._season is False:
            self._season = _deseasonalise(self.y, self.m)
        return self._season  # type: ignore[return-value]


# Candidate models ---------------------------------------------------------------------------


class _Model:
    """One candidate: ``fit`` on a history, then ``forward`` (same parameters, states re-run)
    over any longer history of the same series."""

    def __init__(self, name: str, m: int, form: str | None = None) -> None:
        self.name, self.m = name, m
        self.form = form
        """The library's name of a fitted model (``ETS(M,Ad,M)``) whose form this one is fitted
        in, instead of searching every form again."""
        self._fitted: Any = None

    def fit(self, history: _History) -> None:
        if self.name in ("seasonal_naive", "naive"):
            return
        from statsforecast.models import (
            ARIMA,
            MSTL,
            AutoETS,
            CrostonSBA,
            DynamicOptimizedTheta,
        )

        y, m = history.y, self.m
        if self.name == "theta":
            # The season is adjusted out here (the same classical decomposition the library
            # applies, in numpy and shared with every model run over this history), and the
            # library's Theta fits the adjusted series.
            adjustment = history.season
            adjusted = adjustment.adjusted if adjustment is not None else y
            self._fitted = DynamicOptimizedTheta(season_length=1).fit(y=adjusted)
            return
        seasonal = m > 1 and y.size >= 2 * m
        model: Any
        if self.name == "ets" and seasonal and m > _MAX_STATSFORECAST_SEASON:
            # statsforecast's ETS has no seasons longer than 24: a weekly series is decomposed
            # (MSTL) and its seasonally adjusted part gets the ETS.
            model = MSTL(season_length=m, trend_forecaster=AutoETS(model="ZZN"))
        elif self.name == "ets":
            season = m if seasonal and m <= _MAX_STATSFORECAST_SEASON else 1
            form = _ets_form(self.form, season)
            if not form:
                self._fitted = _ets_by_aicc(y, season)
                return
            model = AutoETS(season_length=season, **form)
        elif self.name == "arima":
            # The seasonal airline model is the classic for sales with a yearly pattern; with a
            # long (weekly) season its fit costs 30× more, so weekly data gets the plain one.
            if seasonal and m <= _MAX_STATSFORECAST_SEASON:
                model = ARIMA(order=(0, 1, 1), seasonal_order=(0, 1, 1), season_length=m)
            else:
                model = ARIMA(order=(0, 1, 1), include_drift=False)
        elif self.name == "croston":
            model = CrostonSBA()
        else:  # pragma: no cover - names come from CANDIDATES
            raise ValueError(self.name)
        self._fitted = model.fit(y=y)

    def forward(self, history: _History, h: int) -> np.ndarray:
        y = history.y
        if self.name == "seasonal_naive":
            return _seasonal_naive_points(y, h, self.m)
        if self.name == "naive":
            return np.full(h, y[-1])
        if self.name == "croston":
            # Croston's fit has no parameters to keep (its smoothing constant is fixed): forward
            # is a refit, and cheap.
            from statsforecast.models import CrostonSBA

            return np.asarray(CrostonSBA().forecast(y=y, h=h)["mean"], dtype=float)
        if self.name == "theta":
            season = history.season
            adjusted = season.adjusted if season is not None else y
            out = np.asarray(self._fitted.forward(y=adjusted, h=h)["mean"], dtype=float)
            return season.restore(out) if season is not None else out
        out = self._fitted.forward(y=y, h=h)
        return np.asarray(out["mean"], dtype=float)

    def run_over(self, y: np.ndarray) -> Callable[[_History, int], np.ndarray] | None:
        """The model's state recursion run once over the whole of ``y`` (its parameters kept):
        the forecast from an origin inside it is read off the states there, which is what
        ``forward`` over the history up to that origin computes, without re-running the
        recursion once per origin. For an ETS of the library, and for Theta at the origins
        whose history has no season to adjust (the adjusted series differs from one origin to
        the next); ``None`` for the other models, which run forward per origin."""
        fitted = getattr(self._fitted, "model_", None)
        if not isinstance(fitted, dict):
            return None
        if self.name == "ets" and "components" in fitted:
            from statsforecast.ets import forecast_ets, forward_ets

            run = forward_ets(fitted, y)  # type: ignore[no-untyped-call]
            states = run["states"]

            def ets_at(history: _History, h: int) -> np.ndarray:
                origin = history.y.size
                step = {**run, "states": states[: origin + 1]}
                return np.asarray(forecast_ets(step, h)["mean"], dtype=float)  # type: ignore[no-untyped-call]

            return ets_at
        if self.name == "theta" and fitted.get("m") == 1:
            from statsforecast.theta import forecast_theta, forward_theta

            raw = forward_theta(fitted, y)  # type: ignore[no-untyped-call]

            def theta_at(history: _History, h: int) -> np.ndarray:
                if history.season is not None:
                    return self.forward(history, h)
                origin = history.y.size
                step = {**raw, "states": raw["states"][:origin], "n": origin}
                return np.asarray(forecast_theta(step, h)["mean"], dtype=float)  # type: ignore[no-untyped-call]

            return theta_at
        return None

    def describe(self) -> str:
        fitted = getattr(self._fitted, "model_", None)
        if isinstance(fitted, dict) and "method" in fitted:
            return str(fitted["method"])
        return self.name


def _ets_form(form: str | None, season: int) -> dict[str, Any]:
    """AutoETS arguments that fit only the form named ``ETS(error,trend,season)`` (``Ad`` a
    damped additive trend); no arguments (search every form) when there is no usable name."""
    match = re.fullmatch(r"ETS\(([AM]),(N|A|Ad),([NAM])\)", form or "")
    if match is None or (season == 1 and match[3] != "N"):
        return {}
    error, trend, seasonal = match.groups()
    return {"model": f"{error}{trend[0]}{seasonal}", "damped": trend == "Ad"}


def _ets_by_aicc(y: np.ndarray, season: int) -> Any:
    """The AutoETS fit of the lowest AICc among ``ETS_FORMS``: three forms cover what sales
    series need (damped or straight trend, additive or multiplicative season) at a fifth of the
    cost of the library's search over fifteen (benchmark, docs/forecasting.md)."""
    from statsforecast.models import AutoETS

    positive = bool(np.all(y > 0))
    best: tuple[float, Any] | None = None
    for form in ETS_FORMS if season > 1 else ETS_FORMS_PLAIN:
        error, trend, seasonal = form.split(",")
        if not positive and "M" in (error, seasonal):
            continue
        with contextlib.suppress(Exception):
            fitted = AutoETS(
                season_length=season,
                model=f"{error}{trend[0]}{seasonal}",
                damped=trend == "Ad",
            ).fit(y=y)
            aicc = float(fitted.model_["aicc"])
            if math.isfinite(aicc) and (best is None or aicc < best[0]):
                best = (aicc, fitted)
    if best is None:
        raise ValueError("no ETS form fits this history")
    return best[1]


def _safe(call: Callable[[], np.ndarray], h: int) -> np.ndarray | None:
    """A candidate that fails or returns non-finite values drops out of the running: one odd
    series must never fail the whole recompute or put NaN on a page. (Warnings and floating
    point errors are silenced once per series, in ``_forecast``.)"""
    try:
        out = np.asarray(call(), dtype=float)
    except Exception:
        return None
    if out.shape != (h,) or not np.all(np.isfinite(out)):
        return None
    return out


def _fit_safely(model: _Model, history: _History) -> bool:
    try:
        model.fit(history)
    except Exception:
        return False
    return True


# One series -----------------------------------------------------------------------------------


def _first_origin(n: int, horizon: int) -> int:
    return min(max(_MIN_FIT, n - (horizon + VALIDATION_ORIGINS - 1)), n - 1)


def _validated_in_final_form(name: str, n: int, horizon: int, m: int) -> bool:
    """Does the validation of this candidate take the form its whole-history fit chose? Only an
    ETS whose validation history is long enough for the same kind of model (two seasons, or no
    season in either): otherwise the validation searches its own forms, and the whole history
    need only be fitted if the candidate ends up in the forecast."""
    if name != "ets" or m > _MAX_STATSFORECAST_SEASON:
        return False
    first = _first_origin(n, horizon)
    return first >= 2 * m or n < 2 * m


def _validate(
    y: np.ndarray, names: Sequence[str], horizon: int, m: int, final: dict[str, _Model]
) -> tuple[dict[str, _Model], dict[str, np.ndarray]]:
    """Fit every candidate at the first validation origin and forecast forward from each later
    origin. ``final`` holds the candidates already fitted on the whole history: an ETS is
    validated in the form the whole history chose (its parameters estimated again on the shorter
    history), which costs one form's fit instead of a search over all of them. Returns the
    models that fitted and ran everywhere, and per model an (origins × horizon) error matrix,
    NaN where the history ends."""
    n = y.size
    first = _first_origin(n, horizon)
    models = {
        name: _Model(name, m, final[name].describe() if name in final else None) for name in names
    }
    if "seasonal_naive" in models and n < m + 1:
        del models["seasonal_naive"]
        models["naive"] = _Model("naive", m)
    fitted = {}
    start = _History(y[:first], m)
    for name, model in models.items():
        if _fit_safely(model, start) or (
            model.form is not None and _fit_safely(_unformed(model), start)
        ):
            fitted[name] = model
    origins = range(first, n)
    errors = {k: np.full((len(origins), horizon), np.nan) for k in fitted}
    runs = {}
    for name, model in fitted.items():
        with contextlib.suppress(Exception):
            runs[name] = model.run_over(y)
    for row, origin in enumerate(origins):
        h = min(horizon, n - origin)
        actual = y[origin : origin + h]
        past = _History(y[:origin], m)
        for name, model in list(fitted.items()):
            run = runs.get(name)
            fc = _safe(partial(run or model.forward, past, h), h)
            if fc is None:
                del fitted[name], errors[name]
                continue
            errors[name][row, :h] = fc - actual
    return fitted, errors


def _unformed(model: _Model) -> _Model:
    """The same candidate searching every form again: the form the whole history chose may not
    fit the shorter one (a multiplicative form where the shorter history has a zero)."""
    model.form = None
    return model


def _mae(errors: np.ndarray) -> float:
    return float(np.nanmean(np.abs(errors))) if np.isfinite(errors).any() else math.inf


def combination_weights(maes: Sequence[float]) -> np.ndarray:
    """Weights ∝ 1 / MAE²: a member that erred twice as much in validation counts a quarter as
    much; equal errors give the plain mean."""
    inverse = 1.0 / np.maximum(np.asarray(maes, dtype=float), 1e-9) ** 2
    return np.asarray(inverse / inverse.sum())


def _conformal(errors: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Half-widths of the 80 % and 95 % intervals per horizon from validation errors."""
    scale = np.full(horizon, np.nan)
    for h in range(horizon):
        column = errors[:, h]
        column = column[np.isfinite(column)]
        if column.size:
            scale[h] = math.sqrt(float(np.mean(column**2)))
    known = np.flatnonzero(np.isfinite(scale) & (scale > 0))
    if known.size == 0:
        return None
    # Horizons without errors (a short validation) extend the last known one by √h growth.
    for h in range(horizon):
        if not np.isfinite(scale[h]) or scale[h] <= 0:
            ref = int(known[known <= h][-1]) if np.any(known <= h) else int(known[0])
            scale[h] = scale[ref] * math.sqrt((h + 1) / (ref + 1))
    scale = np.maximum.accumulate(scale)  # uncertainty never shrinks further ahead
    z = np.abs(errors / scale[None, :])
    z = z[np.isfinite(z)]
    if z.size < 3:
        return None
    widths = []
    for level in (0.8, 0.95):
        # The finite-sample conformal quantile: the ⌈(n+1)·level⌉-th smallest score.
        rank = min(z.size, math.ceil((z.size + 1) * level))
        widths.append(float(np.sort(z)[rank - 1]) * scale)
    # A 95 % quantile read off a few dozen errors can land below what even normal errors would
    # give for the 80 % width found: it is never narrower than that.
    widths[1] = np.maximum(widths[1], widths[0] * (Z95 / Z80))
    return widths[0], widths[1]


def _simple(method: str, y: np.ndarray, horizon: int, m: int) -> SeriesForecast:
    n = y.size
    steps = np.arange(horizon)
    if method == "zero":
        point, var = np.zeros(horizon), np.zeros(horizon)
    elif method == "constant":
        point, var = np.full(horizon, y[-1]), np.zeros(horizon)
    else:  # mean of a very short history: its spread, or half the level when there is one value
        point = np.full(horizon, float(np.mean(y)))
        sigma2 = float(np.var(y, ddof=1)) if n > 1 else float(y[0] ** 2) / 4.0
        var = np.full(horizon, sigma2 * (1.0 + 1.0 / max(n, 1))) * (1.0 + steps / 6.0)
    return _result(method, y, point, var, None, horizon, m, {})


def _result(
    method: str,
    y: np.ndarray,
    point: np.ndarray,
    var: np.ndarray,
    widths: tuple[np.ndarray, np.ndarray] | None,
    horizon: int,
    m: int,
    params: dict[str, Any],
) -> SeriesForecast:
    point = np.maximum(np.where(np.isfinite(point), point, 0.0), 0.0)
    if widths is None:
        sd = np.sqrt(np.maximum(var, 0.0))
        widths = (Z80 * sd, Z95 * sd)
    w80, w95 = widths
    variance = (w80 / Z80) ** 2
    return SeriesForecast(
        method=method,
        point=_floats(point),
        variance=_floats(variance),
        sigma2=float(variance[0]) if horizon else 0.0,
        n=int(y.size),
        scale=mase_scale(y, m),
        seasonal_naive=_floats(np.maximum(_seasonal_naive_points(y, horizon, m), 0.0)),
        lower80=_floats(np.maximum(point - w80, 0.0)),
        upper80=_floats(point + w80),
        lower95=_floats(np.maximum(point - w95, 0.0)),
        upper95=_floats(point + w95),
        params=params,
    )


def _floats(values: np.ndarray) -> tuple[float, ...]:
    return tuple(round(float(v), 4) for v in values)


def _forecast(values: np.ndarray, horizon: int, m: int, method: str) -> SeriesForecast:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return _forecast_series(values, horizon, m, method)


@dataclass
class _Choice:
    label: str
    members: tuple[str, ...]
    weights: np.ndarray
    combined: np.ndarray


def _choose(
    method: str, rule: str, members: tuple[str, ...], errors: dict[str, np.ndarray]
) -> _Choice | None:
    """Which validated models make the forecast, and their weights."""
    baseline = "seasonal_naive" if "seasonal_naive" in errors else "naive"
    members = tuple(k for k in members if k in errors and k not in (baseline, "naive"))
    if not members and baseline not in errors:
        return None
    maes = {k: _mae(v) for k, v in errors.items()}
    weights = (
        combination_weights([maes[k] for k in members])
        if method == "auto"
        else np.full(len(members), 1.0 / max(len(members), 1))
    )
    combined = (
        np.sum([w * errors[k] for w, k in zip(weights, members, strict=True)], axis=0)
        if members
        else None
    )
    if (
        method == "auto"
        and rule != "croston"  # (seasonal) naive of a lumpy series repeats one lucky period
        and combined is not None
        and baseline in maes
        and SHRINK_MARGIN * maes[baseline] < _mae(combined) <= maes[baseline]
    ):
        # A narrow lead over seasonal naive on a dozen or so origins is as likely luck as skill
        # (a weekly series whose yearly pattern the last weeks do not show): seasonal naive
        # joins the combination, so the forecast leans on it as much as its error allows.
        members = (*members, baseline)
        weights = combination_weights([maes[k] for k in members])
        combined = np.sum([w * errors[k] for w, k in zip(weights, members, strict=True)], axis=0)
    forced = method not in ("auto", "combination", baseline)
    if combined is None or (not forced and baseline in maes and _mae(combined) > maes[baseline]):
        # Never a model that lost to seasonal naive on this series' own validation.
        members, weights, combined = (baseline,), np.ones(1), errors[baseline]
    label = members[0] if len(members) == 1 else "combination"
    return _Choice(label, members, weights, combined)


def _forecast_series(values: np.ndarray, horizon: int, m: int, method: str) -> SeriesForecast:
    y = _trim(values)
    rule = classify(y, m)
    if rule in ("zero", "constant", "mean"):
        return _simple(rule, y, horizon, m)
    if method == "auto":
        members = CANDIDATES[rule]
    elif method == "combination":
        members = _COMBINED
    else:
        members = (method,)
    # A model is fitted on the whole history (that fit makes the forecast: parameters estimated
    # on the shorter validation history forecast measurably worse, docs/forecasting.md) before
    # the validation only where the validation takes its form from that fit; every other one
    # only once the validation has put it in the forecast, so a series that ends up with
    # seasonal naive, or with one model, pays for no fit it does not use.
    whole = _History(y, m)
    modelled = tuple(k for k in members if k not in ("seasonal_naive", "naive"))
    final: dict[str, _Model] = {}
    for name in modelled:
        if _validated_in_final_form(name, y.size, horizon, m):
            model = _Model(name, m)
            if not _fit_safely(model, whole):
                members = tuple(k for k in members if k != name)
                continue
            final[name] = model
    fitted, errors = _validate(y, (*members, "seasonal_naive"), horizon, m, final)
    while True:
        choice = _choose(method, rule, members, errors)
        if choice is None:
            return _simple("mean", y, horizon, m)
        dropped = False
        for name in choice.members:
            if name in final or name not in modelled:
                continue
            model = _Model(name, m)
            if _fit_safely(model, whole):
                final[name] = model
            else:  # the whole history breaks it: the choice is made again without it
                del fitted[name], errors[name]
                dropped = True
        if not dropped:
            break
    forecasts: list[np.ndarray] = []
    kept: list[float] = []
    for name, weight in zip(choice.members, choice.weights, strict=True):
        model = final.get(name, fitted[name])
        fc = _safe(partial(model.forward, whole, horizon), horizon)
        if fc is not None:  # a member the whole history breaks drops out of the combination
            forecasts.append(fc)
            kept.append(float(weight))
    if not forecasts:
        return _simple("mean", y, horizon, m)
    point = np.sum([w * f for w, f in zip(kept, forecasts, strict=True)], axis=0) / sum(kept)
    # The intervals come from the members' errors averaged with equal weights: the weights were
    # chosen to make the weighted errors small on these very origins, so those errors
    # understate what the next periods bring (80 % intervals held 74 % of actuals on the
    # benchmark instead of 78 %).
    combined = choice.combined
    spread_errors = (
        np.mean([errors[k] for k in choice.members], axis=0)
        if len(choice.members) > 1
        else combined
    )
    widths = _conformal(spread_errors, horizon)
    spread = float(np.nanmean(combined**2)) if widths is None else 0.0
    maes = {k: _mae(v) for k, v in errors.items()}
    params: dict[str, Any] = {
        "validation_mae": {k: round(v, 2) for k, v in sorted(maes.items()) if math.isfinite(v)},
        "weights": {
            k: round(float(w), 3) for k, w in zip(choice.members, choice.weights, strict=True)
        },
        "models": {k: final.get(k, fitted[k]).describe() for k in choice.members},
    }
    params["validation_mae"][choice.label] = round(_mae(combined), 2)
    return _result(
        choice.label,
        y,
        point,
        np.full(horizon, spread) * np.arange(1, horizon + 1),
        widths,
        horizon,
        m,
        params,
    )


def _forecast_batch(
    batch: list[np.ndarray], horizon: int, m: int, method: str
) -> list[SeriesForecast]:
    return [_forecast(values, horizon, m, method) for values in batch]


# Many series -----------------------------------------------------------------------------------

_POOL: ProcessPoolExecutor | None = None
_POOL_WORKERS = 0
_POOL_LOCK = threading.Lock()
"""Held while the pool is created or shut down: a server warms it in a thread of its own while
a recompute (another thread) may ask for it."""


def default_workers() -> int:
    """How many processes ``forecast_many`` spreads a large batch over by default: every core."""
    return os.cpu_count() or 1


def _pool(workers: int) -> ProcessPoolExecutor:
    """One pool per process, started on first use (or by ``start_pool``) and kept: each worker
    pays the library's import once, not once per recompute."""
    global _POOL, _POOL_WORKERS
    with _POOL_LOCK:
        if _POOL is None or workers != _POOL_WORKERS:
            import multiprocessing

            if _POOL is not None:
                _POOL.shutdown(wait=False)
            # forkserver, not fork: the server process runs an event loop and database pools
            # that a forked child must not inherit.
            context = multiprocessing.get_context("forkserver")
            # The fork server imports the library once and every worker forks from it with the
            # import done, instead of each worker importing it again (1.6 s of CPU apiece). (It
            # only takes effect if this process has not started its fork server yet.)
            context.set_forkserver_preload(["server.forecasting.runrate", "statsforecast.models"])
            _POOL = ProcessPoolExecutor(
                max_workers=workers, mp_context=context, initializer=warm_up
            )
            _POOL_WORKERS = workers
        return _POOL


def warm_up() -> None:
    """Import the library and run each model once, so the first real series does not pay for
    loading it."""
    y = 100.0 + 10.0 * np.sin(np.arange(30) * 2 * np.pi / 12) + np.arange(30)
    _forecast(y, 6, 12, "auto")


def _worker_ready() -> int:
    # Long enough that a worker done warming up does not take every task of a round while
    # another is still warming.
    time.sleep(0.05)
    return os.getpid()


def start_pool(
    workers: int | None = None, *, stop: threading.Event | None = None, timeout_s: float = 120.0
) -> bool:
    """Start the worker pool ``forecast_many`` uses and wait until every worker has warmed up
    (the fork server's import of the library, then ``warm_up`` in each worker), so that the
    first recompute of a process does not pay for it. Blocking: a server calls it in a thread.
    Gives up when ``stop`` is set (the server is stopping) or after ``timeout_s``; False when
    the pool did not start (it then starts on first use, as without warming)."""
    workers = default_workers() if workers is None else workers
    if workers <= 1:
        return True  # forecast_many runs in this process: nothing to start
    deadline = time.monotonic() + timeout_s
    ready: set[int] = set()
    try:
        while len(ready) < workers:
            if (stop is not None and stop.is_set()) or time.monotonic() > deadline:
                return False
            pool = _pool(workers)
            futures = [pool.submit(_worker_ready) for _ in range(workers)]
            for future in futures:
                ready.add(future.result(timeout=max(0.0, deadline - time.monotonic())))
    except TimeoutError:
        return False  # still starting: the pool is kept, and the first recompute waits for it
    except (BrokenProcessPool, OSError, RuntimeError, CancelledError):
        # As in forecast_many: a pool that cannot start is not an error of the server; the
        # recompute falls back to this process.
        _reset_pool()
        return False
    return True


def pool_processes() -> list[int]:
    """Process ids of the pool's live workers (empty when no pool is running)."""
    with _POOL_LOCK:
        pool = _POOL
    if pool is None:
        return []
    processes = dict(getattr(pool, "_processes", None) or {})
    return sorted(pid for pid, process in processes.items() if process.is_alive())


def shutdown_pool(*, terminate: bool = False) -> None:
    """Stop the worker pool and wait for its processes to exit (work still queued is dropped).
    ``terminate``: end the workers at once instead of letting them finish what they run (a
    warm-up: they hold nothing yet). A later ``forecast_many`` starts a new pool."""
    global _POOL, _POOL_WORKERS
    with _POOL_LOCK:
        pool, _POOL, _POOL_WORKERS = _POOL, None, 0
    if pool is None:
        return
    if terminate:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def forecast_one(
    values: Sequence[float] | np.ndarray, *, horizon: int, season: int, method: str = "auto"
) -> SeriesForecast:
    return forecast_many([values], horizon=horizon, season=season, method=method, workers=1)[0]


def forecast_many(
    series: Sequence[Sequence[float] | np.ndarray],
    *,
    horizon: int,
    season: int,
    method: str = "auto",
    workers: int | None = None,
) -> list[SeriesForecast]:
    """Forecast ``horizon`` periods after each series. ``method`` "auto" chooses per series by
    validation; a named candidate is used wherever the history allows it (the result names what
    was used). ``workers`` > 1 spreads large batches over processes (default: every core)."""
    if method != "auto" and method not in FORCEABLE:
        raise ValueError(f"unknown forecasting method {method!r}")
    arrays = [np.asarray(s, dtype=float) for s in series]
    if workers is None:
        workers = default_workers()
    if workers <= 1 or len(arrays) < _PARALLEL_MIN:
        return _forecast_batch(arrays, horizon, season, method)
    size = max(8, math.ceil(len(arrays) / (workers * 4)))
    batches = [arrays[i : i + size] for i in range(0, len(arrays), size)]
    out: list[SeriesForecast] = []
    try:
        pool = _pool(workers)
        futures = [pool.submit(_forecast_batch, b, horizon, season, method) for b in batches]
        for future in futures:
            out.extend(future.result())
    except (BrokenProcessPool, OSError, RuntimeError):
        # A pool that cannot start (no forkserver, a sandbox without semaphores) or that lost
        # a worker must not lose the recompute: the same work runs in this process.
        _reset_pool()
        return _forecast_batch(arrays, horizon, season, method)
    return out


def _reset_pool() -> None:
    global _POOL, _POOL_WORKERS
    with _POOL_LOCK:
        pool, _POOL, _POOL_WORKERS = _POOL, None, 0
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
