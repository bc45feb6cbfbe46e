"""The merge function: one pushed mutation against the stored record → what to write, what was
discarded, or why the mutation is refused.

Theory of operation
-------------------
Field-level last-writer-wins. A record is not one value but a set of fields, each carrying the
clock of its last write: ``(hlc, version)`` — the hybrid-logical-clock stamp of the write and the
record version it produced. An upsert names only the fields the device changed, and each field is
decided on its own, so a rep editing an account's phone and a manager editing its notes at the
same time both keep their edit. When two writes hit the *same* field, the greater HLC wins
(encoded stamps compare as text; the node — device id or a server process's node — breaks
ties), whatever the order in which they reach the server. That makes the result independent of
arrival order: replicas that have seen the same writes hold the same values. (For that to hold,
a newer write of the value a field already has still advances the field's clock, though it
changes nothing.)

Concurrency via ``base_version``. A mutation carries the record version the device had when it
made the edit. A stored field whose clock version is greater than that was written by someone
else after the device last looked: the two writes are *concurrent*, and whichever loses is a
conflict worth telling someone about — a ``Discard`` for the conflict log, sent to the losing
device on its next pull. A write the device made after seeing the current value is a deliberate
overwrite, not a conflict, and is logged as nothing. Writes from the same node are never
concurrent with each other (a device's outbox is sequential). Because the server's clock
receives every (bounded) stamp it stores and hands its stamp to devices on every push and pull,
an edit made after seeing a value always carries a greater stamp than that value; should the
stamps disagree with ``base_version`` anyway, the greater stamp still wins and the discarded value
is logged, so nothing is ever dropped silently.

Delete wins. A delete tombstones the record even when other fields changed concurrently (those
values are logged as discarded by ``delete_wins``), and an upsert that reaches a tombstone is
rejected ``deleted`` rather than resurrecting the record. Resurrection would have to invent the
fields the delete removed, and a rep who deleted a contact expects it to stay deleted; a rep
whose edit lost learns it through the rejection. Which entities a device may delete at all is in
the rules table.

The other policies (server-owned, write-once, state machine, computed, append-only, editable
only in some states) are refusals or silent drops decided before any clock is compared; a refused
mutation writes nothing, so a client transaction can be rejected whole.

Actors. ``merge`` judges pushes. For a device-side actor (``device``, or a manager's device) the
ownership rules bind: read-only entities, server-owned fields, computed fields, who may create or
delete, editable-while. For ``backoffice``, ``server`` and ``admin`` they do not — those writers
own those fields — but state machines (for their role), write-once fields, delete-wins and LWW
still do. The server bounds every device stamp (``sync.clock.bound``) before calling ``merge``.

Values. ``Stored.fields`` may hold model values (``Decimal``, ``datetime``) or their wire form
(strings); comparisons go through ``same_value``, which treats the two alike. Values in a
``Discard`` or a ``Rejection.current`` are converted to their JSON-safe wire form.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

import msgspec

from sync.clock import Hlc
from sync.errors import IllegalTransition, UnknownEntity
from sync.machines import ActorOrAdmin, check_transition
from sync.messages import Delete, RejectReason, Upsert
from sync.rules import EntityRules, Policy, entity_rules
from sync.values import same_value, to_wire

__all__ = [
    "DELETED_KEY",
    "Clock",
    "Discard",
    "Rejection",
    "Resolution",
    "Stored",
    "apply_server_write",
    "dump_clocks",
    "load_clocks",
    "merge",
    "same_value",
    "server_write",
    "to_wire",
]

Clock = tuple[str, int]
"""(encoded HLC, record version at which the field was written)."""

DELETED_KEY = "_deleted"
"""Key of the delete's clock in a stored clock map."""

_NO_CLOCK: Clock = ("", 0)
# Enum member lookups are slow on the hot path; compare against these by identity.
_LWW = Policy.LWW
_SERVER_OWNED = Policy.SERVER_OWNED
_STATE_MACHINE = Policy.STATE_MACHINE
_WRITE_ONCE = Policy.WRITE_ONCE
_COMPUTED = Policy.COMPUTED
_DEVICE_SIDE = frozenset({"device", "manager", "admin"})
"""Actors whose writes arrive as device pushes. An admin's device reaches every record but is
held to the device rules: server-owned fields change only through the server's own doors
(REST, the back office), so a push and a REST call never decide one field differently."""
_LOGGED_ON_DELETE = frozenset({_LWW, _WRITE_ONCE, _STATE_MACHINE})
_LOGGED_ON_SERVER_WRITE = frozenset({_LWW, _SERVER_OWNED})
"""Server-side writers own server-owned fields, which are last-writer-wins between them."""


