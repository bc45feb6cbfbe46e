"""Numbers, money, dates and distances as each locale writes them (through Babel), and typed
amounts read back by the same locale, with plausibility bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from server.web.formatting import InputError, formatter_for

GERMAN = formatter_for("de-DE", "Europe/Berlin")
ENGLISH = formatter_for("en", "Europe/Berlin")


def test_money_is_written_the_locales_way_in_whole_euros() -> None:
    assert GERMAN.money(125_000.4) == "125.000\xa0€"
    assert ENGLISH.money(125_000.4) == "€125,000"


def test_compact_money_abbreviates_only_where_the_locale_does() -> None:
    assert ENGLISH.money(220_000, True) == "€220K"
    assert GERMAN.money(220_000, True) == "220.000\xa0€"  # German has no short thousands
    assert GERMAN.money(1_234_567, True) == "1,2\xa0Mio.\xa0€"


def test_percentages_and_numbers_follow_the_locale() -> None:
    assert GERMAN.pct(0.032) == "3,2\xa0%"
    assert ENGLISH.pct(0.12, True) == "+12.0%"
    assert GERMAN.num(2.3441175482727163) == "2,34"


def test_distances_read_in_metres_then_kilometres() -> None:
    assert GERMAN.distance(850) == "850 m"
    assert GERMAN.distance(2352) == "2,4 km"
    assert ENGLISH.distance(2352) == "2.4 km"


def test_times_are_shown_in_the_pages_time_zone() -> None:
    moment = datetime(2026, 12, 7, 14, 5, tzinfo=UTC)
    assert GERMAN.when(moment) == "7. Dez. 2026, 15:05"
    assert ENGLISH.when(moment) == "Dec 7, 2026, 15:05"
    assert GERMAN.month(date(2026, 12, 1)) == "Dez. 2026"


@pytest.mark.parametrize(
    ("formatter", "typed", "value"),
    [
        (GERMAN, "125.000", 125_000.0),
        (GERMAN, "1.234,56", 1_234.56),
        (GERMAN, "125000", 125_000.0),
        (GERMAN, "125.000 €", 125_000.0),
        (ENGLISH, "125,000", 125_000.0),
        (ENGLISH, "1,234.56", 1_234.56),
    ],
)
def test_a_typed_amount_is_read_by_the_locale_it_was_typed_in(
    formatter: object, typed: str, value: float
) -> None:
    assert formatter.parse_amount(typed) == value  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("1e300", "not a plausible amount"),
        ("10000000000000", "not a plausible amount"),
        ("-1", "cannot be negative"),
        ("12.34.5", "write it like 125.000 / 1.234,56"),
        ("abc", "is not a number"),
        ("NaN", "is not a number"),
        ("", "Enter an amount"),
    ],
)
def test_an_implausible_or_unreadable_amount_is_refused_with_a_message(
    typed: str, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        GERMAN.parse_amount(typed)
