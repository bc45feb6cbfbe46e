"""Value constraints: what a field of a synced record may hold, checked the same way by every
door — the SDK before it stores a local write, the server on a sync push, REST bodies (whose
msgspec types are built from the same constraints) and every ORM write as a last line.

A constraint knows nothing of the database: it takes a value in either of its two forms (the
model's Python value, or the wire form: decimals and times as text) and says whether the field
may hold it. Record-level rules that relate two fields (a check-out after its check-in) are
``Invariant`` functions declared next to the entity in ``sync.rules``.

Why bounds that look generous: they exist to keep out what breaks things downstream — a latitude
of 200 that geodesic maths raises on, a 7 MiB note copied to every teammate's tablet, a NUL byte
PostgreSQL's text type refuses, a year 9999 that overflows a time zone conversion — not to
second-guess a rep's data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

import msgspec

from sync.errors import InvalidValue

__all__ = [
    "EARLIEST",
    "LATEST",
    "UUID_PATTERN",
    "Bool",
    "Constraint",
    "Day",
    "Instant",
    "Invariant",
    "Json",
    "Money",
    "Number",
    "Ref",
    "Tags",
    "Text",
    "check_value",
    "describe",
    "msgspec_type",
]

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
"""Canonical lower-case UUID text, as ``sync.ids.new_id`` writes it."""
_UUID = re.compile(UUID_PATTERN)

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""The span of times and dates a record may carry: field sales data is never older than the
business, and a date past 2100 is a typo or an attack, never a plan."""


@dataclass(frozen=True)
class Text:
    max_length: int
    min_length: int = 0
    pattern: str | None = None
    choices: tuple[str, ...] | None = None
    hint: str = ""
    """What the pattern means, for the error message and the API docs."""

    def check(self, field: str, value: Any) -> None:
        if type(value) is not str:
            raise InvalidValue(field, f"{field} must be text")
        if len(value) > self.max_length:
            raise InvalidValue(field, f"{field} is longer than {self.max_length} characters")
        if len(value) < self.min_length:
            raise InvalidValue(
                field,
                f"{field} may not be empty"
                if self.min_length == 1
                else f"{field} is shorter than {self.min_length} characters",
            )
        _check_text(field, value)
        if self.choices is not None and value not in self.choices:
            raise InvalidValue(field, f"{field} must be one of {', '.join(self.choices)}")
        if self.pattern is not None and _compiled(self.pattern).match(value) is None:
            raise InvalidValue(
                field, f"{field} must be {self.hint or 'of the form ' + self.pattern}"
            )


@dataclass(frozen=True)
class Ref:
    """The id of another record (or of this one): canonical UUID text. A writer checks that the
    record exists and is live, unless ``past``: a record that existed may since have been
    deleted (an order line names the suggestion it was taken from, and a rep offline overnight
    pushes it after the nightly job withdrew that suggestion)."""

    entity: str
    past: bool = False

    def check(self, field: str, value: Any) -> None:
        if type(value) is not str or _UUID.match(value) is None:
            raise InvalidValue(field, f"{field} must be a {self.entity} id (lower-case UUID text)")


@dataclass(frozen=True)
class Number:
    ge: float
    le: float
    integer: bool = False

    def check(self, field: str, value: Any) -> None:
        if type(value) is bool or not isinstance(value, int | float):
            raise InvalidValue(field, f"{field} must be a number")
        if self.integer and isinstance(value, float) and not value.is_integer():
            raise InvalidValue(field, f"{field} must be a whole number")
        if value != value or not self.ge <= value <= self.le:  # NaN fails both comparisons
            raise InvalidValue(field, f"{field} must be between {_n(self.ge)} and {_n(self.le)}")


