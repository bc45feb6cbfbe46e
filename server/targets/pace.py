"""Pace: how much of a month's target should be sold by now.

A straight line (day 7 of 31 → 23 %) calls every rep "behind" on a Monday morning and "ahead"
after a weekend. Sales arrive on working days, unevenly across the week and the month (orders
bunch up before month end). So the expected share of the month by a moment is the sum of the
weights of the days gone, over the weights of the whole month, where a day's weight is:

    0                                   on a weekend day or a holiday,
    weekday factor × part-of-month factor   otherwise,

both factors learned from the scope's own daily sales of the months before (a weekday or a
third of the month that sells twice the average weighs twice as much). Without enough history
both factors are 1: working days, evenly. The day in progress counts by the part of it gone.

Pure functions over dates and numbers: no database, no HTTP."""

from __future__ import annotations

import calendar
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

__all__ = [
    "FLAT",
    "Pace",
    "PaceStatus",
    "Shape",
    "assess",
    "day_weights",
    "expected_share",
    "learn_shape",
    "month_days",
    "month_end",
    "working_days",
]

_PARTS = 3
"""The month in thirds: days 1–10, 11–20 and 21 to the end."""
MIN_HISTORY_DAYS = 40
"""Fewer working days of history than this teach nothing reliable: the shape stays flat."""
ON_TRACK_FROM = 0.9
"""A pace from 90 % of the expected-to-date counts as on track: a day's orders can swing that."""


class PaceStatus(StrEnum):
    AHEAD = "ahead"
    ON_TRACK = "on track"
    BEHIND = "behind"
    NO_TARGET = "no target"


@dataclass(frozen=True)
class Shape:
    weekday: tuple[float, ...]
    """Monday … Sunday."""
    part: tuple[float, ...]
    """First, second and last third of the month."""


FLAT = Shape(weekday=(1.0,) * 5 + (0.0, 0.0), part=(1.0,) * _PARTS)


def month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def month_days(month: date) -> list[date]:
    first = month.replace(day=1)
    return [first + timedelta(days=i) for i in range(month_end(first).day)]


def _part(day: date) -> int:
    return min((day.day - 1) // 10, _PARTS - 1)


def working_days(month: date, holidays: Collection[date] = ()) -> list[date]:
    return [d for d in month_days(month) if d.weekday() < 5 and d not in holidays]


def learn_shape(daily: Mapping[date, float], holidays: Collection[date] = ()) -> Shape:
    """Weekday and part-of-month factors from daily sales (days absent sold nothing). Weekends
    keep weight 0: a quota is paced over working days even if an order lands on a Saturday."""
    if not daily:
        return FLAT
    first, last = min(daily), max(daily)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    working = [d for d in days if d.weekday() < 5 and d not in holidays]
    total = sum(daily.get(d, 0.0) for d in working)
    if len(working) < MIN_HISTORY_DAYS or total <= 0:
        return FLAT
    mean = total / len(working)

    def factor(members: list[date]) -> float:
        if not members:
            return 1.0
        # Shrunk halfway to 1: a factor from a handful of days should not swing the pace.
        raw = sum(daily.get(d, 0.0) for d in members) / len(members) / mean
        return 0.5 + 0.5 * raw

    weekday = tuple(factor([d for d in working if d.weekday() == w]) for w in range(5))
    part = tuple(factor([d for d in working if _part(d) == p]) for p in range(_PARTS))
    return Shape(weekday=(*weekday, 0.0, 0.0), part=part)


def day_weights(month: date, shape: Shape, holidays: Collection[date] = ()) -> dict[date, float]:
    return {
        d: 0.0 if d in holidays else shape.weekday[d.weekday()] * shape.part[_part(d)]
        for d in month_days(month)
    }


def expected_share(
    month: date, now: datetime, shape: Shape = FLAT, holidays: Collection[date] = ()
) -> float:
    """The share of the month's sales expected by ``now`` (a local time): 0 before the month,
    1 after it."""
    weights = day_weights(month, shape, holidays)
    total = sum(weights.values())
    today = now.date()
    if today < month.replace(day=1):
        return 0.0
    if today > month_end(month) or total <= 0:
        return 1.0
    gone = sum(w for d, w in weights.items() if d < today)
    midnight = datetime.combine(today, datetime.min.time(), tzinfo=now.tzinfo)
    day_part = (now - midnight).total_seconds() / 86400
    return min(1.0, (gone + weights[today] * day_part) / total)


@dataclass(frozen=True)
class Pace:
    target: float | None
    actual: float
    share: float
    """Expected share of the month gone, 0–1."""
    expected: float | None
    """What should be sold by now: target × share."""
    attainment: float | None
    """Actual over the whole month's target."""
    pace: float | None
    """Actual over the expected-to-date: 1.0 is exactly on pace."""
    projection: float | None
    """The month's end if the rest of it sells at the pace so far."""
    status: PaceStatus


def assess(target: float | None, actual: float, share: float) -> Pace:
    if target is None or target <= 0:
        return Pace(target, actual, share, None, None, None, None, PaceStatus.NO_TARGET)
    expected = target * share
    pace = actual / expected if expected > 0 else None
    projection = actual / share if share > 0 else None
    if pace is None:
        status = PaceStatus.ON_TRACK
    elif pace >= 1.0:
        status = PaceStatus.AHEAD
    elif pace >= ON_TRACK_FROM:
        status = PaceStatus.ON_TRACK
    else:
        status = PaceStatus.BEHIND
    return Pace(target, actual, share, expected, actual / target, pace, projection, status)
