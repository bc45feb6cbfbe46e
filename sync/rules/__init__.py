"""The rulebook: one declaration per synced entity, written by its area (``_accounts``,
``_visits``, ``_orders``…): its fields with their policy and constraint, who reads, creates and
owns it, its parent, its invariants and business events. Every door reads these — REST, the
sync push and pull, the SDK, the manager pages and the back office — so they decide alike.
``sync.merge`` reads the field policies, ``sync.docgen`` prints it all
(docs/conflict-rules.md), and a test keeps it equal, field for field, to the server's models.

Adding a synced entity: a declaration in its area's module here (listed in ``RULES``), its
mapped class and its migration; docs/architecture.md walks through one.

Policies
--------
* ``lww`` — field-level last-writer-wins by hybrid logical clock; the clock's node (device id)
  breaks ties. Concurrent writes to *different* fields of a record both survive.
* ``server_owned`` — only the server, the back office or a manager sets it. A device sending a
  different value has its mutation rejected (``server_owned_field``); an equal value is a no-op.
* ``state_machine`` — moves only along the table in ``sync.machines`` for the writer's role.
* ``write_once`` — set when the record is created (or the first time, while still empty) and
  never changed afterwards; a different later value is rejected (``validation``).
* ``computed`` — the server derives it (totals, verification); what a device sends is ignored,
  never a conflict.
"""

from __future__ import annotations

from sync.rules._book import (
    RULES,
    check_fields,
    check_record,
    entity_rules,
    field_type,
    synced_fields,
)
from sync.rules._declare import (
    ERASED,
    Access,
    DeleteRule,
    EditableWhile,
    EntityRules,
    Erasure,
    Event,
    FieldRule,
    Parent,
    Policy,
    Reach,
    Subject,
    SubjectKind,
    erased_value,
)
from sync.rules._privacy import CHANNELS, PURPOSES, SOURCES, STATUSES

__all__ = [
    "CHANNELS",
    "ERASED",
    "PURPOSES",
    "RULES",
    "SOURCES",
    "STATUSES",
    "Access",
    "DeleteRule",
    "EditableWhile",
    "EntityRules",
    "Erasure",
    "Event",
    "FieldRule",
    "Parent",
    "Policy",
    "Reach",
    "Subject",
    "SubjectKind",
    "check_fields",
    "check_record",
    "entity_rules",
    "erased_value",
    "field_type",
    "synced_fields",
]
