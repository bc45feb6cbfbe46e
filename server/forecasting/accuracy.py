"""Forecast accuracy: MASE, WAPE and bias, and the value added by manual adjustments.

* MASE: mean of |forecast − actual| / scale, the scale being the in-sample mean absolute error of
  the seasonal naive forecast on the history the forecast was made from (so 1.0 means "as good as
  seasonal naive was in-sample"; lower is better). Comparable across reps of any size.
* WAPE: Σ|forecast − actual| / Σ|actual| (undefined when nothing was sold).
* bias: Σ(forecast − actual) / Σ|actual|; positive means over-forecasting.
* value added by adjustments (forecast value added, FVA): error(system) − error(adjusted), over
  the forecasts a manager adjusted, in WAPE and MASE; positive means the adjustments helped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "Metrics",
    "Scored",
    "ValueAdded",
    "bias",
    "group_metrics",
    "mase",
    "metrics",
    "value_added",
    "wape",
]

T = TypeVar("T")


def mase(
    forecasts: Sequence[float], actuals: Sequence[float], scales: Sequence[float | None]
) -> float | None:
    """Forecasts without a scale (made from no history) are left out."""
    errors = [
        abs(f - a) / s
        for f, a, s in zip(forecasts, actuals, scales, strict=True)
        if s is not None and s > 0
    ]
    return sum(errors) / len(errors) if errors else None


def wape(forecasts: Sequence[float], actuals: Sequence[float]) -> float | None:
    denominator = sum(abs(a) for a in actuals)
    if denominator == 0:
        return None
    return sum(abs(f - a) for f, a in zip(forecasts, actuals, strict=True)) / denominator


def bias(forecasts: Sequence[float], actuals: Sequence[float]) -> float | None:
    denominator = sum(abs(a) for a in actuals)
    if denominator == 0:
        return None
    return sum(f - a for f, a in zip(forecasts, actuals, strict=True)) / denominator


@dataclass(frozen=True)
class Scored:
    """One forecast of one method for one period, with what happened."""

    forecast: float
    actual: float
    scale: float | None


@dataclass(frozen=True)
class Metrics:
    n: int
    mase: float | None
    wape: float | None
    bias: float | None


def metrics(items: Iterable[Scored]) -> Metrics:
    rows = list(items)
    f = [r.forecast for r in rows]
    a = [r.actual for r in rows]
    return Metrics(
        n=len(rows), mase=mase(f, a, [r.scale for r in rows]), wape=wape(f, a), bias=bias(f, a)
    )


def group_metrics(
    items: Iterable[T], key: Callable[[T], str], scored: Callable[[T], Scored]
) -> dict[str, Metrics]:
    groups: dict[str, list[Scored]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(scored(item))
    return {k: metrics(v) for k, v in sorted(groups.items())}


@dataclass(frozen=True)
class ValueAdded:
    n: int
    wape: float | None
    mase: float | None


def value_added(pairs: Iterable[tuple[Scored, Scored]]) -> ValueAdded:
    """``pairs`` of (system, adjusted) for the same forecasts."""
    rows = list(pairs)
    system = metrics(s for s, _ in rows)
    adjusted = metrics(a for _, a in rows)

    def diff(x: float | None, y: float | None) -> float | None:
        return None if x is None or y is None else x - y

    return ValueAdded(
        n=len(rows), wape=diff(system.wape, adjusted.wape), mase=diff(system.mase, adjusted.mase)
    )
