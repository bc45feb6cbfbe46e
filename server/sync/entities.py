"""The syncable entities: wire name → mapped class, and how a row looks on the wire."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, cast

import msgspec
from sqlalchemy import Table, inspect
from sqlalchemy.orm import Mapper

from server.db.base import Base, SyncableMixin

__all__ = [
    "ENVELOPE_FIELDS",
    "INTERNAL_COLUMNS",
    "JSON_SCALARS",
    "entity_of",
    "mapper_of",
    "model_for",
    "syncable_models",
    "synced_columns",
    "table_of",
    "to_wire",
    "wire_record",
]

JSON_SCALARS = frozenset({str, int, float, bool})
"""Types whose values are already their own wire form (a float may still be NaN)."""

INTERNAL_COLUMNS = frozenset({"field_clocks", "deleted_at", "origin_device_id"})
"""Kept by the server for merging and never sent to devices."""
ENVELOPE_FIELDS = ("id", "version", "created_at", "updated_at")
"""Sent with every record, owned by the server."""


@cache
def syncable_models() -> dict[str, type[SyncableMixin]]:
    import server.db.models  # noqa: F401  (registers every mapper)

    found: dict[str, type[SyncableMixin]] = {}
    for mapper in Base.registry.mappers:
        cls = mapper.class_
        if issubclass(cls, SyncableMixin):
            found[cls.__sync_entity__] = cls
    return found


def model_for(entity: str) -> type[SyncableMixin] | None:
    return syncable_models().get(entity)


def mapper_of(model: type[SyncableMixin]) -> Mapper[SyncableMixin]:
    """The mapper of a syncable model (``inspect`` cannot type a class known by its mixin)."""
    mapper: Mapper[SyncableMixin] = inspect(model)
    return mapper


def table_of(model: type[Base] | type[SyncableMixin]) -> Table:
    """The table a model is mapped to."""
    mapper: Mapper[Any] = inspect(model)
    # Typed FromClause, as a class may be mapped to any selectable; ours all map to a Table.
    return cast(Table, mapper.local_table)


def entity_of(obj: object) -> str | None:
    return getattr(type(obj), "__sync_entity__", None) if isinstance(obj, SyncableMixin) else None


@cache
def synced_columns(entity: str) -> tuple[str, ...]:
    """Column attributes a device may see (the rules table in sync/rules.py covers exactly
    these; a test keeps the two in step)."""
    model = syncable_models()[entity]
    names = [c.key for c in inspect(model).column_attrs]
    return tuple(n for n in names if n not in INTERNAL_COLUMNS and n not in ENVELOPE_FIELDS)


def to_wire(value: Any) -> Any:
    """JSON-safe: decimals as strings, datetimes ISO 8601 (UTC), dates YYYY-MM-DD."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return msgspec.to_builtins(value)


def wire_record(obj: Any, entity: str | None = None) -> dict[str, Any]:
    """The wire form of a record: a mapped object, or a Core row of its table (``entity``
    given)."""
    entity = entity or type(obj).__sync_entity__
    # Loaded and assigned attributes sit in the instance dict; reading them there skips the
    # ORM's descriptor, which matters at thousands of records per request.
    state = getattr(obj, "__dict__", None) or {}
    data = {}
    global _last_wired
    for name in _wire_names(entity):
        value = state[name] if name in state else getattr(obj, name)
        if value is None or type(value) in JSON_SCALARS:
            data[name] = value
            continue
        if type(value) is not datetime:
            data[name] = to_wire(value)
            continue
        # Records written together share their timestamps (one object per flush): the last
        # instant converted is kept, as one tuple so that another thread sees a matching pair.
        seen, wired = _last_wired
        if value is not seen:
            wired = to_wire(value)
            _last_wired = (value, wired)
        data[name] = wired
    return data


_last_wired: tuple[datetime | None, Any] = (None, None)


@cache
def _wire_names(entity: str) -> tuple[str, ...]:
    return ENVELOPE_FIELDS + synced_columns(entity)