@dataclass(frozen=True)
class Money:
    """A decimal amount (text on the wire, never a float): at most ``places`` decimals."""

    ge: Decimal = Decimal(0)
    le: Decimal = Decimal("999999999999.99")
    places: int = 2

    def check(self, field: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
            raise InvalidValue(field, f'{field} must be a decimal amount as text, e.g. "12.50"')
        try:
            amount = value if isinstance(value, Decimal) else Decimal(value)
        except (InvalidOperation, ValueError):
            raise InvalidValue(field, f'{field} must be a decimal amount, e.g. "12.50"') from None
        if not amount.is_finite() or not self.ge <= amount <= self.le:
            raise InvalidValue(field, f"{field} must be between {self.ge} and {self.le}")
        exponent = amount.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > self.places:
            raise InvalidValue(field, f"{field} has more than {self.places} decimals")


@dataclass(frozen=True)
class Instant:
    """A moment with a time zone (ISO 8601 text on the wire), between EARLIEST and LATEST."""

    def check(self, field: str, value: Any) -> None:
        moment = value
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise InvalidValue(field, f"{field} must be an ISO 8601 time") from None
        if not isinstance(moment, datetime):
            raise InvalidValue(field, f"{field} must be an ISO 8601 time")
        if moment.tzinfo is None:
            raise InvalidValue(field, f"{field} needs a UTC offset (e.g. 2024-05-01T09:30:00Z)")
        if not EARLIEST <= moment < LATEST:
            raise InvalidValue(
                field, f"{field} must lie between {EARLIEST.year} and {LATEST.year - 1}"
            )


@dataclass(frozen=True)
class Day:
    """A calendar date (YYYY-MM-DD on the wire), between EARLIEST and LATEST."""

    def check(self, field: str, value: Any) -> None:
        day = value
        if isinstance(value, str):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise InvalidValue(field, f"{field} must be a date (YYYY-MM-DD)") from None
        if not isinstance(day, date) or isinstance(day, datetime):
            raise InvalidValue(field, f"{field} must be a date (YYYY-MM-DD)")
        if not EARLIEST.date() <= day < LATEST.date():
            raise InvalidValue(
                field, f"{field} must lie between {EARLIEST.year} and {LATEST.year - 1}"
            )


@dataclass(frozen=True)
class Bool:
    def check(self, field: str, value: Any) -> None:
        if type(value) is not bool:
            raise InvalidValue(field, f"{field} must be true or false")


@dataclass(frozen=True)
class Tags:
    """A short list of short labels (visit flags)."""

    max_items: int = 20
    max_length: int = 40

    def check(self, field: str, value: Any) -> None:
        if not isinstance(value, list) or len(value) > self.max_items:
            raise InvalidValue(field, f"{field} must be a list of at most {self.max_items} labels")
        for item in value:
            if type(item) is not str or not 0 < len(item) <= self.max_length:
                raise InvalidValue(field, f"{field} holds labels of 1–{self.max_length} characters")
            _check_text(field, item)


@dataclass(frozen=True)
class Json:
    """A small structured value the server computes (an order's repricing note)."""

    max_bytes: int = 4096

    def check(self, field: str, value: Any) -> None:
        if not isinstance(value, dict):
            raise InvalidValue(field, f"{field} must be an object")
        try:
            size = len(msgspec.json.encode(value))
        except (TypeError, ValueError, RecursionError):
            raise InvalidValue(field, f"{field} is not a JSON object") from None
        if size > self.max_bytes:
            raise InvalidValue(field, f"{field} is larger than {self.max_bytes} bytes")


Constraint = Text | Ref | Number | Money | Instant | Day | Bool | Tags | Json


def describe(constraint: Constraint) -> str:
    """The constraint in words, for the rules page."""
    match constraint:
        case Text(choices=choices) if choices is not None:
            return "one of " + ", ".join(f"`{c}`" for c in choices)
        case Text(min_length=low, max_length=high, hint=hint):
            text = f"text of {low}–{high} characters" if low else f"text of ≤ {high} characters"
            return f"{text}, {hint}" if hint else text
        case Ref(entity=entity, past=past):
            named = f"{'an' if entity[0] in 'aeiou' else 'a'} {entity} id"
            return f"{named}, which may since have been deleted" if past else named
        case Number(ge=low, le=high, integer=whole):
            return f"{'a whole number' if whole else 'a number'} {_n(low)}–{_n(high)}"
        case Money(ge=low, le=high, places=places):
            return f"a decimal {low}–{high}, ≤ {places} decimals"
        case Instant():
            return f"a time with offset, {EARLIEST.year}–{LATEST.year - 1}"
        case Day():
            return f"a date, {EARLIEST.year}–{LATEST.year - 1}"
        case Bool():
            return "true or false"
        case Tags(max_items=items, max_length=length):
            return f"≤ {items} labels of ≤ {length} characters"
        case Json(max_bytes=size):
            return f"an object of ≤ {size} bytes"
    raise AssertionError(constraint)


def check_value(field: str, constraint: Constraint, value: Any, *, nullable: bool) -> None:
    """Raises ``InvalidValue`` naming ``field`` unless ``value`` may be stored in it."""
    if value is None:
        if not nullable:
            raise InvalidValue(field, f"{field} may not be empty")
        return
    constraint.check(field, value)


def _check_text(field: str, value: str) -> None:
    if value.isascii():
        if "\x00" in value:
            raise InvalidValue(field, f"{field} may not contain NUL characters")
        return
    if "\x00" in value:
        raise InvalidValue(field, f"{field} may not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: valid JSON escape, not storable text
        raise InvalidValue(field, f"{field} is not valid Unicode text") from None


_patterns: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    found = _patterns.get(pattern)
    if found is None:
        found = _patterns[pattern] = re.compile(pattern)
    return found


def _n(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


_PYTHON_TYPES: Mapping[type[Any], type[Any]] = {
    Text: str,
    Ref: str,
    Number: float,
    Money: str,
    Instant: datetime,
    Day: date,
    Bool: bool,
    Tags: list,
    Json: dict,
}


def msgspec_type(constraint: Constraint) -> Any:
    """The annotated type a REST body field takes for ``constraint``, so request validation and
    the OpenAPI schema state the rule the rulebook declares. Text gets its lengths, choices and
    pattern, numbers their range; what msgspec cannot express (NUL bytes, date bounds, decimal
    places) is checked by ``check_value`` when the service writes the record."""
    match constraint:
        case Text(choices=choices) if choices is not None:
            return Literal[choices]
        case Text():
            meta = msgspec.Meta(
                min_length=constraint.min_length or None,
                max_length=constraint.max_length,
                pattern=constraint.pattern,
                description=constraint.hint or None,
            )
            return _annotated(str, meta)
        case Ref():
            return _annotated(
                str, msgspec.Meta(pattern=UUID_PATTERN, description="UUID (lower-case text)")
            )
        case Number(integer=True):
            return _annotated(int, msgspec.Meta(ge=int(constraint.ge), le=int(constraint.le)))
        case Number():
            return _annotated(float, msgspec.Meta(ge=constraint.ge, le=constraint.le))
    return _PYTHON_TYPES[type(constraint)]


def _annotated(python_type: type[Any], meta: msgspec.Meta) -> Any:
    return Annotated[python_type, meta]


Invariant = Callable[[Mapping[str, Any]], None]
"""A rule over a whole record's values (wire or Python form); raises ``InvalidValue``."""
