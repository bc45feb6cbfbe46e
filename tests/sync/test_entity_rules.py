"""Every entity-level row of the rules table, exercised: who may create and delete, read-only,
append-only, delete wins, editable-while (docs/conflict-rules.md, the property tables)."""

from __future__ import annotations

from typing import Any

import pytest

from sync.merge import DELETED_KEY, merge
from sync.rules import RULES, Policy, entity_rules
from tests.sync.field_values import PARENT_STATUS, base_record, creatable_fields
from tests.sync.helpers import delete, stamp, stored, upsert


def _entities(predicate: Any) -> list[str]:
    return sorted(entity for entity, rules in RULES.items() if predicate(rules))


@pytest.mark.parametrize("entity", _entities(lambda r: r.device_can_create))
def test_device_may_create(entity: str) -> None:
    fields = creatable_fields(entity)
    got = merge(
        entity, None, upsert(entity, fields), parent_status=PARENT_STATUS.get(entity), new_version=1
    )
    assert got.outcome == "applied"
    assert got.create
    assert got.write == fields
    assert got.clocks == {name: (stamp(2_000), 1) for name in fields}


@pytest.mark.parametrize("entity", _entities(lambda r: r.read_only))
def test_read_only_entity_refuses_every_device_write(entity: str) -> None:
    for stored_record in (None, stored(base_record(entity))):
        for mutation in (upsert(entity, {}), delete(entity)):
            got = merge(entity, stored_record, mutation, new_version=2)
            assert got.rejection is not None
            assert got.rejection.reason == "read_only"


@pytest.mark.parametrize("entity", _entities(lambda r: r.read_only))
def test_read_only_entity_is_written_by_the_server_actor(entity: str) -> None:
    name = next(iter(entity_rules(entity).fields))
    got = merge(
        entity,
        stored(base_record(entity)),
        upsert(entity, {name: "new"}),
        actor="server",
        new_version=2,
    )
    assert got.outcome == "applied"
    assert got.write == {name: "new"}


@pytest.mark.parametrize("entity", _entities(lambda r: r.device_can_delete))
def test_device_may_delete(entity: str) -> None:
    state = stored(base_record(entity))
    got = merge(
        entity,
        state,
        delete(entity, base=1),
        parent_status=PARENT_STATUS.get(entity),
        new_version=2,
    )
    assert got.outcome == "applied"
    assert got.delete
    assert got.write == {}
    assert got.deleted_clock == (stamp(2_000), 2)
    assert got.clocks[DELETED_KEY] == (stamp(2_000), 2)


@pytest.mark.parametrize(
    "entity", _entities(lambda r: not r.device_can_delete and not r.read_only and not r.append_only)
)
def test_device_may_not_delete(entity: str) -> None:
    got = merge(entity, stored(base_record(entity)), delete(entity, base=1), new_version=2)
    assert got.rejection is not None
    assert got.rejection.reason == "validation"
    assert "cannot delete" in got.rejection.detail


@pytest.mark.parametrize("entity", _entities(lambda r: not r.read_only))
def test_delete_wins_over_a_later_upsert(entity: str) -> None:
    state = stored(base_record(entity), deleted=True)
    name = next(
        n for n, r in entity_rules(entity).fields.items() if r.policy is not Policy.COMPUTED
    )
    got = merge(
        entity,
        state,
        upsert(entity, {name: "late"}, base=1),
        parent_status=PARENT_STATUS.get(entity),
        new_version=2,
    )
    assert got.rejection is not None
    assert got.rejection.reason == "deleted"
    assert got.write == {}


@pytest.mark.parametrize("entity", _entities(lambda r: r.append_only))
def test_append_only_resent_create_is_a_noop(entity: str) -> None:
    record = base_record(entity)
    got = merge(entity, stored(record), upsert(entity, record), new_version=2)
    assert got.outcome == "noop"
    assert got.write == {}


