"""A mutation refused because its record was deleted keeps no personal value in the quarantine:
the subject may have been erased, and the refused edit is personal data about them that arrived
afterwards. The rejection keeps its reason, detail and the names of the fields it changed (the
device keeps the same, client_sdk/records.py ``forget_personal``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from server.sync.models import QuarantinedMutation
from sync.rules import RULES, erased_value

__all__ = ["install"]

_installed = False


def install() -> None:
    """Attach the hook to the quarantine's inserts (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(QuarantinedMutation, "before_insert", _blank_refused)
    _installed = True


def _blank_refused(_mapper: Any, _conn: Any, row: QuarantinedMutation) -> None:
    rules = RULES.get(row.entity)
    if row.reason != "deleted" or rules is None or not rules.personal_fields:
        return
    fields = row.mutation.get("fields") if isinstance(row.mutation, dict) else None
    if not isinstance(fields, dict):
        return
    blanked = {
        name: erased_value(rules.fields[name]) if name in rules.personal_fields else value
        for name, value in fields.items()
    }
    row.mutation = {**row.mutation, "fields": blanked}