# Structs rather than dataclasses: merge builds several per pushed mutation, and a frozen
# dataclass costs ten times as much to construct.
class Stored(msgspec.Struct, frozen=True):
    fields: Mapping[str, Any]
    clocks: Mapping[str, Clock]
    """Per-field clocks; a field missing here was written before clocks: ``("", 0)``."""
    version: int
    deleted: bool = False
    deleted_clock: Clock | None = None


class Discard(msgspec.Struct, frozen=True):
    field: str
    kept: Any
    discarded: Any
    kept_hlc: str | None
    discarded_hlc: str | None
    kept_origin: str | None
    discarded_origin: str | None
    rule: str


class Rejection(msgspec.Struct, frozen=True):
    reason: RejectReason
    detail: str
    field: str | None = None
    current: dict[str, Any] | None = None


class Resolution(msgspec.Struct, frozen=True):
    outcome: Literal["applied", "merged", "rejected", "noop"]
    write: dict[str, Any]
    """Field values to store (a create: every field given, less computed ones)."""
    clocks: dict[str, Clock]
    """The full clock map to store: the old one with the written fields' clocks replaced."""
    discarded: list[Discard]
    rejection: Rejection | None = None
    delete: bool = False
    create: bool = False
    resolved: dict[str, Any] = {}
    """Every field the mutation named → its value after the merge (what ``Merged.fields``
    reports; computed fields show the stored value, before the server recomputes them)."""
    deleted_clock: Clock | None = None

    @property
    def changed(self) -> bool:
        """True when the record must be written (and its version bumped)."""
        return bool(self.write) or self.delete


def load_clocks(raw: Mapping[str, Any] | None) -> dict[str, Clock]:
    """A stored clock map (JSON: ``{"field": [hlc, version]}``) as ``Clock`` tuples."""
    out: dict[str, Clock] = {}
    for name, value in (raw or {}).items():
        if (
            not isinstance(value, list | tuple)
            or len(value) != 2
            or not isinstance(value[0], str)
            or not isinstance(value[1], int)
            or isinstance(value[1], bool)
        ):
            raise ValueError(f"malformed clock for {name!r}: {value!r}")
        out[name] = (value[0], value[1])
    return out


def dump_clocks(clocks: Mapping[str, Clock]) -> dict[str, list[str | int]]:
    return {name: [hlc, version] for name, (hlc, version) in clocks.items()}


_NODE_AT = len(Hlc(0, 0, "n").encode()) - 1


def _node_of(hlc: str) -> str | None:
    # Encoded stamps are fixed width up to the node; slicing spares a parse per field.
    if len(hlc) > _NODE_AT and hlc[_NODE_AT - 1] == "-" and hlc[_NODE_AT - 7] == "-":
        return hlc[_NODE_AT:]
    return None


def _concurrent(clock: Clock, base_version: int, node: str | None) -> bool:
    return clock[1] > base_version and _node_of(clock[0]) != node


@lru_cache(maxsize=64)
def _plain_on_create(entity: str, device_side: bool) -> frozenset[str]:
    """Fields whose value a create stores as given, with no rule to check for this actor."""
    checked = {_STATE_MACHINE, _COMPUTED} | ({_SERVER_OWNED} if device_side else set())
    return frozenset(
        name
        for name, rule in entity_rules(entity).fields.items()
        if rule.policy not in checked or (rule.policy is _STATE_MACHINE and rule.machine is None)
    )


def _reject(
    stored: Stored | None,
    reason: RejectReason,
    detail: str,
    *,
    field: str | None = None,
    current: dict[str, Any] | None = None,
) -> Resolution:
    wire_current = None if current is None else {k: to_wire(v) for k, v in current.items()}
    return Resolution(
        outcome="rejected",
        write={},
        clocks={} if stored is None else dict(stored.clocks),
        discarded=[],
        rejection=Rejection(reason, detail, field, wire_current),
    )


