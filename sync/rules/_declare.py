"""The vocabulary the entity declarations are written in: field policies, reach, delete rules,
events, and the constraints several entities share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

from sync.constraints import (
    Constraint,
    Instant,
    Invariant,
    Money,
    Number,
    Ref,
    Text,
)
from sync.errors import InvalidValue
from sync.machines import MACHINES

__all__ = [
    "AS_PARENT",
    "BODY",
    "CATALOGUE",
    "CITY",
    "COMPUTED",
    "COUNTRY",
    "CURRENCY",
    "EMAIL",
    "ERASED",
    "LABEL",
    "LAT",
    "LON",
    "LWW",
    "METRES",
    "MONEY",
    "NAME",
    "NOTES",
    "NO_DEVICE_DELETE",
    "ONCE",
    "OWN_IN_TERRITORY",
    "PERCENT",
    "PERSON",
    "PHONE",
    "POSTAL",
    "PUBLIC",
    "SERVER",
    "SHORT",
    "USER",
    "WHEN",
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
    "declare",
    "declare_note",
    "delete",
    "erased_value",
    "field_rules",
    "position_together",
    "read",
    "state",
    "states",
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
    adjusted: bool = False
    """The server may store another value than the device sent (a line number moved off a
    taken one); the push's answer then names the value kept."""
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
    """The record a child hangs under: ``fk`` holds its id. A child that may hang under
    records of several entities (an attachment under a visit, a ticket or an order) names the
    parent's entity in the field ``kind``, which may hold one of ``kinds``; ``entity`` is then
    only a label. Every door reads the parent through ``of`` and the entities through
    ``entities``, so the kinds are data: a new one is a change to the declaration alone."""

    entity: str
    fk: str
    kind: str | None = None
    kinds: tuple[str, ...] = ()

    @property
    def entities(self) -> tuple[str, ...]:
        return self.kinds if self.kind is not None else (self.entity,)

    def of(self, values: Mapping[str, Any] | Any) -> tuple[str, str] | None:
        """(entity, id) of the parent ``values`` name; None when they name none, or an entity
        outside the declared kinds."""
        entity = self.entity if self.kind is None else read(values, self.kind)
        parent_id = read(values, self.fk)
        if parent_id is None or entity not in self.entities:
            return None
        return str(entity), str(parent_id)


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
            owner = read(values, name)
            if owner is not None:
                return str(owner)
        return None


def read(values: Mapping[str, Any] | Any, name: str) -> Any:
    return values.get(name) if isinstance(values, Mapping) else getattr(values, name)


PUBLIC = Access(reads=frozenset({Reach.PUBLIC}))

SubjectKind = Literal["contact", "lead", "user"]
"""Whom personal data can be about: a customer's contact person, a lead, one of our users."""


class Erasure(StrEnum):
    """What erasing a data subject does to a record about them."""

    DELETE = "delete"
    """Personal fields blanked and the record deleted: nothing of it needs keeping (a contact,
    a lead)."""
    REDACT = "redact"
    """Personal fields blanked, the record kept: the business must keep it (a visit's place in
    the rep's history)."""
    KEEP = "keep"
    """Kept as it is: the record holds no personal value and proves something the business
    must be able to show (a consent withdrawal)."""


@dataclass(frozen=True)
class Subject:
    """A record is about the data subject of ``kind`` whose id its field ``via`` holds (``id``:
    the record is the subject itself)."""

    kind: SubjectKind
    via: str = "id"


ERASED = "[erased]"
"""What a personal text that may not be empty holds once its subject is erased."""


def erased_value(rule: FieldRule) -> Any:
    """The value a personal field holds after erasure: empty where the field may be, else the
    erased marker (a test holds every personal field of the rulebook to its constraint)."""
    return None if rule.nullable else ERASED


@dataclass(frozen=True)
class EntityRules:
    entity: str
    fields: Mapping[str, FieldRule]
    device_can_create: bool
    device_can_delete: bool
    scope: str
    delete_rule: DeleteRule
    access: Access = PUBLIC
    read_only: bool = False
    append_only: bool = False
    editable_while: EditableWhile | None = None
    parent: Parent | None = None
    notes: tuple[str, ...] = field(default=())
    invariants: tuple[tuple[str, Invariant], ...] = ()
    """Rules over several fields of the record: (what they say, the check)."""
    events: tuple[Event, ...] = ()
    """Business events a write of the record raises (webhooks, the back office feed)."""
    subjects: tuple[Subject, ...] = ()
    """Whom the record's personal data is about: what an export or an erasure of a data
    subject reaches (server/privacy)."""
    erasure: Erasure = Erasure.REDACT
    """What erasing one of its subjects does to the record."""

    @property
    def personal_fields(self) -> tuple[str, ...]:
        """The fields marked personal: exported and blanked for the record's subjects."""
        return tuple(name for name, rule in self.fields.items() if rule.personal)

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


