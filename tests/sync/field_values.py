"""Sample records for the rules-table tests: a value in every field, states a device may leave."""

from __future__ import annotations

from typing import Any

from sync.rules import Policy, entity_rules

# A state each machine's record is stored in for these tests, one move a device may make from
# it, and one it may not.
STATE_MOVES = {
    "order": ("draft", "submitted", "accepted"),
    "ticket": ("open", "in_progress", "closed"),
    "visit": ("planned", "in_progress", "completed"),
    "lead": ("assigned", "contacted", "converted"),
    "opportunity": ("prospecting", "qualification", "negotiation"),
}
INITIAL = {
    "order": "draft",
    "ticket": "open",
    "visit": "planned",
    "lead": "new",
    "opportunity": "prospecting",
}
PARENT_STATUS = {"order_line": "draft"}


def base_record(entity: str) -> dict[str, Any]:
    """A stored record with a value in every field, its state one a device may move from."""
    values: dict[str, Any] = {name: f"stored-{name}" for name in entity_rules(entity).fields}
    state = entity_rules(entity).state_field
    if state is not None and state.machine is not None:
        values[state.name] = STATE_MOVES[state.machine][0]
    return values


def creatable_fields(entity: str) -> dict[str, Any]:
    """What a device may send in a create: every field but the server's."""
    fields: dict[str, Any] = {}
    for name, rule in entity_rules(entity).fields.items():
        if rule.policy is Policy.STATE_MACHINE and rule.machine is not None:
            fields[name] = INITIAL[rule.machine]
        elif rule.policy in (Policy.LWW, Policy.WRITE_ONCE):
            fields[name] = f"new-{name}"
    return fields
