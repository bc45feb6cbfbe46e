"""Pushed field values: converted to the type of the column they land in, checked against the
field's constraint in the rulebook (sync/rules/), and brought to one canonical wire form, so
"12.5" and "12.50" are the same price and a conflict is never declared between two spellings of
one value."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import msgspec
from sqlalchemy import inspect
from sqlalchemy.types import TypeDecorator

from server.sync.entities import JSON_SCALARS, model_for, to_wire
from sync.constraints import check_value
from sync.errors import InvalidValue
from sync.rules import RULES

__all__ = ["FieldError", "coerce", "from_wire"]


FieldError = InvalidValue
"""A pushed value the field may not hold: its column's type, or the rulebook's constraint."""


class _Column(msgspec.Struct, frozen=True):
    python_type: type[Any]
    nullable: bool


@cache
def _columns(entity: str) -> dict[str, _Column]:
    model = model_for(entity)
    assert model is not None
    found: dict[str, _Column] = {}
    for attr in inspect(model).column_attrs:
        column = attr.columns[0]
        # Our TypeDecorators (UTC datetimes, money) take the Python type of what they wrap.
        kind = column.type.impl_instance if isinstance(column.type, TypeDecorator) else column.type
        try:
            python_type = kind.python_type
        except NotImplementedError:
            python_type = object
        found[attr.key] = _Column(python_type, bool(column.nullable))
    return found


def from_wire(entity: str, field: str, value: Any) -> Any:
    """The Python value for column ``field`` (raises FieldError naming the field)."""
    column = _columns(entity).get(field)
    if column is None:
        raise FieldError(field, f"{entity} has no field '{field}'")
    return _convert(column, field, value)


def _convert(column: _Column, field: str, value: Any) -> Any:
    if value is None:
        if not column.nullable:
            raise FieldError(field, f"{field} may not be null")
        return None
    target = column.python_type
    if target is object or target in (dict, list):
        return value
    if type(value) is target and target in JSON_SCALARS:
        # Already the column's type. Lengths and ranges are the rulebook's to check (its
        # bounds fit the columns: tests/server/sync/test_rulebook_fits_the_tables.py).
        if target is float and value != value:  # NaN
            raise FieldError(field, f"{field} must be a number")
        return value
    try:
        converted = msgspec.convert(value, target, strict=False)
    except msgspec.ValidationError as exc:
        raise FieldError(field, f"{field}: {exc}") from exc
    if target is datetime and converted.tzinfo is None:
        raise FieldError(field, f"{field} needs a timezone offset (ISO 8601, e.g. ...Z)")
    if target is Decimal and not converted.is_finite():
        raise FieldError(field, f"{field} must be a finite number")
    if target is float and converted != converted:  # NaN
        raise FieldError(field, f"{field} must be a number")
    if target is date and isinstance(converted, datetime):
        converted = converted.date()
    return converted


def coerce(entity: str, fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pushed fields as (canonical wire values, Python column values), converted once."""
    columns = _columns(entity)
    rules = RULES[entity].fields
    wire: dict[str, Any] = {}
    python: dict[str, Any] = {}
    for name, value in fields.items():
        column = columns.get(name)
        rule = rules.get(name)
        if column is None or rule is None:
            raise FieldError(name, f"{entity} has no field '{name}'")
        if type(value) is str and column.python_type is str:
            # Most pushed values are text bound for a text column: their own wire form.
            check_value(name, rule.check, value, nullable=rule.nullable)
            python[name] = wire[name] = value
            continue
        python[name] = converted = _convert(column, name, value)
        check_value(name, rule.check, converted, nullable=rule.nullable)
        wire[name] = to_wire(converted)
    return wire, python
