"""Numbers, money, dates and distances as the viewer's locale writes them, in the page's time
zone, through Babel (CLDR data) — and what a manager types read back by the same locale, so
"125.000" on a German page is 125,000 and "1.234,56" is 1,234.56.

One ``Formatter`` per request; the Jinja filters of the manager pages call the one in the
template's context."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton, format_timedelta
from babel.numbers import (
    NumberFormatError,
    format_compact_currency,
    format_decimal,
    parse_decimal,
    parse_pattern,
)
from babel.units import format_unit

__all__ = ["LOCALES", "Formatter", "InputError", "formatter_for"]

LOCALES = {"en": "English", "de-DE": "Deutsch"}
"""The locales offered on the pages' language switch (any Babel locale works as the setting)."""


class InputError(ValueError):
    """A typed number the locale cannot read, or one outside plausible bounds; the message is
    for the person who typed it."""


def _locale(tag: str) -> Locale:
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


@dataclass(frozen=True)
class Formatter:
    locale: Locale
    zone: ZoneInfo
    currency: str = "EUR"
    tag: str = "en"

    # --- numbers --------------------------------------------------------------------------

    def money(self, value: float | Decimal | None, compact: bool = False) -> str:
        if value is None:
            return "–"
        amount = float(value)
        if not math.isfinite(amount):
            return "–"
        if compact and abs(amount) >= 1000:
            short = format_compact_currency(
                amount, self.currency, locale=self.locale, fraction_digits=1
            )
            # German (CLDR) abbreviates from a million ("1,2 Mio. €") but not thousands, which
            # come back ungrouped ("220000 €"): then the full, grouped figure reads better.
            if any(ch.isalpha() for ch in short.replace(self.currency, "")):
                return short
        # The locale's own currency pattern, without cents: a sales page speaks whole euros.
        pattern = parse_pattern(self.locale.currency_formats["standard"].pattern)
        pattern.frac_prec = (0, 0)
        return str(
            pattern.apply(round(amount), self.locale, currency=self.currency, currency_digits=False)
        )

    def pct(self, value: float | None, signed: bool = False) -> str:
        if value is None or not math.isfinite(value):
            return "–"
        # The locale's own percent pattern (German puts a space before the sign), one decimal.
        pattern = parse_pattern(self.locale.percent_formats[None].pattern)
        pattern.frac_prec = (1, 1)
        text = str(pattern.apply(value, self.locale))
        return f"+{text}" if signed and value > 0 else text

    def num(self, value: float | None, digits: int = 2) -> str:
        if value is None or not math.isfinite(value):
            return "–"
        fraction = "." + "0" * digits if digits else ""
        return format_decimal(value, f"#,##0{fraction}", locale=self.locale)

    def count(self, value: int | float | None) -> str:
        return "–" if value is None else format_decimal(value, "#,##0", locale=self.locale)

    def distance(self, metres: float | None) -> str:
        """850 m, 2,4 km (de-DE) / 2.4 km (en): a person reads kilometres past one."""
        if metres is None or not math.isfinite(metres):
            return "–"
        if abs(metres) < 1000:
            return format_unit(round(metres), "length-meter", "short", locale=self.locale)
        return format_unit(
            metres / 1000, "length-kilometer", "short", format="#,##0.#", locale=self.locale
        )

    # --- dates ----------------------------------------------------------------------------

    def local(self, value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(self.zone)

    def when(self, value: datetime | None) -> str:
        if value is None:
            return "–"
        local = self.local(value)
        day = format_skeleton("yMMMd", local, locale=self.locale)
        clock = format_skeleton("Hm", local, locale=self.locale)
        return str(self.locale.datetime_formats["medium"]).format(clock, day)

    def day(self, value: date | datetime | None) -> str:
        if value is None:
            return "–"
        if isinstance(value, datetime):
            value = self.local(value)
        return format_skeleton("yMMMd", value, locale=self.locale)

    def short_day(self, value: date) -> str:
        return format_skeleton("MMMd", value, locale=self.locale)

    def month(self, value: date) -> str:
        return format_skeleton("yMMM", value, locale=self.locale)

    def ago(self, value: datetime | None, now: datetime | None = None) -> str:
        if value is None:
            return "–"
        delta = value - (now or datetime.now(UTC))
        if abs(delta) < timedelta(minutes=1):
            delta = timedelta(0)
        return format_timedelta(delta, add_direction=True, locale=self.locale)

    def duration(self, seconds: float | None) -> str:
        if seconds is None:
            return "–"
        return format_timedelta(timedelta(seconds=seconds), locale=self.locale)

    @property
    def zone_name(self) -> str:
        return self.zone.key

    # --- input ----------------------------------------------------------------------------

    def example(self) -> str:
        return f"{self.num(125000, 0)} / {self.num(1234.56)}"

    def parse_amount(self, text: str, *, maximum: float = 1e12) -> float:
        """A typed amount, read by this locale (grouping and decimal marks as written here).
        Refuses what is not a number, negatives, and anything above ``maximum``."""
        cleaned = text.strip().replace("\u00a0", " ").replace(" ", "")
        for symbol in ("€", self.currency):
            cleaned = cleaned.replace(symbol, "")
        if not cleaned:
            raise InputError("Enter an amount.")
        try:
            value = parse_decimal(cleaned, locale=self.locale, strict=True)
        except NumberFormatError as exc:
            raise InputError(
                f"“{text.strip()}” is not a number as written here; write it like {self.example()}."
            ) from exc
        except (InvalidOperation, ValueError) as exc:
            raise InputError(f"“{text.strip()}” is not a number.") from exc
        if not value.is_finite():
            raise InputError(f"“{text.strip()}” is not a number.")
        if value < 0:
            raise InputError("The amount cannot be negative.")
        if value > Decimal(str(maximum)):
            raise InputError(
                f"{self.num(float(value), 0) if value < Decimal('1e30') else text.strip()} is "
                f"not a plausible amount; the most accepted is {self.money(maximum)}."
            )
        return float(value)


def formatter_for(locale_tag: str, zone: str, currency: str = "EUR") -> Formatter:
    try:
        tz = ZoneInfo(zone or "UTC")
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    return Formatter(locale=_locale(locale_tag), zone=tz, currency=currency, tag=locale_tag)
