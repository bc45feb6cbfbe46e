"""``server_write``: the clocks a server-side write leaves, and the values it overwrote that
someone wrote after the version its writer last saw."""

from __future__ import annotations

from sync.merge import Stored, apply_server_write, server_write
from tests.sync.helpers import stamp, stored

NODE_A = "server-aaaaaaaaaaaa"
NODE_B = "server-bbbbbbbbbbbb"


def _account(notes: str, version: int, writer: str) -> Stored:
    return stored(
        {"name": "Acme", "notes": notes},
        version=version,
        clocks={"name": (stamp(1_000, NODE_A), 1), "notes": (stamp(2_000, writer), version)},
    )


def test_an_overwrite_of_a_field_written_after_the_base_is_discarded_and_reported() -> None:
    record = _account("theirs", 3, NODE_B)
    clocks, discarded = server_write(
        "account",
        record,
        {"notes": "mine"},
        hlc=stamp(3_000, NODE_A),
        new_version=4,
        base_version=2,
    )
    assert clocks["notes"] == (stamp(3_000, NODE_A), 4)
    [d] = discarded
    assert (d.field, d.kept, d.discarded, d.rule) == ("notes", "mine", "theirs", "lww")
    assert (d.kept_origin, d.discarded_origin) == (NODE_A, NODE_B)


def test_the_same_server_node_on_both_sides_is_still_a_conflict() -> None:
    # One process serves many managers: unlike a device's outbox, its writes are not sequential.
    record = _account("theirs", 3, NODE_A)
    _, discarded = server_write(
        "account",
        record,
        {"notes": "mine"},
        hlc=stamp(3_000, NODE_A),
        new_version=4,
        base_version=2,
    )
    assert [d.discarded for d in discarded] == ["theirs"]


def test_no_base_version_means_a_deliberate_overwrite() -> None:
    record = _account("theirs", 3, NODE_B)
    _, discarded = server_write(
        "account", record, {"notes": "mine"}, hlc=stamp(3_000, NODE_A), new_version=4
    )
    assert discarded == []


def test_a_field_written_at_or_before_the_base_was_seen_and_is_no_conflict() -> None:
    record = _account("theirs", 3, NODE_B)
    _, discarded = server_write(
        "account",
        record,
        {"notes": "mine"},
        hlc=stamp(3_000, NODE_A),
        new_version=4,
        base_version=3,
    )
    assert discarded == []


def test_writing_the_value_already_there_keeps_its_clock_and_reports_nothing() -> None:
    record = _account("same", 3, NODE_B)
    clocks, discarded = server_write(
        "account",
        record,
        {"notes": "same"},
        hlc=stamp(3_000, NODE_A),
        new_version=4,
        base_version=1,
    )
    assert discarded == []
    assert clocks["notes"] == (stamp(2_000, NODE_B), 3)


def test_apply_server_write_still_answers_the_clocks_alone() -> None:
    record = _account("theirs", 3, NODE_B)
    assert (
        apply_server_write(
            "account", record, {"notes": "mine"}, hlc=stamp(3_000, NODE_A), new_version=4
        )
        == server_write(
            "account", record, {"notes": "mine"}, hlc=stamp(3_000, NODE_A), new_version=4
        )[0]
    )
