"""Every row of the rules table, exercised: each field of each entity behaves as its policy says
when a device pushes a change to it (docs/conflict-rules.md, the field tables)."""

from __future__ import annotations

from typing import Any

import pytest

from sync.machines import MACHINES
from sync.merge import merge
from sync.rules import RULES, Policy, entity_rules
from tests.sync.field_values import PARENT_STATUS, STATE_MOVES, base_record
from tests.sync.helpers import stamp, stored, upsert


def _fields(policy: Policy) -> list[Any]:
    return [
        pytest.param(entity, name, id=f"{entity}.{name}")
        for entity, rules in RULES.items()
        for name, rule in rules.fields.items()
        if rule.policy is policy
    ]


def _merge(entity: str, fields: dict[str, Any], record: dict[str, Any], **kw: Any) -> Any:
    return merge(
        entity,
        stored(record, version=1, hlc=stamp(1_000, "server")),
        upsert(entity, fields, hlc=stamp(2_000, "dev-a"), **kw),
        parent_status=PARENT_STATUS.get(entity),
        new_version=2,
    )


def test_every_field_is_covered_by_exactly_one_policy_test() -> None:
    covered = sum(len(_fields(policy)) for policy in Policy)
    assert covered == sum(len(rules.fields) for rules in RULES.values())


# --- lww --------------------------------------------------------------------------------


@pytest.mark.parametrize(("entity", "field"), _fields(Policy.LWW))
def test_lww_field_takes_a_newer_write_made_after_seeing_the_value(entity: str, field: str) -> None:
    got = _merge(entity, {field: "changed"}, base_record(entity), base=1)
    assert got.outcome == "applied"
    assert got.write == {field: "changed"}
    assert got.clocks[field] == (stamp(2_000, "dev-a"), 2)
    assert got.discarded == []


@pytest.mark.parametrize(("entity", "field"), _fields(Policy.LWW))
def test_lww_field_keeps_a_newer_concurrent_value_and_logs_the_loser(
    entity: str, field: str
) -> None:
    record = base_record(entity)
    state = stored(record, version=3, hlc=stamp(5_000, "dev-b"))
    got = merge(
        entity,
        state,
        upsert(entity, {field: "mine"}, hlc=stamp(2_000, "dev-a"), base=1),
        parent_status=PARENT_STATUS.get(entity),
        new_version=4,
    )
    assert got.outcome == "merged"
    assert got.write == {}
    assert got.resolved == {field: record[field]}
    [loss] = got.discarded
    assert (loss.field, loss.kept, loss.discarded, loss.rule) == (
        field,
        record[field],
        "mine",
        "lww",
    )
    assert (loss.kept_origin, loss.discarded_origin) == ("dev-b", "dev-a")


# --- server_owned -----------------------------------------------------------------------


@pytest.mark.parametrize(("entity", "field"), _fields(Policy.SERVER_OWNED))
def test_server_owned_field_refuses_a_device_change(entity: str, field: str) -> None:
    got = _merge(entity, {field: "device-value"}, base_record(entity), base=1)
    assert got.outcome == "rejected"
    assert got.write == {}
    assert got.rejection is not None
    if entity_rules(entity).read_only:
        assert got.rejection.reason == "read_only"
    elif entity_rules(entity).append_only:
        assert got.rejection.reason == "validation"  # never changed after creation, by anyone
    else:
        assert got.rejection.reason == "server_owned_field"
        assert got.rejection.field == field
        assert got.rejection.current == {field: f"stored-{field}"}


@pytest.mark.parametrize(
    ("entity", "field"),
    [p for p in _fields(Policy.SERVER_OWNED) if not entity_rules(p.values[0]).read_only],
)
def test_server_owned_field_accepts_an_equal_value_as_a_noop(entity: str, field: str) -> None:
    got = _merge(entity, {field: f"stored-{field}"}, base_record(entity), base=1)
    assert got.outcome == "noop"
    assert got.write == {}
    assert got.rejection is None


# --- write_once -------------------------------------------------------------------------


@pytest.mark.parametrize(("entity", "field"), _fields(Policy.WRITE_ONCE))
def test_write_once_field_refuses_a_different_later_value(entity: str, field: str) -> None:
    got = _merge(entity, {field: "another"}, base_record(entity), base=1)
    assert got.outcome == "rejected"
    assert got.rejection is not None
    assert got.rejection.reason == "validation"
    assert got.rejection.field == field
    assert field in got.rejection.detail


@pytest.mark.parametrize(
    ("entity", "field"),
    [p for p in _fields(Policy.WRITE_ONCE) if not entity_rules(p.values[0]).append_only],
)
def test_write_once_field_is_set_once_while_empty(entity: str, field: str) -> None:
    record = {**base_record(entity), field: None}
    got = _merge(entity, {field: "first"}, record, base=1)
    assert got.outcome == "applied"
    assert got.write == {field: "first"}


@pytest.mark.parametrize(("entity", "field"), _fields(Policy.WRITE_ONCE))
def test_write_once_field_accepts_the_same_value_again(entity: str, field: str) -> None:
    got = _merge(entity, {field: f"stored-{field}"}, base_record(entity), base=1)
    assert got.outcome == "noop"


# --- state_machine ----------------------------------------------------------------------


@pytest.mark.parametrize(("entity", "field"), _fields(Policy.STATE_MACHINE))
def test_state_field_moves_along_its_machine(entity: str, field: str) -> None:
    machine = entity_rules(entity).fields[field].machine
    assert machine is not None
    _, legal, _ = STATE_MOVES[machine]
    got = _merge(entity, {field: legal}, base_record(entity), base=1)
    assert got.outcome == "applied"
    assert got.write == {field: legal}


@pytest.mark.parametrize(("entity", "field"), _fields(Policy.STATE_MACHINE))
def test_state_field_refuses_an_illegal_move_with_the_current_state(
    entity: str, field: str
) -> None:
    machine = entity_rules(entity).fields[field].machine
    assert machine is not None
    current, _, illegal = STATE_MOVES[machine]
    assert illegal in MACHINES[machine].states
    got = _merge(entity, {field: illegal}, base_record(entity), base=1)
    assert got.outcome == "rejected"
    assert got.rejection is not None
    assert got.rejection.reason == "illegal_transition"
    assert got.rejection.current == {field: current}


# --- computed ---------------------------------------------------------------------------


@pytest.mark.parametrize(("entity", "field"), _fields(Policy.COMPUTED))
def test_computed_field_ignores_the_device_value(entity: str, field: str) -> None:
    got = _merge(entity, {field: "device-says"}, base_record(entity), base=0)
    assert got.outcome == "noop"
    assert got.write == {}
    assert got.discarded == []
    assert got.resolved == {field: f"stored-{field}"}


@pytest.mark.parametrize(("entity", "field"), _fields(Policy.COMPUTED))
def test_computed_field_is_dropped_from_a_create(entity: str, field: str) -> None:
    got = merge(
        entity,
        None,
        upsert(entity, {field: "device-says"}),
        parent_status=PARENT_STATUS.get(entity),
        new_version=1,
    )
    assert got.outcome == "applied"
    assert got.create
    assert field not in got.write