def merge(
    entity: str,
    stored: Stored | None,
    mutation: Upsert | Delete,
    *,
    actor: ActorOrAdmin = "device",
    parent_status: str | None = None,
    new_version: int,
) -> Resolution:
    try:
        rules = entity_rules(entity)
    except UnknownEntity as exc:
        return _reject(stored, "unknown_entity", exc.detail)
    device_side = actor in _DEVICE_SIDE
    if rules.read_only and device_side:
        return _reject(stored, "read_only", f"devices cannot write {entity} records")
    try:
        Hlc.parse(mutation.hlc)
    except ValueError as exc:
        return _reject(stored, "validation", str(exc))
    context = _Context(rules, stored, actor, device_side, parent_status, new_version)
    match mutation:
        case Delete():
            return context.delete(mutation)
        case Upsert():
            return context.upsert(mutation)


class _Context(msgspec.Struct, frozen=True):
    rules: EntityRules
    stored: Stored | None
    actor: ActorOrAdmin
    device_side: bool
    parent_status: str | None
    new_version: int

    @property
    def entity(self) -> str:
        return self.rules.entity

    def reject(
        self,
        reason: RejectReason,
        detail: str,
        *,
        field: str | None = None,
        current: dict[str, Any] | None = None,
    ) -> Resolution:
        return _reject(self.stored, reason, detail, field=field, current=current)

    def parent_guard(self) -> Resolution | None:
        """For children editable only while their parent is in some state (order lines)."""
        guard = self.rules.editable_while
        if not self.device_side or guard is None or not guard.of_parent:
            return None
        parent = self.rules.parent
        parent_name = parent.entity if parent else "parent"
        if self.parent_status is None:
            return self.reject(
                "validation",
                f"{self.entity} needs its {parent_name}, which the server does not have",
                field=parent.fk if parent else None,
            )
        if self.parent_status not in guard.states:
            return self.reject(
                "illegal_transition",
                f"{self.entity} can change only while its {parent_name} is "
                f"{_states(guard.states)}; it is {self.parent_status!r}",
                current={guard.field: self.parent_status},
            )
        return None

    def own_state_guard(
        self, stored: Stored, edits: list[str], new_state: Any, *, deleting: bool = False
    ) -> Resolution | None:
        """For records editable only in some states of their own (orders): edits other than the
        state move itself need the record in such a state, before or after this mutation's move
        (a rejected order amended back to draft)."""
        guard = self.rules.editable_while
        if not self.device_side or guard is None or guard.of_parent:
            return None
        if not edits and not deleting:
            return None
        now = stored.fields.get(guard.field)
        if now in guard.states or (new_state is not None and new_state in guard.states):
            return None
        action = "deleted" if deleting else f"edited ({', '.join(edits)})"
        return self.reject(
            "illegal_transition",
            f"{self.entity} can be {action} only while {_states(guard.states)}; it is {now!r}",
            field=edits[0] if edits else None,
            current={guard.field: now},
        )

    def locked(self, stored: Stored) -> bool:
        """True when the editable-while guard would refuse any device edit right now."""
        return (
            self.parent_guard() is not None
            or self.own_state_guard(stored, [], None, deleting=True) is not None
        )

    def delete(self, mutation: Delete) -> Resolution:
        stored = self.stored
        if stored is None:
            return self.reject("unknown_record", f"no {self.entity} {mutation.id} to delete")
        if stored.deleted:
            return Resolution(
                "noop", {}, dict(stored.clocks), [], deleted_clock=stored.deleted_clock
            )
        if self.rules.append_only:
            return self.reject("validation", f"{self.entity} is append-only: never deleted")
        if self.device_side and not self.rules.device_can_delete:
            return self.reject(
                "validation", f"devices cannot delete {self.entity}: {self.rules.delete_rule.text}"
            )
        if (refusal := self.parent_guard()) is not None:
            return refusal
        if (refusal := self.own_state_guard(stored, [], None, deleting=True)) is not None:
            return refusal
        base = mutation.base_version or 0
        node = _node_of(mutation.hlc)
        discarded: list[Discard] = []
        for name, rule in self.rules.fields.items():
            clock = stored.clocks.get(name, _NO_CLOCK)
            value = stored.fields.get(name)
            if (
                rule.policy in _LOGGED_ON_DELETE
                and value is not None
                and _concurrent(clock, base, node)
            ):
                discarded.append(
                    Discard(
                        field=name,
                        kept=None,
                        discarded=to_wire(value),
                        kept_hlc=mutation.hlc,
                        discarded_hlc=clock[0] or None,
                        kept_origin=node,
                        discarded_origin=_node_of(clock[0]),
                        rule="delete_wins",
                    )
                )
        tombstone: Clock = (mutation.hlc, self.new_version)
        clocks = {**stored.clocks, DELETED_KEY: tombstone}
        return Resolution("applied", {}, clocks, discarded, delete=True, deleted_clock=tombstone)

    def upsert(self, mutation: Upsert) -> Resolution:
        if not self.rules.fields.keys() >= mutation.fields.keys():
            unknown = [name for name in mutation.fields if name not in self.rules.fields]
            return self.reject(
                "validation", f"{self.entity} has no field {unknown[0]!r}", field=unknown[0]
            )
        stored = self.stored
        if stored is None:
            return self.create(mutation)
        if stored.deleted:
            return self.reject(
                "deleted",
                f"{self.entity} {mutation.id} was deleted; delete wins over later edits",
                current={"deleted": True},
            )
        if self.rules.append_only:
            for name, value in mutation.fields.items():
                if not same_value(value, stored.fields.get(name)):
                    return self.reject(
                        "validation",
                        f"{self.entity} is append-only: {name} cannot change once created",
                        field=name,
                    )
            resolved = {name: stored.fields.get(name) for name in mutation.fields}
            return Resolution("noop", {}, dict(stored.clocks), [], resolved=resolved)
        return self.update(stored, mutation)

    def create(self, mutation: Upsert) -> Resolution:
        if self.device_side and not self.rules.device_can_create:
            return self.reject("validation", f"devices cannot create {self.entity} records")
        if _plain_on_create(self.rules.entity, self.device_side) >= mutation.fields.keys():
            # No field needs a rule checked: the common create, written as pushed.
            write = dict(mutation.fields)
        else:
            checked = self.checked_create(mutation)
            if isinstance(checked, Resolution):
                return checked
            write = checked
        if (refusal := self.parent_guard()) is not None:
            return refusal
        clocks: dict[str, Clock] = {name: (mutation.hlc, self.new_version) for name in write}
        return Resolution("applied", write, clocks, [], create=True, resolved=dict(write))

    def checked_create(self, mutation: Upsert) -> dict[str, Any] | Resolution:
        """The fields a create writes, each judged by its rule, or the refusal."""
        write: dict[str, Any] = {}
        for name, value in mutation.fields.items():
            rule = self.rules.fields[name]
            policy = rule.policy
            if policy is _COMPUTED:
                continue  # derived by the server whoever sends it, an admin's device too
            if self.device_side and policy is _SERVER_OWNED:
                if value is None:
                    continue
                return self.reject(
                    "server_owned_field",
                    f"{self.entity}.{name} is set by the server, not by devices",
                    field=name,
                    current={name: None},
                )
            if policy is _STATE_MACHINE and rule.machine is not None:
                try:
                    check_transition(rule.machine, None, value, self.actor)
                except IllegalTransition as exc:
                    return self.reject(
                        "illegal_transition", exc.detail, field=name, current={name: None}
                    )
            write[name] = value
        return write

    def update(self, stored: Stored, mutation: Upsert) -> Resolution:
        base = mutation.base_version or 0
        node = _node_of(mutation.hlc)
        write: dict[str, Any] = {}
        discarded: list[Discard] = []
        edits: list[str] = []
        new_state: Any = None
        lost = False
        for name, value in mutation.fields.items():
            rule = self.rules.fields[name]
            current = stored.fields.get(name)
            policy = rule.policy
            if not self.device_side and policy is _SERVER_OWNED:
                policy = _LWW
            if same_value(value, current):
                # An LWW write of the value already there still advances the field's clock when
                # it is newer, so that a concurrent write with a stamp between the two loses in
                # either arrival order. It changes no value, so it is not an edit.
                if policy is _LWW and mutation.hlc > stored.clocks.get(name, _NO_CLOCK)[0]:
                    write[name] = value
                continue
            if policy is _COMPUTED:
                continue
            if policy is _SERVER_OWNED:
                return self.reject(
                    "server_owned_field",
                    f"{self.entity}.{name} is set by the server, not by devices",
                    field=name,
                    current={name: current},
                )
            if policy is _WRITE_ONCE:
                if current is not None:
                    return self.reject(
                        "validation",
                        f"{self.entity}.{name} is write-once: it is already set and cannot change",
                        field=name,
                        current={name: current},
                    )
                write[name] = value
                edits.append(name)
            elif policy is _STATE_MACHINE:
                try:
                    check_transition(rule.machine or self.entity, current, value, self.actor)
                except IllegalTransition as exc:
                    return self.reject(
                        "illegal_transition", exc.detail, field=name, current={name: current}
                    )
                write[name] = value
                new_state = value
            else:
                edits.append(name)
                clock = stored.clocks.get(name, _NO_CLOCK)
                if mutation.hlc > clock[0]:
                    write[name] = value
                    if _concurrent(clock, base, node):
                        discarded.append(
                            Discard(
                                field=name,
                                kept=to_wire(value),
                                discarded=to_wire(current),
                                kept_hlc=mutation.hlc,
                                discarded_hlc=clock[0] or None,
                                kept_origin=node,
                                discarded_origin=_node_of(clock[0]),
                                rule="lww",
                            )
                        )
                else:
                    lost = True
                    discarded.append(
                        Discard(
                            field=name,
                            kept=to_wire(current),
                            discarded=to_wire(value),
                            kept_hlc=clock[0] or None,
                            discarded_hlc=mutation.hlc,
                            kept_origin=_node_of(clock[0]),
                            discarded_origin=node,
                            rule="lww",
                        )
                    )
        if edits or new_state is not None:
            if (refusal := self.parent_guard()) is not None:
                return refusal
            if (refusal := self.own_state_guard(stored, edits, new_state)) is not None:
                return refusal
        elif write and self.locked(stored):
            write.clear()  # clock-only touches of a record the device may no longer edit
        clocks = dict(stored.clocks)
        for name in write:
            clocks[name] = (mutation.hlc, self.new_version)
        resolved = {name: write.get(name, stored.fields.get(name)) for name in mutation.fields}
        outcome: Literal["applied", "merged", "noop"]
        outcome = "merged" if lost else ("applied" if write else "noop")
        return Resolution(outcome, write, clocks, discarded, resolved=resolved)


