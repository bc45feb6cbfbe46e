"""Print docs/conflict-rules.md from the tables themselves:
``python -m sync.docgen > docs/conflict-rules.md`` (a test fails when the page is stale)."""

from __future__ import annotations

import sys
from typing import get_args

from sync.constraints import describe
from sync.errors import REASONS
from sync.machines import ACTORS, MACHINES, Machine
from sync.messages import RejectReason
from sync.rules import RULES, EntityRules, Policy, Reach

__all__ = ["POLICY_TEXT", "main", "render"]

POLICY_TEXT = {
    Policy.LWW: "Last writer wins, per field, by hybrid logical clock; the device id breaks ties. "
    "A concurrent loser is written to the conflict log and reported to its device.",
    Policy.SERVER_OWNED: "Set only by the server, the back office or a manager. A device sending "
    "a different value is rejected `server_owned_field`; an equal value is a no-op.",
    Policy.STATE_MACHINE: "Moves only along the state machine below, for the writer's role; "
    "anything else is rejected `illegal_transition` with the current state.",
    Policy.WRITE_ONCE: "Set at creation (or once, while still empty) and never changed: a "
    "different later value is rejected `validation`.",
    Policy.COMPUTED: "Derived by the server; a device (an admin's too) may send it, the value is "
    "ignored and recomputed, never a conflict.",
}


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _entity(rules: EntityRules) -> list[str]:
    guard = rules.editable_while
    if rules.read_only:
        editable = "never"
    elif rules.append_only:
        editable = "never after creation"
    elif guard is None:
        editable = "always"
    else:
        whose = "parent's " if guard.of_parent else ""
        states = ", ".join(f"`{s}`" for s in sorted(guard.states))
        editable = f"while the {whose}`{guard.field}` is {states}"
    parent = _parent(rules)
    access = rules.access
    creates = _reach(access.creates, " and ") if access.creates else "never"
    lines = [
        f"### `{rules.entity}`",
        "",
        "| property | value |",
        "| --- | --- |",
        f"| device may create | {_yes(rules.device_can_create and not rules.read_only)} |",
        f"| device may delete | {_yes(rules.device_can_delete and not rules.read_only)} |",
        f"| read-only for devices | {_yes(rules.read_only)} |",
        f"| append-only | {_yes(rules.append_only)} |",
        f"| editable by devices | {editable} |",
        f"| parent | {parent} |",
        f"| delete rule | `{rules.delete_rule.behaviour}`: {_cell(rules.delete_rule.text)} |",
        f"| scope | {_cell(rules.scope)} |",
        f"| reps read | {_reach(rules.access.reads, ' or ')} |",
        f"| reps create | {creates} |",
        f"| owner | {', then '.join(f'`{n}`' for n in access.owner) or '—'} |",
        f"| API key scopes | {', '.join(f'`{n}`' for n in sorted(access.api_scopes)) or '—'} |",
        f"| business events | {', '.join(f'`{e.name}`' for e in rules.events) or '—'} |",
        f"| data subjects | {_subjects(rules)} |",
        "",
    ]
    for text, _ in rules.invariants:
        lines += [f"Invariant: {text}.", ""]
    for note in rules.notes:
        lines += [note, ""]
    lines += ["| field | policy | holds | note |", "| --- | --- | --- | --- |"]
    for name, rule in rules.fields.items():
        holds = describe(rule.check) + (", or empty" if rule.nullable else "")
        holds += " · personal data" if rule.personal else ""
        lines.append(f"| `{name}` | {rule.policy.value} | {_cell(holds)} | {_cell(rule.note)} |")
    return [*lines, ""]


def _subjects(rules: EntityRules) -> str:
    """Whom the record's personal data is about, and what their erasure does to it."""
    if not rules.subjects:
        return "—"
    about = ", ".join(
        f"the {s.kind} itself" if s.via == "id" else f"the {s.kind} `{s.via}` names"
        for s in rules.subjects
    )
    return f"{about}; erasing them: `{rules.erasure.value}`"


def _parent(rules: EntityRules) -> str:
    parent = rules.parent
    if parent is None:
        return "—"
    if parent.kind is None:
        return f"`{parent.entity}` via `{parent.fk}`"
    kinds = ", ".join(f"`{kind}`" for kind in parent.entities)
    return f"{kinds} (named by `{parent.kind}`) via `{parent.fk}`"


def _reach(reach: frozenset[Reach], joiner: str) -> str:
    return joiner.join(_REACH_TEXT[r] for r in sorted(reach))


_REACH_TEXT = {
    Reach.PUBLIC: "everyone",
    Reach.OWNER: "their own",
    Reach.TERRITORY: "in their territory",
    Reach.PARENT: "as the parent",
}


def _machine(machine: Machine) -> list[str]:
    lines = [
        f"### `{machine.name}` (field `{machine.field}`)",
        "",
        "| from | to | actors |",
        "| --- | --- | --- |",
    ]
    for state, actors in machine.initial.items():
        lines.append(f"| (create) | `{state}` | {_actors(actors)} |")
    for t in machine.transitions:
        lines.append(f"| `{t.source}` | `{t.target}` | {_actors(t.actors)} |")
    terminal = ", ".join(f"`{s}`" for s in machine.terminal) or "none"
    return [*lines, "", f"Terminal states: {terminal}.", ""]


def _actors(actors: frozenset[str]) -> str:
    return ", ".join(a for a in ACTORS if a in actors)


def render() -> str:
    lines = [
        "# Conflict rules",
        "",
        "<!-- Generated by `python -m sync.docgen > docs/conflict-rules.md`; do not edit. -->",
        "",
        "How the server decides each change a device pushes: per entity, who may create and",
        "delete it and in which states it may change; per field, the policy that settles a",
        "write. The same tables (`sync/rules.py`, `sync/machines.py`) drive the server's merge",
        "and the client SDK, so this page cannot drift from what either does.",
        "",
        "## Policies",
        "",
        "| policy | meaning |",
        "| --- | --- |",
    ]
    lines += [f"| {policy.value} | {POLICY_TEXT[policy]} |" for policy in Policy]
    lines += [
        "",
        "Entity rules: an upsert to a deleted record is rejected `deleted` (delete wins); an",
        "append-only record is created once and never changed or deleted (re-sending the",
        "identical create is a no-op); a read-only entity is never written by devices.",
        "A mutation that is refused writes nothing, and its whole client transaction is",
        "refused with it (`transaction_failed` for the others).",
        "",
        "## Rejection reasons",
        "",
        "| reason | meaning |",
        "| --- | --- |",
    ]
    reasons: tuple[RejectReason, ...] = get_args(RejectReason)
    lines += [f"| `{reason}` | {_cell(REASONS[reason])} |" for reason in reasons]
    lines += ["", "## Entities", ""]
    for rules in RULES.values():
        lines += _entity(rules)
    lines += [
        "## State machines",
        "",
        "Staying in the same state is always accepted as a no-op. An admin may make any move",
        "listed. Actors: `device` (a rep's app), `manager`, `backoffice` (ERP systems through",
        "their API key), `server` (the server's own jobs).",
        "",
    ]
    for machine in MACHINES.values():
        lines += _machine(machine)
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