def delete(text: str) -> DeleteRule:
    return DeleteRule(behaviour="delete_wins", text=text)


def field_rules(*groups: tuple[Policy, str] | FieldRule) -> dict[str, FieldRule]:
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


def declare(
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
    subjects: tuple[Subject, ...] = rest.get("subjects", ())
    if marked and not subjects:
        # Personal data is always about someone: export and erasure find it through them.
        raise ValueError(f"{rest['entity']}: personal fields need the subjects they are about")
    if any(s.via != "id" and s.via not in fields for s in subjects):
        raise ValueError(f"{rest['entity']}: a subject names an unknown field")
    folded = {
        name: replace(rule, check=checks[name], nullable=name in nullable, personal=name in marked)
        for name, rule in fields.items()
    }
    return EntityRules(fields=MappingProxyType(folded), **rest)


LWW = Policy.LWW
SERVER = Policy.SERVER_OWNED
ONCE = Policy.WRITE_ONCE
COMPUTED = Policy.COMPUTED


def state(name: str, machine: str) -> FieldRule:
    return FieldRule(name, Policy.STATE_MACHINE, machine=machine, note=f"machine `{machine}`")


def states(machine: str) -> Text:
    return Text(max_length=20, choices=MACHINES[machine].states)


# The constraints fields share. A REST body type is built from these, so a bound lives here
# once (server/<area>/schemas.py reads them through ``sync.rules.field_type``).
NAME = Text(max_length=200, min_length=1)
SHORT = Text(max_length=200, min_length=1)
PERSON = Text(max_length=100, min_length=1)
CITY = Text(max_length=120, min_length=1)
POSTAL = Text(max_length=20, min_length=1)
COUNTRY = Text(max_length=2, pattern=r"^[A-Z]{2}$", hint="an ISO 3166-1 alpha-2 code, e.g. DE")
PHONE = Text(max_length=40, min_length=1)
EMAIL = Text(max_length=200, pattern=r"^[^@\s]+@[^@\s]+$", hint="an e-mail address")
NOTES = Text(max_length=10_000)
BODY = Text(max_length=10_000, min_length=1)
LABEL = Text(max_length=40, min_length=1)
LAT = Number(ge=-90, le=90)
LON = Number(ge=-180, le=180)
METRES = Number(ge=0, le=40_075_000)  # no two points on Earth are further apart
MONEY = Money()
PERCENT = Money(le=Decimal(100))
CURRENCY = Text(max_length=3, pattern=r"^[A-Z]{3}$", hint="an ISO 4217 code, e.g. EUR")
WHEN = Instant()
USER = Ref("user")


def position_together(values: Mapping[str, Any]) -> None:
    """A position fix has both coordinates or neither: half a fix cannot be verified."""
    for lat, lon in (("lat", "lon"), ("check_in_lat", "check_in_lon")):
        has_lat, has_lon = values.get(lat) is not None, values.get(lon) is not None
        if has_lat != has_lon:
            raise InvalidValue(lat if has_lon else lon, f"{lat} and {lon} go together")


NO_DEVICE_DELETE = (
    "A delete by the server (an admin) wins over any concurrent or later update, which is "
    "rejected as `deleted`."
)
CATALOGUE = delete("Only the catalogue's admin deletes; devices evict the record on their pull.")
OWN_IN_TERRITORY = frozenset({Reach.OWNER, Reach.TERRITORY})
AS_PARENT = Access(reads=frozenset({Reach.PARENT}), creates=frozenset({Reach.PARENT}))


def declare_note(entity: str, parent: str) -> EntityRules:
    """An append-only text written under a parent record (a visit's notes, a ticket's
    comments): it follows its parent's reach, its author is whoever wrote it, and it never
    changes once written."""
    fk = f"{parent}_id"
    return declare(
        entity=entity,
        fields=field_rules(
            (ONCE, fk),
            FieldRule("author_id", SERVER, note="whoever wrote it: the server says who"),
            (ONCE, "body"),
        ),
        checks={fk: Ref(parent), "author_id": USER, "body": BODY},
        access=AS_PARENT,
        device_can_create=True,
        device_can_delete=False,
        append_only=True,
        scope=f"Follows its {parent}.",
        delete_rule=delete("Append-only: created once, never changed or deleted through sync."),
        parent=Parent(parent, fk),
    )