@pytest.mark.parametrize("entity", _entities(lambda r: r.append_only))
def test_append_only_record_never_changes(entity: str) -> None:
    record = base_record(entity)
    got = merge(entity, stored(record), upsert(entity, {**record, "body": "edited"}), new_version=2)
    assert got.rejection is not None
    assert (got.rejection.reason, got.rejection.field) == ("validation", "body")


@pytest.mark.parametrize("entity", _entities(lambda r: r.append_only))
def test_append_only_record_is_never_deleted(entity: str) -> None:
    got = merge(entity, stored(base_record(entity)), delete(entity), actor="server", new_version=2)
    assert got.rejection is not None
    assert got.rejection.reason == "validation"
    assert "append-only" in got.rejection.detail


# --- editable while ---------------------------------------------------------------------


@pytest.mark.parametrize("status", ["submitted", "accepted", "fulfilled", "invoiced", "cancelled"])
def test_order_is_not_editable_once_out_of_draft(status: str) -> None:
    record = {**base_record("order"), "status": status}
    got = merge(
        "order", stored(record), upsert("order", {"notes": "offline edit"}, base=1), new_version=2
    )
    assert got.rejection is not None
    assert got.rejection.reason == "illegal_transition"
    assert got.rejection.current == {"status": status}


def test_order_delete_is_refused_once_submitted() -> None:
    record = {**base_record("order"), "status": "submitted"}
    got = merge("order", stored(record), delete("order", base=1), new_version=2)
    assert got.rejection is not None
    assert (got.rejection.reason, got.rejection.current) == (
        "illegal_transition",
        {"status": "submitted"},
    )


def test_rejected_order_is_amended_and_moved_back_to_draft_in_one_mutation() -> None:
    record = {**base_record("order"), "status": "rejected"}
    got = merge(
        "order",
        stored(record),
        upsert("order", {"status": "draft", "notes": "fixed"}, base=1),
        new_version=2,
    )
    assert got.outcome == "applied"
    assert got.write == {"status": "draft", "notes": "fixed"}


def test_resending_unchanged_values_to_a_submitted_order_is_a_noop() -> None:
    record = {**base_record("order"), "status": "submitted"}
    state = stored(record, hlc=stamp(1_000, "server"))
    got = merge(
        "order",
        state,
        upsert("order", {"notes": record["notes"]}, hlc=stamp(3_000), base=1),
        new_version=2,
    )
    assert got.outcome == "noop"
    assert got.write == {}


@pytest.mark.parametrize("parent_status", ["submitted", "accepted", "rejected"])
def test_order_line_changes_need_a_draft_parent(parent_status: str) -> None:
    line = base_record("order_line")
    for state, mutation in (
        (None, upsert("order_line", creatable_fields("order_line"))),
        (stored(line), upsert("order_line", {"quantity": 3}, base=1)),
        (stored(line), delete("order_line", base=1)),
    ):
        got = merge("order_line", state, mutation, parent_status=parent_status, new_version=2)
        assert got.rejection is not None
        assert got.rejection.reason == "illegal_transition"
        assert got.rejection.current == {"status": parent_status}


def test_order_line_without_a_known_parent_is_refused() -> None:
    got = merge(
        "order_line", None, upsert("order_line", creatable_fields("order_line")), new_version=1
    )
    assert got.rejection is not None
    assert (got.rejection.reason, got.rejection.field) == ("validation", "order_id")


def test_back_office_status_write_skips_device_guards() -> None:
    record = {**base_record("order"), "status": "submitted"}
    got = merge(
        "order",
        stored(record),
        upsert(
            "order", {"status": "accepted", "erp_ref": "ERP-1"}, hlc=stamp(3_000, "server"), base=1
        ),
        actor="backoffice",
        new_version=2,
    )
    assert got.outcome == "applied"
    assert got.write == {"status": "accepted", "erp_ref": "ERP-1"}


def test_back_office_still_follows_the_machine() -> None:
    record = {**base_record("order"), "status": "draft"}
    got = merge(
        "order",
        stored(record),
        upsert("order", {"status": "accepted"}, base=1),
        actor="backoffice",
        new_version=2,
    )
    assert got.rejection is not None
    assert got.rejection.reason == "illegal_transition"
