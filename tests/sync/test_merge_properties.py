"""Merge properties under random inputs: concurrent last-writer-wins upserts converge whatever
their arrival order, the newest stamp decides every field, and re-applying a mutation changes
nothing."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.merge import Stored, merge
from sync.messages import Upsert
from tests.sync.helpers import after, stamp

FIELDS = ("name", "phone", "email", "notes", "city")
values = st.sampled_from(["a", "b", "c", None])
walls = st.integers(min_value=1, max_value=50)


@st.composite
def records(draw: st.DrawFn) -> Stored:
    version = draw(st.integers(min_value=1, max_value=5))
    fields = {name: draw(values) for name in FIELDS}
    clocks = {
        name: (stamp(draw(walls), "server", draw(st.integers(0, 3))), draw(st.integers(1, version)))
        for name in FIELDS
    }
    return Stored(fields=fields, clocks=clocks, version=version)


@st.composite
def upserts(draw: st.DrawFn, node: str, max_base: int) -> Upsert:
    names = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=len(FIELDS), unique=True))
    return Upsert(
        seq=1,
        tx="t",
        entity="account",
        id="r",
        fields={name: draw(values) for name in names},
        hlc=stamp(draw(walls), node, draw(st.integers(0, 3))),
        base_version=draw(st.integers(0, max_base)),
    )


def apply_all(state: Stored, mutations: list[Upsert]) -> Stored:
    for mutation in mutations:
        state = after(state, merge("account", state, mutation, new_version=state.version + 1))
    return state


@st.composite
def scenarios(draw: st.DrawFn, devices: int) -> tuple[Stored, list[Upsert]]:
    record = draw(records())
    mutations = [draw(upserts(f"dev-{i}", record.version)) for i in range(devices)]
    return record, mutations


@settings(max_examples=100, deadline=None)
@given(scenarios(2))
def test_two_concurrent_upserts_converge_in_either_order(case: tuple[Stored, list[Upsert]]) -> None:
    record, (a, b) = case
    ab = apply_all(record, [a, b])
    ba = apply_all(record, [b, a])
    assert dict(ab.fields) == dict(ba.fields)
    assert {k: c[0] for k, c in ab.clocks.items()} == {k: c[0] for k, c in ba.clocks.items()}


@settings(max_examples=30, deadline=None)
@given(scenarios(4))
def test_any_arrival_order_of_four_devices_converges(case: tuple[Stored, list[Upsert]]) -> None:
    record, mutations = case
    outcomes = {
        tuple(sorted(apply_all(record, list(order)).fields.items(), key=lambda kv: kv[0]))
        for order in itertools.permutations(mutations)
    }
    assert len(outcomes) == 1


@settings(max_examples=100, deadline=None)
@given(scenarios(3))
def test_the_newest_stamp_decides_every_field(case: tuple[Stored, list[Upsert]]) -> None:
    record, mutations = case
    final = apply_all(record, mutations)
    for name in FIELDS:
        writes: list[tuple[str, Any]] = [(record.clocks[name][0], record.fields[name])]
        writes += [(m.hlc, m.fields[name]) for m in mutations if name in m.fields]
        newest_hlc, newest_value = max(writes, key=lambda w: w[0])
        assert final.fields[name] == newest_value
        assert final.clocks[name][0] == newest_hlc


@settings(max_examples=100, deadline=None)
@given(records(), upserts("dev-a", 5))
def test_reapplying_a_mutation_changes_nothing(record: Stored, mutation: Upsert) -> None:
    first = merge("account", record, mutation, new_version=record.version + 1)
    state = after(record, first)
    again = merge("account", state, mutation, new_version=state.version + 1)
    assert again.write == {}
    assert not again.changed
    lost = [d for d in first.discarded if d.discarded_hlc == mutation.hlc]
    assert again.outcome == ("merged" if lost else "noop")
    assert again.discarded == lost


@settings(max_examples=100, deadline=None)
@given(records(), upserts("dev-a", 5))
def test_every_value_that_loses_is_logged(record: Stored, mutation: Upsert) -> None:
    got = merge("account", record, mutation, new_version=record.version + 1)
    final = after(record, got)
    for name, value in mutation.fields.items():
        if final.fields[name] != value:
            assert any(d.field == name and d.discarded == value for d in got.discarded)