def _states(states: frozenset[str]) -> str:
    return " or ".join(repr(s) for s in sorted(states))


def apply_server_write(
    entity: str,
    stored: Stored | None,
    changes: Mapping[str, Any],
    *,
    hlc: str,
    new_version: int,
) -> dict[str, Clock]:
    """The clock map after the server, the back office or a manager changed fields directly, so
    later device edits compare against these writes. Fields outside the rules table are
    ignored; a value equal to the stored one keeps its old clock."""
    clocks, _ = server_write(entity, stored, changes, hlc=hlc, new_version=new_version)
    return clocks


def server_write(
    entity: str,
    stored: Stored | None,
    changes: Mapping[str, Any],
    *,
    hlc: str,
    new_version: int,
    base_version: int | None = None,
) -> tuple[dict[str, Clock], list[Discard]]:
    """``apply_server_write``, and the values it overwrote concurrently: with ``base_version``
    (the version the writer last saw, e.g. a REST ``If-Match``), a changed field that someone
    else wrote after that version is a conflict, logged as a device push's would be. The server
    write wins it: ``hlc`` must order after every clock of ``stored`` (the caller observes them
    first), so "later" means later in commit order here too.

    Unlike a push, the writer's node exempts nothing: a device's outbox is sequential, but one
    server process serves many managers at once, so its own earlier write is no proof that this
    writer saw it. Concurrency is the version alone (``_concurrent`` with no node)."""
    rules = entity_rules(entity)
    clocks: dict[str, Clock] = {} if stored is None else dict(stored.clocks)
    discarded: list[Discard] = []
    node = _node_of(hlc)
    for name, value in changes.items():
        rule = rules.fields.get(name)
        if rule is None:
            continue
        if stored is not None and name in stored.fields and same_value(value, stored.fields[name]):
            continue
        clock = clocks.get(name, _NO_CLOCK)
        if (
            stored is not None
            and base_version is not None
            and rule.policy in _LOGGED_ON_SERVER_WRITE
            and _concurrent(clock, base_version, None)
        ):
            discarded.append(
                Discard(
                    field=name,
                    kept=to_wire(value),
                    discarded=to_wire(stored.fields.get(name)),
                    kept_hlc=hlc,
                    discarded_hlc=clock[0] or None,
                    kept_origin=node,
                    discarded_origin=_node_of(clock[0]),
                    rule="lww",
                )
            )
        clocks[name] = (hlc, new_version)
    return clocks, discarded
