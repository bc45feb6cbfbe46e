"""The merge function's general behaviour: refusals, field-level LWW with concurrency by
base version, delete wins, and the helpers around clocks and values."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from sync.errors import UnknownEntity
from sync.merge import Stored, apply_server_write, dump_clocks, load_clocks, merge, same_value
from tests.sync.helpers import after, delete, stamp, stored, upsert


def test_unknown_entity_is_rejected() -> None:
    got = merge("spaceship", None, upsert("spaceship", {"x": 1}), new_version=1)
    assert got.rejection is not None
    assert got.rejection.reason == "unknown_entity"


def test_unknown_field_is_rejected_by_name() -> None:
    got = merge("account", None, upsert("account", {"name": "A", "colour": "red"}), new_version=1)
    assert got.rejection is not None
    assert (got.rejection.reason, got.rejection.field) == ("validation", "colour")


def test_malformed_stamp_is_rejected() -> None:
    got = merge("account", None, upsert("account", {"name": "A"}, hlc="yesterday"), new_version=1)
    assert got.rejection is not None
    assert got.rejection.reason == "validation"


def test_delete_of_a_record_never_seen_is_unknown_record() -> None:
    got = merge("contact", None, delete("contact"), new_version=1)
    assert got.rejection is not None
    assert got.rejection.reason == "unknown_record"


def test_delete_of_a_deleted_record_is_a_noop() -> None:
    got = merge("contact", stored({"notes": "x"}, deleted=True), delete("contact"), new_version=2)
    assert got.outcome == "noop"
    assert not got.changed


def test_a_rejected_mutation_writes_nothing_and_keeps_the_clocks() -> None:
    state = stored({"name": "A", "territory_id": "t1"}, version=4)
    got = merge(
        "account",
        state,
        upsert("account", {"name": "B", "territory_id": "t2"}, base=4),
        new_version=5,
    )
    assert got.outcome == "rejected"
    assert (got.write, got.discarded, got.changed) == ({}, [], False)
    assert got.clocks == dict(state.clocks)


def test_create_of_an_existing_record_is_an_upsert() -> None:
    state = stored({"name": "A", "phone": "1"}, hlc=stamp(1_000, "server"))
    got = merge(
        "account", state, upsert("account", {"name": "A", "phone": "2"}, base=1), new_version=2
    )
    assert got.outcome == "applied"
    assert not got.create
    assert {**state.fields, **got.write} == {"name": "A", "phone": "2"}
    assert got.discarded == []


def test_resending_the_same_create_is_a_noop() -> None:
    create = upsert("contact", {"account_id": "a1", "first_name": "Ana", "last_name": "Lima"})
    first = merge("contact", None, create, new_version=1)
    state = Stored(fields=first.write, clocks=first.clocks, version=1)
    again = merge("contact", state, create, new_version=2)
    assert again.outcome == "noop"


def test_create_may_not_set_a_server_owned_field() -> None:
    got = merge(
        "lead", None, upsert("lead", {"company": "Acme", "assignee_id": "u1"}), new_version=1
    )
    assert got.rejection is not None
    assert (got.rejection.reason, got.rejection.field) == ("server_owned_field", "assignee_id")


def test_create_drops_server_owned_fields_left_empty() -> None:
    got = merge(
        "lead", None, upsert("lead", {"company": "Acme", "assignee_id": None}), new_version=1
    )
    assert got.outcome == "applied"
    assert got.write == {"company": "Acme"}


def test_create_in_a_state_the_machine_does_not_start_in_is_refused() -> None:
    got = merge(
        "ticket", None, upsert("ticket", {"subject": "x", "status": "closed"}), new_version=1
    )
    assert got.rejection is not None
    assert got.rejection.reason == "illegal_transition"
    assert got.rejection.current == {"status": None}


def test_concurrent_newer_write_wins_and_logs_the_overwritten_value() -> None:
    state = stored({"phone": "111"}, version=2, hlc=stamp(1_500, "dev-b"))
    got = merge(
        "account",
        state,
        upsert("account", {"phone": "222"}, hlc=stamp(2_000, "dev-a"), base=1),
        new_version=3,
    )
    assert got.outcome == "applied"
    assert got.write == {"phone": "222"}
    [loss] = got.discarded
    assert (loss.kept, loss.discarded, loss.kept_origin, loss.discarded_origin) == (
        "222",
        "111",
        "dev-a",
        "dev-b",
    )
    assert (loss.kept_hlc, loss.discarded_hlc) == (stamp(2_000, "dev-a"), stamp(1_500, "dev-b"))


def test_concurrent_edits_of_different_fields_both_survive() -> None:
    state = stored(
        {"phone": "111", "notes": "manager"},
        version=2,
        clocks={"phone": (stamp(900, "server"), 1), "notes": (stamp(1_500, "server"), 2)},
    )
    got = merge(
        "account",
        state,
        upsert("account", {"phone": "222"}, hlc=stamp(1_200, "dev-a"), base=1),
        new_version=3,
    )
    assert got.outcome == "applied"
    assert got.discarded == []
    assert {**state.fields, **got.write} == {"phone": "222", "notes": "manager"}


def test_merged_when_one_field_wins_and_another_loses() -> None:
    state = stored(
        {"phone": "111", "notes": "manager"},
        version=3,
        clocks={"phone": (stamp(500, "server"), 1), "notes": (stamp(3_000, "server"), 3)},
    )
    got = merge(
        "account",
        state,
        upsert("account", {"phone": "222", "notes": "rep"}, hlc=stamp(2_000, "dev-a"), base=1),
        new_version=4,
    )
    assert got.outcome == "merged"
    assert got.write == {"phone": "222"}
    assert got.resolved == {"phone": "222", "notes": "manager"}
    assert [d.field for d in got.discarded] == ["notes"]


def test_a_devices_own_earlier_write_is_never_a_conflict() -> None:
    state = stored({"phone": "111"}, version=1, hlc=stamp(1_000, "dev-a"))
    got = merge(
        "account",
        state,
        upsert("account", {"phone": "222"}, hlc=stamp(2_000, "dev-a"), base=None),
        new_version=2,
    )
    assert got.outcome == "applied"
    assert got.discarded == []


def test_fields_written_before_clocks_lose_to_any_stamp_without_conflict() -> None:
    state = Stored(fields={"phone": "111"}, clocks={}, version=7)
    got = merge("account", state, upsert("account", {"phone": "222"}, base=0), new_version=8)
    assert got.outcome == "applied"
    assert got.discarded == []


def test_node_breaks_a_tie_between_equal_times() -> None:
    state = stored({"phone": "111"}, version=2, hlc=stamp(2_000, "dev-b"))
    got = merge(
        "account",
        state,
        upsert("account", {"phone": "222"}, hlc=stamp(2_000, "dev-a"), base=1),
        new_version=3,
    )
    assert got.outcome == "merged"
    got = merge(
        "account",
        stored({"phone": "111"}, version=2, hlc=stamp(2_000, "dev-a")),
        upsert("account", {"phone": "222"}, hlc=stamp(2_000, "dev-b"), base=1),
        new_version=3,
    )
    assert got.outcome == "applied"


def test_an_older_stamp_never_overwrites_even_without_concurrency_and_is_logged() -> None:
    state = stored({"phone": "111"}, version=2, hlc=stamp(5_000, "dev-b"))
    got = merge(
        "account",
        state,
        upsert("account", {"phone": "222"}, hlc=stamp(2_000, "dev-a"), base=2),
        new_version=3,
    )
    assert got.outcome == "merged"
    assert got.write == {}
    assert [(d.discarded, d.rule) for d in got.discarded] == [("222", "lww")]


def test_a_newer_write_of_the_same_value_advances_the_clock() -> None:
    state = stored({"phone": "111"}, version=2, hlc=stamp(1_000, "dev-b"))
    got = merge(
        "account",
        state,
        upsert("account", {"phone": "111"}, hlc=stamp(2_000, "dev-a"), base=2),
        new_version=3,
    )
    assert got.outcome == "applied"
    assert got.clocks["phone"] == (stamp(2_000, "dev-a"), 3)
    assert got.discarded == []


def test_delete_wins_and_logs_concurrent_edits() -> None:
    state = stored(
        {"account_id": "a1", "phone": "555"},
        version=3,
        clocks={"account_id": (stamp(100, "dev-a"), 1), "phone": (stamp(1_500, "dev-b"), 3)},
    )
    got = merge(
        "contact", state, delete("contact", hlc=stamp(1_000, "dev-a"), base=1), new_version=4
    )
    assert got.outcome == "applied" and got.delete
    [loss] = got.discarded
    assert (loss.field, loss.kept, loss.discarded, loss.rule) == (
        "phone",
        None,
        "555",
        "delete_wins",
    )
    assert (loss.kept_origin, loss.discarded_origin) == ("dev-a", "dev-b")


def test_second_check_in_of_the_same_visit_is_refused() -> None:
    state = stored({"status": "planned", "check_in_at": None}, version=1)
    first = merge(
        "visit",
        state,
        upsert("visit", {"status": "in_progress", "check_in_at": "2024-05-02T09:00:00Z"}, base=1),
        new_version=2,
    )
    assert first.outcome == "applied"
    second = merge(
        "visit",
        after(state, first),
        upsert(
            "visit",
            {"status": "in_progress", "check_in_at": "2024-05-02T09:05:00Z"},
            hlc=stamp(2_100, "dev-b"),
            base=1,
        ),
        new_version=3,
    )
    assert second.rejection is not None
    assert (second.rejection.reason, second.rejection.field) == ("validation", "check_in_at")


def test_model_values_and_wire_values_compare_equal() -> None:
    state = stored({"unit_price": Decimal("2.50"), "quantity": 3})
    got = merge(
        "order_line",
        state,
        upsert("order_line", {"quantity": 3}, hlc=stamp(500), base=1),
        parent_status="draft",
        new_version=2,
    )
    assert got.outcome == "noop"
    assert same_value(Decimal("2.50"), "2.5")
    assert same_value(datetime(2024, 5, 2, 9, tzinfo=UTC), "2024-05-02T09:00:00Z")
    assert not same_value(True, 1)
    assert not same_value("2.5", None)


def test_rejection_current_is_in_wire_form() -> None:
    state = stored({"visit_radius_m": 200.0, "territory_id": "t1", "owner_id": None})
    got = merge(
        "order",
        stored({"status": "accepted", "status_changed_at": datetime(2024, 5, 2, tzinfo=UTC)}),
        upsert("order", {"status_changed_at": "2024-05-03T00:00:00Z"}, base=1),
        new_version=2,
    )
    assert got.rejection is not None
    assert got.rejection.current == {"status_changed_at": "2024-05-02T00:00:00Z"}
    assert state.fields["visit_radius_m"] == 200.0


def test_clock_maps_round_trip_through_json_lists() -> None:
    clocks = {"phone": (stamp(1_000), 3), "_deleted": (stamp(2_000), 4)}
    assert load_clocks(dump_clocks(clocks)) == clocks
    with pytest.raises(ValueError, match="malformed clock"):
        load_clocks({"phone": ["x"]})


def test_server_write_stamps_only_the_fields_it_changed() -> None:
    state = stored(
        {"status": "submitted", "erp_ref": None, "notes": "n"}, version=3, hlc=stamp(1_000, "dev-a")
    )
    clocks = apply_server_write(
        "order",
        state,
        {"status": "accepted", "notes": "n", "updated_at": "x"},
        hlc=stamp(5_000, "server"),
        new_version=4,
    )
    assert clocks["status"] == (stamp(5_000, "server"), 4)
    assert clocks["notes"] == (stamp(1_000, "dev-a"), 3)
    assert "updated_at" not in clocks


def test_server_write_on_a_new_record_stamps_every_given_field() -> None:
    clocks = apply_server_write(
        "lead",
        None,
        {"company": "Acme", "status": "new"},
        hlc=stamp(5_000, "server"),
        new_version=1,
    )
    assert clocks == {"company": (stamp(5_000, "server"), 1), "status": (stamp(5_000, "server"), 1)}


def test_server_write_to_an_unknown_entity_raises() -> None:
    with pytest.raises(UnknownEntity):
        apply_server_write("spaceship", None, {}, hlc=stamp(1), new_version=1)


def test_device_edit_after_a_server_write_compares_against_it() -> None:
    state = stored({"notes": "rep"}, version=1, hlc=stamp(1_000, "dev-a"))
    clocks = apply_server_write(
        "account", state, {"notes": "manager"}, hlc=stamp(3_000, "server"), new_version=2
    )
    now = Stored(fields={"notes": "manager"}, clocks=clocks, version=2)
    got = merge(
        "account",
        now,
        upsert("account", {"notes": "rep again"}, hlc=stamp(2_000, "dev-a"), base=1),
        new_version=3,
    )
    assert got.outcome == "merged"
    assert got.discarded[0].kept_origin == "server"
