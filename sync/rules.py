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
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

from sync.constraints import (
    Bool,
    Constraint,
    Day,
    Instant,
    Invariant,
    Json,
    Money,
    Number,
    Ref,
    Tags,
    Text,
    check_value,
    msgspec_type,
)
from sync.errors import InvalidValue, UnknownEntity
from sync.machines import MACHINES

__all__ = [
    "RULES",
    "Access",
    "DeleteRule",
    "EditableWhile",
    "EntityRules",
    "Event",
    "FieldRule",
    "Parent",
    "Policy",
    "Reach",
    "check_fields",
    "check_record",
    "entity_rules",
    "field_type",
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
    check: Constraint = field(default_factory=lambda: Text(max_length=0))
    """What the field may hold (sync.constraints); filled in from the entity's ``checks``."""
    nullable: bool = False
    personal: bool = False
    """Personal data of a person (a contact's name, a rep's position): what an export or an
    erasure of that person covers."""


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


class Reach(StrEnum):
    """One way a record reaches a user (see ``Access``)."""

    PUBLIC = "public"
    """Everyone: the catalogue."""
    OWNER = "owner"
    """The user its owner field names (a rep's own visits, orders, leads)."""
    TERRITORY = "territory"
    """Users of the territory it lies in: its own territory field, or its account's."""
    PARENT = "parent"
    """As its parent record (a contact as its account, a line as its order)."""


@dataclass(frozen=True)
class Access:
    """Who sees and who writes a record, as data. Every door derives its check from this one
    declaration: REST's visibility filter (server/scoping.py), sync scope keys and the push's
    write check (server/access.py), the order in which a device's store indexes its records.

    A rep *reads* a record reached by any of ``reads``; *creates* one only when all of
    ``creates`` hold for the new record (after the server filled in its defaults, e.g. the
    owner); *changes or deletes* what they read, within the field policies. A manager reads
    their region's records (the record's ``region`` field, else the region of its territory,
    else its owner's) and writes through REST only; their devices are read-only. Admins reach
    everything; back-office API keys reach what ``api_scopes`` grant."""

    reads: frozenset[Reach]
    creates: frozenset[Reach] = frozenset()
    owner: tuple[str, ...] = ()
    """Fields naming the owning user, in order: the first one set is the owner (a lead's
    assignee, else whoever captured it while it is unassigned)."""
    territory: str | None = None
    """The field holding the record's territory."""
    account: str | None = None
    """The field holding the account whose territory the record lies in."""
    region: str | None = None
    """The field holding the record's region, where it has one of its own."""
    api_scopes: frozenset[str] = frozenset()
    """API key scopes that read (and, with ``:write``, write) every record of the entity."""

    def owner_of(self, values: Mapping[str, Any] | Any) -> str | None:
        for name in self.owner:
            owner = _read(values, name)
            if owner is not None:
                return str(owner)
        return None


def _read(values: Mapping[str, Any] | Any, name: str) -> Any:
    return values.get(name) if isinstance(values, Mapping) else getattr(values, name)


_PUBLIC = Access(reads=frozenset({Reach.PUBLIC}))


@dataclass(frozen=True)
class EntityRules:
    entity: str
    fields: Mapping[str, FieldRule]
    device_can_create: bool
    device_can_delete: bool
    scope: str
    delete_rule: DeleteRule
    access: Access = _PUBLIC
    read_only: bool = False
    append_only: bool = False
    editable_while: EditableWhile | None = None
    parent: Parent | None = None
    notes: tuple[str, ...] = field(default=())
    invariants: tuple[tuple[str, Invariant], ...] = ()
    """Rules over several fields of the record: (what they say, the check)."""
    events: tuple[Event, ...] = ()
    """Business events a write of the record raises (webhooks, the back office feed)."""

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


@dataclass(frozen=True)
class Event:
    """A business event a write raises: on creation (``created``), on a change of ``field``
    (``changed``), when ``field`` then holds ``value`` (any value when None) other than
    ``unless``. ``field`` None: on creation alone."""

    name: str
    field: str | None = None
    value: str | None = None
    unless: str | None = None
    created: bool = True
    changed: bool = True


def _delete(text: str) -> DeleteRule:
    return DeleteRule(behaviour="delete_wins", text=text)


def _fields(*groups: tuple[Policy, str] | FieldRule) -> dict[str, FieldRule]:
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
    return out


def _entity(
    *,
    fields: dict[str, FieldRule],
    checks: Mapping[str, Constraint],
    optional: str = "",
    personal: str = "",
    **rest: Any,
) -> EntityRules:
    """An entity's rules with each field's constraint, nullability and personal-data mark
    folded into its FieldRule (every field must have a constraint)."""
    if set(checks) != set(fields):
        missing, extra = set(fields) - set(checks), set(checks) - set(fields)
        raise ValueError(f"{rest['entity']}: checks missing for {missing}, unknown {extra}")
    nullable, marked = set(optional.split()), set(personal.split())
    if not nullable <= set(fields) or not marked <= set(fields):
        raise ValueError(f"{rest['entity']}: optional/personal names an unknown field")
    folded = {
        name: replace(rule, check=checks[name], nullable=name in nullable, personal=name in marked)
        for name, rule in fields.items()
    }
    return EntityRules(fields=MappingProxyType(folded), **rest)


_LWW = Policy.LWW
_SERVER = Policy.SERVER_OWNED
_ONCE = Policy.WRITE_ONCE
_COMPUTED = Policy.COMPUTED


def _state(name: str, machine: str) -> FieldRule:
    return FieldRule(name, Policy.STATE_MACHINE, machine=machine, note=f"machine `{machine}`")


def _states(machine: str) -> Text:
    return Text(max_length=20, choices=MACHINES[machine].states)


# The constraints fields share. A REST body type is built from these, so a bound lives here
# once (server/<area>/schemas.py reads them through ``sync.rules.field_type``).
_NAME = Text(max_length=200, min_length=1)
_SHORT = Text(max_length=200, min_length=1)
_PERSON = Text(max_length=100, min_length=1)
_CITY = Text(max_length=120, min_length=1)
_POSTAL = Text(max_length=20, min_length=1)
_COUNTRY = Text(max_length=2, pattern=r"^[A-Z]{2}$", hint="an ISO 3166-1 alpha-2 code, e.g. DE")
_PHONE = Text(max_length=40, min_length=1)
_EMAIL = Text(max_length=200, pattern=r"^[^@\s]+@[^@\s]+$", hint="an e-mail address")
_NOTES = Text(max_length=10_000)
_BODY = Text(max_length=10_000, min_length=1)
_LABEL = Text(max_length=40, min_length=1)
_LAT = Number(ge=-90, le=90)
_LON = Number(ge=-180, le=180)
_METRES = Number(ge=0, le=40_075_000)  # no two points on Earth are further apart
_MONEY = Money()
_PERCENT = Money(le=Decimal(100))
_CURRENCY = Text(max_length=3, pattern=r"^[A-Z]{3}$", hint="an ISO 4217 code, e.g. EUR")
_WHEN = Instant()
_USER = Ref("user")


def _check_out_after_check_in(values: Mapping[str, Any]) -> None:
    check_in, check_out = values.get("check_in_at"), values.get("check_out_at")
    if check_in is None or check_out is None:
        return
    if _moment(check_out) < _moment(check_in):
        raise InvalidValue("check_out_at", "check-out is before check-in")


def _moment(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _position_together(values: Mapping[str, Any]) -> None:
    """A position fix has both coordinates or neither: half a fix cannot be verified."""
    for lat, lon in (("lat", "lon"), ("check_in_lat", "check_in_lon")):
        if lat in values and lon in values and (values[lat] is None) != (values[lon] is None):
            raise InvalidValue(lon if values[lon] is None else lat, f"{lat} and {lon} go together")


_NO_DEVICE_DELETE = (
    "A delete by the server (an admin) wins over any concurrent or later update, which is "
    "rejected as `deleted`."
)
_CATALOGUE = _delete("Only the catalogue's admin deletes; devices evict the record on their pull.")
_OWN_IN_TERRITORY = frozenset({Reach.OWNER, Reach.TERRITORY})
_AS_PARENT = Access(reads=frozenset({Reach.PARENT}), creates=frozenset({Reach.PARENT}))

_ENTITIES = (
    _entity(
        entity="account",
        fields=_fields(
            (_LWW, "name segment address_line city postal_code country lat lon"),
            FieldRule("visit_radius_m", _SERVER, note="set by admins; drives visit verification"),
            (_LWW, "phone email notes"),
            FieldRule("territory_id", _SERVER, note="moving it re-scopes the account"),
            (_SERVER, "owner_id"),
        ),
        checks={
            "name": _NAME,
            "segment": _LABEL,
            "address_line": _SHORT,
            "city": _CITY,
            "postal_code": _POSTAL,
            "country": _COUNTRY,
            "lat": _LAT,
            "lon": _LON,
            "visit_radius_m": Number(ge=1, le=10_000),
            "phone": _PHONE,
            "email": _EMAIL,
            "notes": _NOTES,
            "territory_id": Ref("territory"),
            "owner_id": _USER,
        },
        optional="address_line city postal_code country lat lon phone email notes territory_id "
        "owner_id",
        invariants=(("a position has both lat and lon, or neither", _position_together),),
        access=Access(
            reads=frozenset({Reach.TERRITORY}),
            creates=frozenset({Reach.TERRITORY}),
            territory="territory_id",
        ),
        device_can_create=True,
        device_can_delete=False,
        scope="Reps: the accounts of their territory. Managers: their region, read-only.",
        delete_rule=_delete("Devices cannot delete an account. " + _NO_DEVICE_DELETE),
    ),
    _entity(
        entity="contact",
        fields=_fields(
            FieldRule("account_id", _ONCE, note="a contact never moves to another account"),
            (_LWW, "first_name last_name title phone email notes"),
        ),
        checks={
            "account_id": Ref("account"),
            "first_name": _PERSON,
            "last_name": _PERSON,
            "title": _PERSON,
            "phone": _PHONE,
            "email": _EMAIL,
            "notes": _NOTES,
        },
        optional="title phone email notes",
        personal="first_name last_name title phone email notes",
        access=_AS_PARENT,
        device_can_create=True,
        device_can_delete=True,
        scope="Follows its account's territory.",
        delete_rule=_delete(
            "Delete wins: a delete is applied even over concurrent edits (they are logged as "
            "conflicts); an edit arriving after the delete is rejected as `deleted`."
        ),
        parent=Parent("account", "account_id"),
    ),
    _entity(
        entity="product",
        fields=_fields((_SERVER, "sku name category product_line unit list_price active")),
        checks={
            "sku": Text(max_length=40, min_length=1),
            "name": _NAME,
            "category": Text(max_length=80, min_length=1),
            "product_line": Text(max_length=80, min_length=1),
            "unit": Text(max_length=20, min_length=1),
            "list_price": _MONEY,
            "active": Bool(),
        },
        device_can_create=False,
        device_can_delete=False,
        read_only=True,
        scope="Every device: the whole catalogue.",
        delete_rule=_CATALOGUE,
    ),
    _entity(
        entity="price_list",
        fields=_fields((_SERVER, "name currency")),
        checks={"name": Text(max_length=120, min_length=1), "currency": _CURRENCY},
        device_can_create=False,
        device_can_delete=False,
        read_only=True,
        scope="Every device: all price lists.",
        delete_rule=_CATALOGUE,
    ),
    _entity(
        entity="price",
        fields=_fields((_SERVER, "price_list_id product_id unit_price")),
        checks={
            "price_list_id": Ref("price_list"),
            "product_id": Ref("product"),
            "unit_price": _MONEY,
        },
        device_can_create=False,
        device_can_delete=False,
        read_only=True,
        scope="Every device: all prices.",
        delete_rule=_CATALOGUE,
        parent=Parent("price_list", "price_list_id"),
    ),
    _entity(
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
        checks={
            "account_id": Ref("account"),
            "rep_id": _USER,
            "status": _states("visit"),
            "planned_for": Day(),
            "route_position": Number(ge=0, le=1000, integer=True),
            "purpose": Text(max_length=200, min_length=1),
            "check_in_at": _WHEN,
            "check_in_lat": _LAT,
            "check_in_lon": _LON,
            "check_in_accuracy_m": Number(ge=0, le=100_000),
            "check_out_at": _WHEN,
            "outcome": _LABEL,
            "notes": _NOTES,
            "duration_s": Number(ge=0, le=100 * 365 * 86_400, integer=True),
            "distance_m": _METRES,
            "verified": Bool(),
            "verification_score": Number(ge=0, le=1),
            "flags": Tags(),
        },
        optional="planned_for route_position purpose check_in_at check_in_lat check_in_lon "
        "check_in_accuracy_m check_out_at outcome notes duration_s distance_m verification_score",
        personal="check_in_lat check_in_lon check_in_accuracy_m",
        invariants=(
            ("the check-out is not before the check-in", _check_out_after_check_in),
            ("a position has both coordinates, or neither", _position_together),
        ),
        access=Access(
            reads=frozenset({Reach.OWNER}),
            creates=_OWN_IN_TERRITORY,
            owner=("rep_id",),
            account="account_id",
        ),
        device_can_create=True,
        device_can_delete=False,
        scope="The rep's own visits. Managers: their region's, read-only.",
        delete_rule=_delete(
            "Devices cannot delete a visit; they cancel it (status `cancelled`). "
            + _NO_DEVICE_DELETE
        ),
    ),
    _entity(
        entity="visit_note",
        fields=_fields((_ONCE, "visit_id author_id body")),
        checks={"visit_id": Ref("visit"), "author_id": _USER, "body": _BODY},
        access=_AS_PARENT,
        device_can_create=True,
        device_can_delete=False,
        append_only=True,
        scope="Follows its visit.",
        delete_rule=_delete("Append-only: created once, never changed or deleted through sync."),
        parent=Parent("visit", "visit_id"),
    ),
    _entity(
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
        checks={
            "account_id": Ref("account"),
            "rep_id": _USER,
            "price_list_id": Ref("price_list"),
            "status": _states("order"),
            "currency": _CURRENCY,
            "subtotal": _MONEY,
            "discount_total": _MONEY,
            "total": _MONEY,
            "client_total": _MONEY,
            "repricing": Json(),
            "notes": _NOTES,
            "submitted_at": _WHEN,
            "status_changed_at": _WHEN,
            "status_reason": Text(max_length=500),
            "erp_ref": Text(max_length=80),
        },
        optional="price_list_id client_total repricing notes submitted_at status_changed_at "
        "status_reason erp_ref",
        access=Access(
            reads=frozenset({Reach.OWNER}),
            creates=_OWN_IN_TERRITORY,
            owner=("rep_id",),
            account="account_id",
            api_scopes=frozenset({"orders:read", "orders:write"}),
        ),
        events=(
            Event("order.submitted", field="status", value="submitted"),
            Event("order.status_changed", field="status", unless="submitted", created=False),
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
    _entity(
        entity="order_line",
        fields=_fields(
            FieldRule("order_id", _ONCE, note="a line never moves to another order"),
            (_LWW, "product_id"),
            FieldRule(
                "line_no",
                _LWW,
                note="a new line whose number another line of the order holds takes the next "
                "free one (the answer names it)",
            ),
            (_LWW, "quantity"),
            FieldRule("unit_price", _COMPUTED, note="from the order's price list"),
            (_LWW, "discount_pct"),
            (_COMPUTED, "line_total"),
        ),
        checks={
            "order_id": Ref("order"),
            "line_no": Number(ge=1, le=10_000, integer=True),
            "product_id": Ref("product"),
            "quantity": Number(ge=1, le=100_000, integer=True),
            "unit_price": _MONEY,
            "discount_pct": _PERCENT,
            "line_total": _MONEY,
        },
        access=_AS_PARENT,
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
    _entity(
        entity="ticket",
        fields=_fields(
            (_ONCE, "account_id opened_by_id"),
            FieldRule("assignee_id", _SERVER, note="assigned by managers or the back office"),
            (_LWW, "subject description category priority"),
            _state("status", "ticket"),
            FieldRule("resolved_at", _COMPUTED, note="stamped when the status becomes resolved"),
        ),
        checks={
            "account_id": Ref("account"),
            "opened_by_id": _USER,
            "assignee_id": _USER,
            "subject": _NAME,
            "description": _NOTES,
            "category": _LABEL,
            "priority": Text(max_length=10, choices=("low", "normal", "high", "urgent")),
            "status": _states("ticket"),
            "resolved_at": _WHEN,
        },
        optional="assignee_id description resolved_at",
        access=Access(
            reads=frozenset({Reach.OWNER, Reach.TERRITORY}),
            creates=_OWN_IN_TERRITORY,
            owner=("opened_by_id",),
            account="account_id",
            api_scopes=frozenset({"tickets:read", "tickets:write"}),
        ),
        events=(Event("ticket.opened", changed=False),),
        device_can_create=True,
        device_can_delete=False,
        scope="Tickets the rep opened, and those of the accounts of the rep's territory. "
        "Managers: their region's, read-only.",
        delete_rule=_delete("Devices cannot delete a ticket; they close it. " + _NO_DEVICE_DELETE),
    ),
    _entity(
        entity="ticket_comment",
        fields=_fields((_ONCE, "ticket_id author_id body")),
        checks={"ticket_id": Ref("ticket"), "author_id": _USER, "body": _BODY},
        access=_AS_PARENT,
        device_can_create=True,
        device_can_delete=False,
        append_only=True,
        scope="Follows its ticket.",
        delete_rule=_delete("Append-only: created once, never changed or deleted through sync."),
        parent=Parent("ticket", "ticket_id"),
    ),
    _entity(
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
        checks={
            "company": _NAME,
            # Leads arrive from web forms and CSV imports as well as from reps: their text is
            # taken as it comes (an empty cell is kept), within the columns' bounds.
            "contact_name": Text(max_length=200),
            "email": Text(max_length=200),
            "phone": Text(max_length=40),
            "address_line": Text(max_length=200),
            "city": Text(max_length=120),
            "postal_code": Text(max_length=20),
            "country": Text(max_length=2, pattern=r"^[A-Za-z]{2}$", hint="a two-letter code"),
            "lat": _LAT,
            "lon": _LON,
            "notes": Text(max_length=4000),
            "source": Text(max_length=20, choices=("api", "import", "field")),
            "product_line": Text(max_length=80, min_length=1),
            "language": Text(max_length=10, min_length=2),
            "region_id": Ref("region"),
            "status": _states("lead"),
            "captured_by_id": _USER,
            "assignee_id": _USER,
            "assigned_at": _WHEN,
            "assignment_kind": Text(max_length=20),
            "unassigned_reason": Text(max_length=40),
            "first_touch_due_at": _WHEN,
            "contacted_at": _WHEN,
        },
        optional="contact_name email phone address_line city postal_code country lat lon notes "
        "product_line language region_id captured_by_id assignee_id assigned_at assignment_kind "
        "unassigned_reason first_touch_due_at contacted_at",
        personal="contact_name email phone notes",
        invariants=(("a position has both lat and lon, or neither", _position_together),),
        access=Access(
            reads=frozenset({Reach.OWNER}),
            creates=frozenset({Reach.OWNER}),
            owner=("assignee_id", "captured_by_id"),
            region="region_id",
            api_scopes=frozenset({"leads:read", "leads:write"}),
        ),
        events=(Event("lead.assigned", field="assignee_id"),),
        device_can_create=True,
        device_can_delete=False,
        scope="The lead's assignee (the capturing rep until it is assigned). Managers: their "
        "region's, read-only.",
        delete_rule=_delete(
            "Devices cannot delete a lead; they disqualify it. " + _NO_DEVICE_DELETE
        ),
    ),
    _entity(
        entity="opportunity",
        fields=_fields(
            (_ONCE, "account_id owner_id"),
            (_LWW, "name"),
            _state("stage", "opportunity"),
            (_LWW, "amount close_date forecast_category"),
            FieldRule("closed_at", _COMPUTED, note="stamped when the stage becomes closed_*"),
        ),
        checks={
            "account_id": Ref("account"),
            "owner_id": _USER,
            "name": _NAME,
            "stage": _states("opportunity"),
            "amount": _MONEY,
            "close_date": Day(),
            "forecast_category": Text(max_length=20, choices=("commit", "best_case", "pipeline")),
            "closed_at": _WHEN,
        },
        optional="forecast_category closed_at",
        access=Access(
            reads=frozenset({Reach.OWNER}),
            creates=_OWN_IN_TERRITORY,
            owner=("owner_id",),
            account="account_id",
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
