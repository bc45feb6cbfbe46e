"""The fairness report and the simulator (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from server.leads.engine import LeadFacts, RepLoad, RepProfile
from server.leads.fairness import entitlements, gini, report
from server.leads.rules import AssignmentRules, ScoreWeights
from server.leads.simulate import SimLead, seed_for, simulate


def test_gini_is_zero_for_equal_and_n_minus_one_over_n_for_all_to_one() -> None:
    assert gini([3, 3, 3, 3]) == 0.0
    assert gini([0, 0, 0, 8]) == pytest.approx(0.75)
    assert gini([]) == 0.0


def test_the_report_compares_shares_with_weight_targets() -> None:
    out = report({"a": 6, "b": 3, "c": 1}, {"a": 2.0, "b": 1.0, "c": 1.0})
    rows = {r.rep_id: r for r in out.reps}
    assert (rows["a"].share, rows["a"].target, rows["a"].deviation) == (0.6, 0.5, 0.1)
    assert out.spread == 0.5
    assert out.max_abs_deviation == pytest.approx(0.15)
    assert out.gini == pytest.approx(gini([3, 3, 1]), abs=1e-6)


def test_entitlement_shares_each_lead_by_weight_among_its_eligible_reps() -> None:
    owed = entitlements([["a", "b"], ["a"], ["a", "b", "c"]], {"a": 2.0, "b": 1.0, "c": 1.0})
    assert owed == pytest.approx({"a": 2 / 3 + 1 + 0.5, "b": 1 / 3 + 0.25, "c": 0.25})


def _rep(rep_id: str, lat: float, **fields: object) -> RepProfile:
    return RepProfile(
        id=rep_id,
        home_lat=lat,
        home_lon=10.0,
        service_radius_km=100.0,
        working_days=frozenset(range(7)),
        **fields,
    )  # type: ignore[arg-type]


def _leads(count: int, *, per_day: int, actual: str | None = None) -> list[SimLead]:
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    out = []
    for i in range(count):
        at = start + timedelta(days=i // per_day, minutes=i)
        out.append(SimLead(LeadFacts(f"l{i:03d}", 50.0, 10.0), at, at.date(), actual))
    return out


def test_a_draft_favouring_distance_sends_everything_to_the_nearest_rep() -> None:
    reps = [_rep("near", 50.0), _rep("far", 50.5)]
    leads = _leads(10, per_day=10, actual="far")
    draft = AssignmentRules(weights=ScoreWeights(fairness=0.0, distance=1.0, load=0.0))
    result = simulate(reps, draft, leads, start_loads={})
    assert [(d.rep_id, d.actual, d.simulated, d.difference) for d in result.reps] == [
        ("far", 10, 0, -10),
        ("near", 0, 10, 10),
    ]
    assert result.changed == 10


def test_daily_quotas_reset_with_each_simulated_day() -> None:
    reps = [_rep("solo", 50.0, daily_quota=2, capacity=100)]
    result = simulate(reps, AssignmentRules(), _leads(9, per_day=3), start_loads={})
    assert result.reps[0].simulated == 6
    assert result.unassigned_simulated == {"all_at_capacity": 3}


def test_leads_closed_in_reality_free_capacity_in_the_simulation() -> None:
    reps = [_rep("solo", 50.0, capacity=1, daily_quota=100)]
    leads = [
        SimLead(x.facts, x.at, x.day, None, closes_at=x.at + timedelta(seconds=30))
        for x in _leads(5, per_day=5)
    ]
    assert simulate(reps, AssignmentRules(), leads, start_loads={}).reps[0].simulated == 5
    still_open = [SimLead(x.facts, x.at, x.day, None) for x in leads]
    assert simulate(reps, AssignmentRules(), still_open, start_loads={}).reps[0].simulated == 1


def test_the_fairness_window_rolls_during_a_simulation() -> None:
    reps = [_rep("a", 50.0), _rep("b", 50.0)]
    old = datetime(2026, 1, 1, tzinfo=UTC)
    lead = SimLead(
        LeadFacts("x", 50.0, 10.0), datetime(2026, 3, 2, tzinfo=UTC), date(2026, 3, 2), None
    )
    # Receipts from January are outside a 30-day window by March; from late February they count.
    stale = simulate(
        reps, AssignmentRules(), [lead], start_loads={}, window_receipts=[(old, "a")] * 5
    )
    recent = simulate(
        reps,
        AssignmentRules(),
        [lead],
        start_loads={},
        window_receipts=[(datetime(2026, 2, 25, tzinfo=UTC), "a")] * 5,
    )
    assert recent.decisions[0].winner_id == "b"
    assert stale.decisions[0].ties == ("a", "b")


def test_simulations_are_reproducible() -> None:
    reps = [_rep("a", 50.0), _rep("b", 50.0), _rep("c", 50.0)]
    first = simulate(reps, AssignmentRules(), _leads(30, per_day=10), start_loads={"a": RepLoad(2)})
    again = simulate(reps, AssignmentRules(), _leads(30, per_day=10), start_loads={"a": RepLoad(2)})
    assert [d.winner_id for d in first.decisions] == [d.winner_id for d in again.decisions]
    assert seed_for("l001") == seed_for("l001") != seed_for("l002")
