"""The conflict rules table: for every synced entity, who may create and delete it, and for every
field, which policy decides a device's write. ``sync.merge`` reads it, ``sync.docgen`` prints it
(docs/conflict-rules.md), the server and the SDK consult it; a test keeps it equal, field for
field, to the server's models.

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

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from sync.errors import UnknownEntity

__all__ = [
    "RULES",
    "DeleteRule",
    "EditableWhile",
    "EntityRules",
    "FieldRule",
    "Parent",
    "Policy",
    "entity_rules",
    "synced_fields",
]


class Policy(StrEnum):
    LWW = "lww"
    SERVER_OWNED = "server_owned"
    STATE_MACHINE = "state_machine"
    WRITE_ONCE = "write_once"
    COMPUTED = "computed"


@dataclass(frozen=True)
class FieldRule:
    name: str
    policy: Policy
    machine: str | None = None
    """For ``state_machine`` fields: the key in ``sync.machines.MACHINES``."""
    note: str = ""


@dataclass(frozen=True)
class DeleteRule:
    behaviour: Literal["delete_wins"]
    text: str


@dataclass(frozen=True)
class EditableWhile:
    """Device edits are accepted only while a status is in ``states``: the record's own status,
    or (``of_parent``) its parent's, which the server passes to ``merge``."""

    states: frozenset[str]
    field: str = "status"
    of_parent: bool = False


@dataclass(frozen=True)
class Parent:
    entity: str
    fk: str


@dataclass(frozen=True)
class EntityRules:
    entity: str
    fields: Mapping[str, FieldRule]
    device_can_create: bool
    device_can_delete: bool
    scope: str
    delete_rule: DeleteRule
    read_only: bool = False
    append_only: bool = False
    editable_while: EditableWhile | None = None
    parent: Parent | None = None
    notes: tuple[str, ...] = field(default=())

    def policy(self, name: str) -> Policy:
        return self.fields[name].policy

    def fields_with(self, policy: Policy) -> tuple[str, ...]:
        return tuple(name for name, rule in self.fields.items() if rule.policy is policy)

    @property
    def state_field(self) -> FieldRule | None:
        for rule in self.fields.values():
            if rule.policy is Policy.STATE_MACHINE:
                return rule
        return None


def _delete(text: str) -> DeleteRule:
    return DeleteRule(behaviour="delete_wins", text=text)


def _fields(*groups: tuple[Policy, str] | FieldRule) -> Mapping[str, FieldRule]:
    out: dict[str, FieldRule] = {}
    for item in groups:
        if isinstance(item, FieldRule):
            rules = [item]
        else:
            policy, names = item
            rules = [FieldRule(name, policy) for name in names.split()]
        for rule in rules:
            if rule.name in out:
                raise ValueError(f"field {rule.name!r} listed twice")
            out[rule.name] = rule
    return MappingProxyType(out)


_LWW = Policy.LWW
_SERVER = Policy.SERVER_OWNED
_ONCE = Policy.WRITE_ONCE
_COMPUTED = Policy.COMPUTED


def _state(name: str, machine: str) -> FieldRule:
    return FieldRule(name, Policy.STATE_MACHINE, machine=machine, note=f"machine `{machine}`")


_NO_DEVICE_DELETE = (
    "A delete by the server (an admin) wins over any concurrent or later update, which is "
    "rejected as `deleted`."
)
_CATALOGUE = _delete("Only the catalogue's admin deletes; devices evict the record on their pull.")

