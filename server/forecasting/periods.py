"""Forecast periods: calendar months and ISO weeks (Monday starts), in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal

__all__ = [
    "GRANULARITIES",
    "Granularity",
    "add_periods",
    "parse_period",
    "period_end",
    "period_label",
    "period_of",
    "periods_between",
    "season_length",
]

Granularity = Literal["month", "week"]
GRANULARITIES: tuple[Granularity, ...] = ("month", "week")


def season_length(granularity: str) -> int:
    return 12 if granularity == "month" else 52


def period_of(moment: date | datetime, granularity: str) -> date:
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date() if moment.tzinfo else moment.date()
    if granularity == "month":
        return moment.replace(day=1)
    return moment - timedelta(days=moment.weekday())


def add_periods(start: date, n: int, granularity: str) -> date:
    if granularity == "month":
        months = start.year * 12 + start.month - 1 + n
        return date(months // 12, months % 12 + 1, 1)
    return start + timedelta(weeks=n)


def period_end(start: date, granularity: str) -> date:
    """The first day after the period."""
    return add_periods(start, 1, granularity)


def periods_between(first: date, last: date, granularity: str) -> int:
    """How many periods from ``first`` to ``last`` (both period starts); negative if before."""
    if granularity == "month":
        return (last.year - first.year) * 12 + last.month - first.month
    return (last - first).days // 7


def period_label(start: date, granularity: str) -> str:
    if granularity == "month":
        return f"{start.year:04d}-{start.month:02d}"
    iso = start.isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


def parse_period(text: str, granularity: str) -> date:
    """``YYYY-MM`` for months, ``YYYY-Www`` (or a date inside the week) for weeks."""
    text = text.strip()
    try:
        if granularity == "month":
            year, month = text.split("-")[:2]
            return date(int(year), int(month), 1)
        if "-W" in text.upper():
            year, week = text.upper().split("-W")
            return date.fromisocalendar(int(year), int(week), 1)
        return period_of(date.fromisoformat(text), "week")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a {granularity} period: {text!r}") from exc
