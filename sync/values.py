"""Values in two forms: what the models hold (``Decimal``, ``datetime``, ``date``) and what the
wire carries (strings for decimals, ISO 8601 text for times). Merge compares a pushed value with
a stored one in whichever form each arrives, and logs values in wire form."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

__all__ = ["same_value", "to_wire"]


def to_wire(value: Any) -> Any:
    """JSON-safe form: decimals as strings, datetimes and dates ISO 8601."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return msgspec.to_builtins(value)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _as_date(value: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


_PLAIN = frozenset({str, int, float, bool})


def same_value(a: Any, b: Any) -> bool:
    """Equality across model and wire forms (``Decimal("2.50")`` equals ``"2.50"`` and ``2.5``;
    a ``datetime`` equals its ISO text); ``True`` never equals ``1``."""
    if a is None or b is None:
        return a is b
    kind = type(a)
    if kind is type(b) and kind in _PLAIN:
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        try:
            return Decimal(str(a)) == Decimal(str(b))
        except InvalidOperation:
            return False
    if isinstance(a, datetime) or isinstance(b, datetime):
        left, right = _as_datetime(a), _as_datetime(b)
        return left is not None and right is not None and left == right
    if isinstance(a, date) or isinstance(b, date):
        left_d, right_d = _as_date(a), _as_date(b)
        return left_d is not None and right_d is not None and left_d == right_d
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return bool(a == b)