_ENTITIES = (
    EntityRules(
        entity="account",
        fields=_fields(
            (_LWW, "name segment address_line city postal_code country lat lon"),
            FieldRule("visit_radius_m", _SERVER, note="set by admins; drives visit verification"),
            (_LWW, "phone email notes"),
            FieldRule("territory_id", _SERVER, note="moving it re-scopes the account"),
            (_SERVER, "owner_id"),
        ),
        device_can_create=True,
        device_can_delete=False,
        scope="Reps: the accounts of their territory. Managers: their region, read-only.",
        delete_rule=_delete("Devices cannot delete an account. " + _NO_DEVICE_DELETE),
    ),
    EntityRules(
        entity="contact",
        fields=_fields(
            FieldRule("account_id", _ONCE, note="a contact never moves to another account"),
            (_LWW, "first_name last_name title phone email notes"),
        ),
        device_can_create=True,
        device_can_delete=True,
        scope="Follows its account's territory.",
        delete_rule=_delete(
            "Delete wins: a delete is applied even over concurrent edits (they are logged as "
            "conflicts); an edit arriving after the delete is rejected as `deleted`."
        ),
        parent=Parent("account", "account_id"),
    ),
    EntityRules(
        entity="product",
        fields=_fields((_SERVER, "sku name category product_line unit list_price active")),
        device_can_create=False,
        device_can_delete=False,
        read_only=True,
        scope="Every device: the whole catalogue.",
        delete_rule=_CATALOGUE,
    ),
    EntityRules(
        entity="price_list",
        fields=_fields((_SERVER, "name currency")),
        device_can_create=False,
        device_can_delete=False,
        read_only=True,
        scope="Every device: all price lists.",
        delete_rule=_CATALOGUE,
    ),
    EntityRules(
        entity="price",
        fields=_fields((_SERVER, "price_list_id product_id unit_price")),
        device_can_create=False,
        device_can_delete=False,
        read_only=True,
        scope="Every device: all prices.",
        delete_rule=_CATALOGUE,
        parent=Parent("price_list", "price_list_id"),
    ),
    EntityRules(
        entity="visit",
        fields=_fields(
            (_ONCE, "account_id rep_id"),
            _state("status", "visit"),
            (_LWW, "planned_for route_position purpose"),
            FieldRule(
                "check_in_at", _ONCE, note="the check-in happens once (append-only in spirit)"
            ),
            (_ONCE, "check_in_lat check_in_lon check_in_accuracy_m"),
            FieldRule("check_out_at", _ONCE, note="the check-out happens once"),
            (_ONCE, "outcome"),
            (_LWW, "notes"),
            (_ONCE, "duration_s"),
            FieldRule("distance_m", _COMPUTED, note="recomputed from the fix (sync.domain.visits)"),
            (_COMPUTED, "verified verification_score flags"),
        ),
        device_can_create=True,
        device_can_delete=False,
        scope="The rep's own visits. Managers: their region's, read-only.",
        delete_rule=_delete(
            "Devices cannot delete a visit; they cancel it (status `cancelled`). "
            + _NO_DEVICE_DELETE
        ),
    ),
    EntityRules(
        entity="visit_note",
        fields=_fields((_ONCE, "visit_id author_id body")),
        device_can_create=True,
        device_can_delete=False,
        append_only=True,
        scope="Follows its visit.",
        delete_rule=_delete("Append-only: created once, never changed or deleted through sync."),
        parent=Parent("visit", "visit_id"),
    ),
    EntityRules(
        entity="order",
        fields=_fields(
            (_ONCE, "account_id rep_id"),
            FieldRule("price_list_id", _ONCE, note="prices come from this list"),
            _state("status", "order"),
            (_LWW, "currency"),
            FieldRule("subtotal", _COMPUTED, note="priced by the server (sync.domain.pricing)"),
            (_COMPUTED, "discount_total total"),
            FieldRule("client_total", _COMPUTED, note="the device's own total, kept for the diff"),
            FieldRule("repricing", _COMPUTED, note="old/new totals when prices changed offline"),
            (_LWW, "notes"),
            FieldRule("submitted_at", _COMPUTED, note="stamped when the status becomes submitted"),
            (_SERVER, "status_changed_at status_reason"),
            FieldRule("erp_ref", _SERVER, note="written back by the back office"),
        ),
        device_can_create=True,
        device_can_delete=True,
        editable_while=EditableWhile(frozenset({"draft"})),
        scope="The rep's own orders. Managers: their region's, read-only.",
        delete_rule=_delete(
            "Devices may delete a draft only; a submitted order is never deleted, only "
            "cancelled by the back office. Delete wins over concurrent edits of the draft."
        ),
        notes=(
            "Editable by devices only while `draft` (or when the same mutation moves a "
            "`rejected` order back to `draft`); any other change to a non-draft order is "
            "rejected `illegal_transition` with the current status.",
        ),
    ),
    EntityRules(
        entity="order_line",
        fields=_fields(
            FieldRule("order_id", _ONCE, note="a line never moves to another order"),
            (_LWW, "product_id line_no quantity"),
            FieldRule("unit_price", _COMPUTED, note="from the order's price list"),
            (_LWW, "discount_pct"),
            (_COMPUTED, "line_total"),
        ),
        device_can_create=True,
        device_can_delete=True,
        editable_while=EditableWhile(frozenset({"draft"}), of_parent=True),
        scope="Follows its order.",
        delete_rule=_delete("Devices delete lines of a draft order only; delete wins."),
        parent=Parent("order", "order_id"),
        notes=(
            "Created, changed and deleted by devices only while the parent order is `draft`: "
            "a device that creates and submits an order offline sends the order as `draft`, "
            "then its lines, then the move to `submitted`.",
        ),
    ),
    EntityRules(
        entity="ticket",
        fields=_fields(
            (_ONCE, "account_id opened_by_id"),
            FieldRule("assignee_id", _SERVER, note="assigned by managers or the back office"),
            (_LWW, "subject description category priority"),
            _state("status", "ticket"),
            FieldRule("resolved_at", _COMPUTED, note="stamped when the status becomes resolved"),
        ),
        device_can_create=True,
        device_can_delete=False,
        scope="Tickets the rep opened, and those of the accounts of the rep's territory. "
        "Managers: their region's, read-only.",
        delete_rule=_delete("Devices cannot delete a ticket; they close it. " + _NO_DEVICE_DELETE),
    ),
    EntityRules(
        entity="ticket_comment",
        fields=_fields((_ONCE, "ticket_id author_id body")),
        device_can_create=True,
        device_can_delete=False,
        append_only=True,
        scope="Follows its ticket.",
        delete_rule=_delete("Append-only: created once, never changed or deleted through sync."),
        parent=Parent("ticket", "ticket_id"),
    ),
    EntityRules(
        entity="lead",
        fields=_fields(
            (_LWW, "company contact_name email phone address_line city postal_code country"),
            (_LWW, "lat lon notes"),
            FieldRule("source", _ONCE, note="api, import or field"),
            (_LWW, "product_line language"),
            FieldRule("region_id", _SERVER, note="decided by the assignment engine"),
            _state("status", "lead"),
            (_ONCE, "captured_by_id"),
            FieldRule("assignee_id", _SERVER, note="the assignment engine or a manager"),
            (_SERVER, "assigned_at assignment_kind unassigned_reason first_touch_due_at"),
            FieldRule("contacted_at", _COMPUTED, note="stamped when the status becomes contacted"),
        ),
        device_can_create=True,
        device_can_delete=False,
        scope="The lead's assignee (the capturing rep until it is assigned). Managers: their "
        "region's, read-only.",
        delete_rule=_delete(
            "Devices cannot delete a lead; they disqualify it. " + _NO_DEVICE_DELETE
        ),
    ),
    EntityRules(
        entity="opportunity",
        fields=_fields(
            (_ONCE, "account_id owner_id"),
            (_LWW, "name"),
            _state("stage", "opportunity"),
            (_LWW, "amount close_date forecast_category"),
            FieldRule("closed_at", _COMPUTED, note="stamped when the stage becomes closed_*"),
        ),
        device_can_create=True,
        device_can_delete=False,
        scope="The owner's opportunities. Managers: their region's, read-only.",
        delete_rule=_delete(
            "Devices cannot delete an opportunity; they close it lost. " + _NO_DEVICE_DELETE
        ),
    ),
)

RULES: Mapping[str, EntityRules] = MappingProxyType({rules.entity: rules for rules in _ENTITIES})


def entity_rules(entity: str) -> EntityRules:
    try:
        return RULES[entity]
    except KeyError:
        raise UnknownEntity(entity) from None


def synced_fields(entity: str) -> tuple[str, ...]:
    """Every field the table covers for ``entity``, in model order (what a pulled change
    carries besides id, version and timestamps)."""
    return tuple(entity_rules(entity).fields)
