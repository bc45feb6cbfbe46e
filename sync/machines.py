"""Status state machines, as tables: which moves exist and who may make each.

A machine lists its states in display order, the states a record may be created in (with the
actors allowed to create it so), and every transition with its actors. Staying in the same state
is always allowed (a resent value is a no-op). An ``admin`` acts as any actor.

Actors: ``device`` (a rep's app, through sync or the REST API on the rep's behalf), ``manager``,
``backoffice`` (ERP and invoicing systems through their API key) and ``server`` (the server's own
jobs: lead assignment, SLA re-routing, repricing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from sync.errors import IllegalTransition

__all__ = [
    "ACTORS",
    "LEAD",
    "MACHINES",
    "OPPORTUNITY",
    "ORDER",
    "TICKET",
    "VISIT",
    "Actor",
    "ActorOrAdmin",
    "Machine",
    "Transition",
    "allowed_next",
    "check_transition",
]

Actor = Literal["device", "manager", "backoffice", "server"]
ActorOrAdmin = Actor | Literal["admin"]
ACTORS: tuple[Actor, ...] = ("device", "manager", "backoffice", "server")


@dataclass(frozen=True)
class Transition:
    source: str
    target: str
    actors: frozenset[Actor]


@dataclass(frozen=True)
class Machine:
    name: str
    field: str
    """The record field the machine drives (``status``, or ``stage`` for opportunities)."""
    states: tuple[str, ...]
    initial: Mapping[str, frozenset[Actor]]
    """State → actors that may create a record in it."""
    transitions: tuple[Transition, ...]

    @property
    def terminal(self) -> tuple[str, ...]:
        sources = {t.source for t in self.transitions}
        return tuple(s for s in self.states if s not in sources)

    def actors_for(self, current: str | None, new: str) -> frozenset[Actor]:
        if current is None:
            return self.initial.get(new, frozenset())
        for transition in self.transitions:
            if transition.source == current and transition.target == new:
                return transition.actors
        return frozenset()


def _actors(*names: Actor) -> frozenset[Actor]:
    return frozenset(names)


def _moves(
    sources: Iterable[str], targets: Iterable[str], actors: frozenset[Actor]
) -> list[Transition]:
    target_list = list(targets)
    return [Transition(s, t, actors) for s in sources for t in target_list if s != t]


_BACK_OFFICE = _actors("backoffice", "server")
_ANYONE = frozenset(ACTORS)
_REP_OR_MANAGER = _actors("device", "manager")

ORDER = Machine(
    name="order",
    field="status",
    states=(
        "draft",
        "submitted",
        "accepted",
        "rejected",
        "fulfilled",
        "invoiced",
        "cancelled",
    ),
    initial={"draft": _actors("device", "server"), "submitted": _actors("device", "server")},
    transitions=(
        Transition("draft", "submitted", _actors("device")),
        Transition("draft", "cancelled", _actors("device")),
        Transition("submitted", "accepted", _BACK_OFFICE),
        Transition("submitted", "rejected", _BACK_OFFICE),
        Transition("submitted", "cancelled", _BACK_OFFICE),
        Transition("accepted", "fulfilled", _BACK_OFFICE),
        Transition("accepted", "cancelled", _BACK_OFFICE),
        Transition("fulfilled", "invoiced", _BACK_OFFICE),
        # The rep amends an order the back office rejected, then submits it again.
        Transition("rejected", "draft", _actors("device")),
    ),
)

TICKET = Machine(
    name="ticket",
    field="status",
    states=("open", "in_progress", "waiting", "resolved", "closed"),
    initial={"open": _ANYONE},
    transitions=(
        Transition("open", "in_progress", _ANYONE),
        Transition("open", "resolved", _ANYONE),
        Transition("in_progress", "waiting", _ANYONE),
        Transition("in_progress", "resolved", _ANYONE),
        Transition("waiting", "in_progress", _ANYONE),
        Transition("waiting", "resolved", _ANYONE),
        Transition("resolved", "closed", _ANYONE),
        Transition("resolved", "open", _ANYONE),
    ),
)

VISIT = Machine(
    name="visit",
    field="status",
    states=("planned", "in_progress", "completed", "cancelled"),
    initial={"planned": _actors("device", "manager", "server"), "in_progress": _actors("device")},
    transitions=(
        Transition("planned", "in_progress", _actors("device")),
        Transition("planned", "cancelled", _REP_OR_MANAGER),
        Transition("in_progress", "completed", _actors("device")),
        Transition("in_progress", "cancelled", _REP_OR_MANAGER),
    ),
)

_ROUTING = _actors("server", "manager")
LEAD = Machine(
    name="lead",
    field="status",
    states=("new", "assigned", "contacted", "qualified", "converted", "disqualified"),
    initial={"new": _ANYONE},
    transitions=(
        Transition("new", "assigned", _ROUTING),
        # Re-routing: an SLA miss or a manager takes the lead back to the pool.
        Transition("assigned", "new", _ROUTING),
        Transition("assigned", "contacted", _REP_OR_MANAGER),
        Transition("contacted", "qualified", _REP_OR_MANAGER),
        Transition("qualified", "converted", _REP_OR_MANAGER),
        *_moves(("new", "assigned", "contacted", "qualified"), ("disqualified",), _REP_OR_MANAGER),
    ),
)

_OPEN_STAGES = ("prospecting", "qualification", "proposal", "negotiation")
OPPORTUNITY = Machine(
    name="opportunity",
    field="stage",
    states=(*_OPEN_STAGES, "closed_won", "closed_lost"),
    initial={stage: _actors("device", "manager", "server") for stage in _OPEN_STAGES},
    transitions=(
        # One step forward or back among the open stages.
        *(
            Transition(a, b, _REP_OR_MANAGER)
            for i, a in enumerate(_OPEN_STAGES)
            for j, b in enumerate(_OPEN_STAGES)
            if abs(i - j) == 1
        ),
        *_moves(_OPEN_STAGES, ("closed_won", "closed_lost"), _REP_OR_MANAGER),
    ),
)

MACHINES: Mapping[str, Machine] = MappingProxyType(
    {m.name: m for m in (ORDER, TICKET, VISIT, LEAD, OPPORTUNITY)}
)


def _machine(name: str) -> Machine:
    try:
        return MACHINES[name]
    except KeyError:
        raise KeyError(f"no state machine named {name!r}") from None


def _may(actors: frozenset[Actor], actor: ActorOrAdmin) -> bool:
    return actor in actors or (actor == "admin" and bool(actors))


def allowed_next(machine: str, current: str | None, actor: ActorOrAdmin) -> list[str]:
    """States ``actor`` may move to from ``current`` (None: the states it may create in), in the
    machine's state order; staying put is not listed."""
    table = _machine(machine)
    return [
        state
        for state in table.states
        if state != current and _may(table.actors_for(current, state), actor)
    ]


def check_transition(machine: str, current: str | None, new: str, actor: ActorOrAdmin) -> None:
    table = _machine(machine)
    if current is not None and current == new:
        return
    if not _may(table.actors_for(current, new), actor):
        raise IllegalTransition(machine, current, new, allowed_next(machine, current, actor))
