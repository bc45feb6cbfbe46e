"""Public holidays: days a sales team does not work, so pace expects nothing of them.

From the ``holidays`` package (a kept library: dozens of countries and their states), named by
the ``FIELDLINE_HOLIDAYS`` setting: a country code, optionally with a subdivision (``DE``,
``DE-HH`` for Hamburg). Empty: weekends only."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date
from functools import lru_cache

import holidays

__all__ = ["public_holidays", "valid_calendar"]

logger = logging.getLogger("fieldline.targets")


@lru_cache(maxsize=64)
def _days(spec: str, years: tuple[int, ...]) -> frozenset[date]:
    country, _, subdiv = spec.strip().upper().partition("-")
    calendar = holidays.country_holidays(country, subdiv=subdiv or None, years=list(years))
    return frozenset(calendar)


def valid_calendar(spec: str) -> bool:
    if not spec.strip():
        return True
    try:
        _days(spec, (2000,))
    except (NotImplementedError, KeyError, ValueError):
        return False
    return True


def public_holidays(spec: str, years: Iterable[int]) -> frozenset[date]:
    """The holidays of ``spec`` in ``years``; none for an empty or unknown calendar (an unknown
    one is logged, not fatal: pace then counts weekdays only)."""
    if not spec.strip():
        return frozenset()
    try:
        return _days(spec, tuple(sorted(set(years))))
    except (NotImplementedError, KeyError, ValueError):
        logger.warning("unknown holiday calendar %r: counting weekdays only", spec)
        return frozenset()
