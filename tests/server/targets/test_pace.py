"""Pace: the expected share of a month's target by a moment, from working days and the shape
the scope's own sales history gives the month, and the verdict a manager reads."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from server.targets.calendar import public_holidays, valid_calendar
from server.targets.pace import (
    FLAT,
    PaceStatus,
    assess,
    expected_share,
    learn_shape,
    working_days,
)

BERLIN = ZoneInfo("Europe/Berlin")
DECEMBER = date(2026, 12, 1)


def test_the_expected_share_counts_working_days_not_calendar_days() -> None:
    # Monday 7 December, midnight: Tuesday 1 to Friday 4 are gone, 4 of 23 working days.
    share = expected_share(DECEMBER, datetime(2026, 12, 7, tzinfo=BERLIN))
    assert len(working_days(DECEMBER)) == 23
    assert share == 4 / 23
    assert share != 6 / 31  # the straight line that called everyone behind on a Monday


def test_a_weekend_adds_nothing_to_what_should_be_sold() -> None:
    friday_night = expected_share(DECEMBER, datetime(2026, 12, 5, 0, 0, tzinfo=BERLIN))
    sunday_noon = expected_share(DECEMBER, datetime(2026, 12, 6, 12, 0, tzinfo=BERLIN))
    assert friday_night == sunday_noon


def test_the_day_in_progress_counts_by_the_part_of_it_gone() -> None:
    morning = expected_share(DECEMBER, datetime(2026, 12, 1, 6, 0, tzinfo=BERLIN))
    evening = expected_share(DECEMBER, datetime(2026, 12, 1, 18, 0, tzinfo=BERLIN))
    assert 0 < morning < evening < 1 / 23 + 1e-9


def test_before_the_month_nothing_is_expected_and_after_it_everything() -> None:
    assert expected_share(DECEMBER, datetime(2026, 11, 30, 23, tzinfo=BERLIN)) == 0.0
    assert expected_share(DECEMBER, datetime(2027, 1, 2, tzinfo=BERLIN)) == 1.0


def _history_selling_late_in_the_month() -> dict[date, float]:
    """A year in which the last third of each month sells three times the first two."""
    daily: dict[date, float] = {}
    day = date(2025, 12, 1)
    while day < DECEMBER:
        if day.weekday() < 5:
            daily[day] = 300.0 if day.day > 20 else 100.0
        day += timedelta(days=1)
    return daily


def test_a_month_that_sells_late_expects_less_by_its_middle() -> None:
    shape = learn_shape(_history_selling_late_in_the_month())
    assert shape.part[2] > shape.part[0]
    mid_month = datetime(2026, 12, 19, tzinfo=BERLIN)
    assert expected_share(DECEMBER, mid_month, shape) < expected_share(DECEMBER, mid_month)


def test_too_little_history_keeps_the_month_flat_over_working_days() -> None:
    assert learn_shape({date(2026, 11, 2): 500.0}) == FLAT
    assert learn_shape({}) == FLAT


def test_the_verdict_is_behind_on_track_or_ahead_of_the_expected_to_date() -> None:
    assert assess(10_000, 1_000, 0.2).status is PaceStatus.BEHIND  # 50 % of pace
    assert assess(10_000, 1_900, 0.2).status is PaceStatus.ON_TRACK  # 95 %
    assert assess(10_000, 2_500, 0.2).status is PaceStatus.AHEAD
    figures = assess(10_000, 1_000, 0.2)
    assert (figures.expected, figures.attainment, figures.pace) == (2_000, 0.1, 0.5)
    assert figures.projection == 5_000


def test_without_a_target_there_is_no_verdict() -> None:
    assert assess(None, 1_000, 0.5).status is PaceStatus.NO_TARGET
    assert assess(0, 1_000, 0.5).pace is None


def test_public_holidays_are_no_working_days() -> None:
    german = public_holidays("DE", [2026])
    assert {date(2026, 12, 25), date(2026, 12, 26)} <= german
    assert len(working_days(DECEMBER, german)) == 22  # Friday the 25th is off
    after_christmas = datetime(2026, 12, 28, tzinfo=BERLIN)
    assert expected_share(DECEMBER, after_christmas, FLAT, german) == 18 / 22
    assert expected_share(DECEMBER, after_christmas) == 19 / 23


def test_a_state_adds_its_own_holidays_and_an_unknown_calendar_adds_none() -> None:
    assert date(2026, 10, 31) in public_holidays("DE-HH", [2026])  # Reformation Day, Hamburg
    assert date(2026, 10, 31) not in public_holidays("DE-BY", [2026])
    assert public_holidays("XX", [2026]) == frozenset()
    assert public_holidays("", [2026]) == frozenset()
    assert valid_calendar("DE-HH") and not valid_calendar("XX")
