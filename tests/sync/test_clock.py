"""The hybrid logical clock: encoding, the send and receive rules, the bound on future stamps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync import clock
from sync.clock import MAX_COUNTER, Hlc

walls = st.integers(min_value=0, max_value=10**13)
counters = st.integers(min_value=0, max_value=MAX_COUNTER)
nodes = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=36)
stamps = st.builds(Hlc, walls, counters, nodes)


def test_encode_is_fixed_width() -> None:
    assert Hlc(1_700_000_000_000, 7, "dev-1").encode() == "001700000000000-00007-dev-1"


def test_parse_reads_a_node_containing_dashes() -> None:
    assert Hlc.parse("000000000000042-00003-0190a1b2-c3d4") == Hlc(42, 3, "0190a1b2-c3d4")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "42-3-node",
        "000000000000042-00003-",
        "000000000000042-0003-node",
        "x" * 30,
        "00000000000004a-00003-n",
    ],
)
def test_parse_rejects_malformed_stamps(text: str) -> None:
    with pytest.raises(ValueError, match="malformed HLC"):
        Hlc.parse(text)


def test_stamps_outside_the_encodable_range_are_refused() -> None:
    with pytest.raises(ValueError):
        Hlc(-1, 0, "n")
    with pytest.raises(ValueError):
        Hlc(0, MAX_COUNTER + 1, "n")
    with pytest.raises(ValueError):
        Hlc(0, 0, "")


@settings(max_examples=60, deadline=None)
@given(stamps)
def test_parse_inverts_encode(stamp: Hlc) -> None:
    assert Hlc.parse(stamp.encode()) == stamp


@settings(max_examples=60, deadline=None)
@given(stamps, stamps)
def test_text_order_equals_stamp_order(a: Hlc, b: Hlc) -> None:
    assert (a.encode() < b.encode()) == (a < b)
    assert (a.encode() == b.encode()) == (a == b)


def test_wall_now_reads_milliseconds() -> None:
    assert abs(clock.wall_now_ms() - 1_700_000_000_000) < 10**13


def test_send_follows_the_wall_clock_when_it_moves_ahead() -> None:
    last = Hlc(1_000, 5, "a")
    assert clock.send(last, wall_ms=2_000, node="a") == Hlc(2_000, 0, "a")


def test_send_counts_up_when_the_wall_clock_stands_still_or_goes_back() -> None:
    last = Hlc(1_000, 5, "a")
    assert clock.send(last, wall_ms=1_000, node="a") == Hlc(1_000, 6, "a")
    assert clock.send(last, wall_ms=10, node="a") == Hlc(1_000, 6, "a")


def test_counter_overflow_borrows_the_next_millisecond() -> None:
    last = Hlc(1_000, MAX_COUNTER, "a")
    assert clock.send(last, wall_ms=1_000, node="a") == Hlc(1_001, 0, "a")


def test_receive_takes_the_remote_wall_when_it_is_ahead() -> None:
    got = clock.receive(Hlc(1_000, 2, "a"), Hlc(5_000, 7, "b"), wall_ms=3_000, node="a")
    assert got == Hlc(5_000, 8, "a")


def test_receive_continues_the_larger_counter_on_equal_walls() -> None:
    got = clock.receive(Hlc(5_000, 2, "a"), Hlc(5_000, 7, "b"), wall_ms=3_000, node="a")
    assert got == Hlc(5_000, 8, "a")


def test_receive_resets_the_counter_when_physical_time_leads() -> None:
    got = clock.receive(Hlc(1_000, 2, "a"), Hlc(2_000, 7, "b"), wall_ms=9_000, node="a")
    assert got == Hlc(9_000, 0, "a")


@settings(max_examples=60, deadline=None)
@given(st.lists(walls, min_size=1, max_size=30), nodes)
def test_send_is_strictly_monotonic(wall_readings: list[int], node: str) -> None:
    last: Hlc | None = None
    for wall in wall_readings:
        nxt = clock.send(last, wall_ms=wall, node=node)
        assert last is None or nxt > last
        assert nxt.wall_ms >= wall
        last = nxt


@settings(max_examples=60, deadline=None)
@given(st.none() | stamps, stamps, walls, nodes)
def test_receive_orders_after_both_stamps(
    last: Hlc | None, remote: Hlc, wall: int, node: str
) -> None:
    got = clock.receive(last, remote, wall_ms=wall, node=node)
    assert (got.wall_ms, got.counter) > (remote.wall_ms, remote.counter)
    assert got > remote
    if last is not None:
        assert got > last
    assert got.wall_ms >= wall
    assert got.node == node


@settings(max_examples=60, deadline=None)
@given(stamps, walls, st.integers(min_value=0, max_value=10**9))
def test_bound_clamps_only_stamps_too_far_ahead(remote: Hlc, wall: int, max_future: int) -> None:
    got, clamped = clock.bound(remote, wall_ms=wall, max_future_ms=max_future)
    assert got.wall_ms <= max(remote.wall_ms, wall) and got.wall_ms <= max(wall + max_future, 0)
    assert clamped == (remote.wall_ms > wall + max_future)
    if clamped:
        assert got == Hlc(wall + max_future, remote.counter, remote.node)
    else:
        assert got is remote


def test_a_device_days_ahead_is_clamped_to_the_window() -> None:
    day = 86_400_000
    now = 1_700_000_000_000
    skewed = Hlc(now + 3 * day, 0, "dev-fast")
    got, clamped = clock.bound(skewed, wall_ms=now, max_future_ms=60_000)
    assert clamped
    honest_a_minute_later = Hlc(now + 61_000, 0, "dev-honest")
    assert honest_a_minute_later > got
