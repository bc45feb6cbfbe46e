"""The state machines: every transition in each table is allowed for its actors and refused for
the others; moves outside the table are refused with the moves that are allowed."""

from __future__ import annotations

from typing import Any

import pytest

from sync.errors import IllegalTransition
from sync.machines import ACTORS, MACHINES, allowed_next, check_transition


def _transitions() -> list[Any]:
    return [
        pytest.param(name, t.source, t.target, t.actors, id=f"{name}:{t.source}->{t.target}")
        for name, machine in MACHINES.items()
        for t in machine.transitions
    ]


@pytest.mark.parametrize(("machine", "source", "target", "actors"), _transitions())
def test_listed_transition_is_allowed_for_its_actors_only(
    machine: str, source: str, target: str, actors: frozenset[str]
) -> None:
    for actor in ACTORS:
        if actor in actors:
            check_transition(machine, source, target, actor)
        else:
            with pytest.raises(IllegalTransition):
                check_transition(machine, source, target, actor)


@pytest.mark.parametrize(("machine", "source", "target", "actors"), _transitions())
def test_admin_may_make_every_listed_transition(
    machine: str, source: str, target: str, actors: frozenset[str]
) -> None:
    check_transition(machine, source, target, "admin")


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_moves_outside_the_table_are_refused_for_everyone(machine: str) -> None:
    table = MACHINES[machine]
    listed = {(t.source, t.target) for t in table.transitions}
    for source in table.states:
        for target in table.states:
            if source == target or (source, target) in listed:
                continue
            with pytest.raises(IllegalTransition) as caught:
                check_transition(machine, source, target, "admin")
            assert caught.value.allowed == allowed_next(machine, source, "admin")


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_staying_in_the_same_state_is_always_allowed(machine: str) -> None:
    for state in MACHINES[machine].states:
        for actor in ACTORS:
            check_transition(machine, state, state, actor)


@pytest.mark.parametrize(
    ("machine", "initial"),
    [
        ("order", ["draft", "submitted"]),
        ("ticket", ["open"]),
        ("visit", ["planned", "in_progress"]),
        ("lead", ["new"]),
        ("opportunity", ["prospecting", "qualification", "proposal", "negotiation"]),
    ],
)
def test_devices_create_records_in_the_initial_states(machine: str, initial: list[str]) -> None:
    assert allowed_next(machine, None, "device") == initial
    for state in MACHINES[machine].states:
        if state not in initial:
            with pytest.raises(IllegalTransition):
                check_transition(machine, None, state, "device")


def test_illegal_transition_carries_the_allowed_moves() -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition("order", "accepted", "draft", "device")
    err = caught.value
    assert (err.machine, err.current, err.new, err.allowed) == ("order", "accepted", "draft", [])
    assert err.http_status == 409


def test_unknown_machine_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        check_transition("spaceship", None, "x", "device")


@pytest.mark.parametrize(
    ("machine", "current", "actor", "expected"),
    [
        ("order", "draft", "device", ["submitted", "cancelled"]),
        ("order", "submitted", "device", []),
        ("order", "submitted", "backoffice", ["accepted", "rejected", "cancelled"]),
        ("order", "rejected", "device", ["draft"]),
        ("order", "invoiced", "server", []),
        ("ticket", "resolved", "device", ["open", "closed"]),
        ("ticket", "closed", "manager", []),
        ("visit", "in_progress", "manager", ["cancelled"]),
        ("visit", "planned", "device", ["in_progress", "cancelled"]),
        ("lead", "new", "device", ["disqualified"]),
        ("lead", "new", "server", ["assigned"]),
        ("lead", "assigned", "manager", ["new", "contacted", "disqualified"]),
        (
            "opportunity",
            "proposal",
            "device",
            ["qualification", "negotiation", "closed_won", "closed_lost"],
        ),
        ("opportunity", "closed_won", "manager", []),
    ],
)
def test_allowed_next(machine: str, current: str, actor: Any, expected: list[str]) -> None:
    assert allowed_next(machine, current, actor) == expected


@pytest.mark.parametrize(
    ("machine", "terminal"),
    [
        ("order", ("invoiced", "cancelled")),
        ("ticket", ("closed",)),
        ("visit", ("completed", "cancelled")),
        ("lead", ("converted", "disqualified")),
        ("opportunity", ("closed_won", "closed_lost")),
    ],
)
def test_terminal_states(machine: str, terminal: tuple[str, ...]) -> None:
    assert MACHINES[machine].terminal == terminal
