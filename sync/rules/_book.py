"""The rulebook assembled from the areas' declarations, and the checks every door runs with it."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from sync.constraints import check_value, msgspec_type
from sync.errors import InvalidValue, UnknownEntity
from sync.rules import (
    _accounts,
    _attachments,
    _catalogue,
    _leads,
    _opportunities,
    _orders,
    _tickets,
    _visits,
)
from sync.rules._declare import EntityRules

__all__ = [
    "RULES",
    "check_fields",
    "check_record",
    "entity_rules",
    "field_type",
    "synced_fields",
]

RULES: Mapping[str, EntityRules] = MappingProxyType(
    {
        rules.entity: rules
        for area in (
            _accounts,
            _catalogue,
            _visits,
            _orders,
            _tickets,
            _leads,
            _opportunities,
            _attachments,
        )
        for rules in area.ENTITIES
    }
)


def entity_rules(entity: str) -> EntityRules:
    try:
        return RULES[entity]
    except KeyError:
        raise UnknownEntity(entity) from None


def synced_fields(entity: str) -> tuple[str, ...]:
    """Every field the table covers for ``entity``, in model order (what a pulled change
    carries besides id, version and timestamps)."""
    return tuple(entity_rules(entity).fields)


def check_fields(entity: str, values: Mapping[str, Any]) -> None:
    """Raises ``InvalidValue`` for the first value the entity's fields may not hold (an unknown
    field included). ``values`` may be partial (an update) and in wire or Python form."""
    fields = entity_rules(entity).fields
    for name, value in values.items():
        rule = fields.get(name)
        if rule is None:
            raise InvalidValue(name, f"{entity} has no field '{name}'")
        check_value(name, rule.check, value, nullable=rule.nullable)


def check_record(entity: str, values: Mapping[str, Any]) -> None:
    """The entity's invariants over a record's values (as stored after the write)."""
    for _, invariant in entity_rules(entity).invariants:
        invariant(values)


def field_type(entity: str, name: str) -> Any:
    """The msgspec type of a REST body field that holds ``entity.name``, from its constraint
    (so REST validates and documents the bound the rulebook declares)."""
    return msgspec_type(entity_rules(entity).fields[name].check)
