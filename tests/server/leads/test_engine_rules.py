"""The engine, rule by rule, in precedence order (pure: no database)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from geopy.distance import geodesic

from server.leads.engine import Engine, LeadFacts, RepLoad, RepProfile
from server.leads.rules import AssignmentRules, ScoreWeights, UnassignedReason

MONDAY = date(2026, 3, 2)
HAMBURG = (53.5511, 9.9937)
BREMEN = (53.0793, 8.8017)


def rep(rep_id: str, at: tuple[float, float] = HAMBURG, **fields: object) -> RepProfile:
    base: dict[str, object] = {
        "id": rep_id,
        "home_lat": at[0],
        "home_lon": at[1],
        "service_radius_km": 50.0,
        "skills": frozenset({"pumps", "valves"}),
        "languages": frozenset({"de", "en"}),
    }
    base.update(fields)
    return RepProfile(**base)  # type: ignore[arg-type]


def lead(at: tuple[float, float] | None = HAMBURG, **fields: object) -> LeadFacts:
    lat, lon = at if at else (None, None)
    return LeadFacts(id=str(fields.pop("id", "lead-1")), lat=lat, lon=lon, **fields)  # type: ignore[arg-type]


def decide(
    reps: list[RepProfile],
    facts: LeadFacts,
    loads: dict[str, RepLoad] | None = None,
    rules: AssignmentRules | None = None,
    seed: int = 7,
    today: date = MONDAY,
):
    return Engine(reps, rules or AssignmentRules()).decide(
        facts, loads or {}, seed=seed, today=today
    )


def square(center: tuple[float, float], half: float) -> tuple[tuple[float, float], ...]:
    lat, lon = center
    return (
        (lat - half, lon - half),
        (lat - half, lon + half),
        (lat + half, lon + half),
        (lat + half, lon - half),
    )


# Precedence 1: the account owner --------------------------------------------------------------


def test_account_owner_wins_over_a_closer_rep() -> None:
    near, owner = rep("near"), rep("owner", BREMEN, service_radius_km=5)
    decision = decide([near, owner], lead(account_owner_id="owner"))
    assert (decision.winner_id, decision.via) == ("owner", "account_owner")
    assert decision.trace["override"]["applied"] is True


def test_account_owner_at_capacity_falls_back_to_the_rules() -> None:
    near, owner = rep("near"), rep("owner", capacity=1)
    decision = decide(
        [near, owner], lead(account_owner_id="owner"), {"owner": RepLoad(open_leads=1)}
    )
    assert (decision.winner_id, decision.via) == ("near", "score")
    assert decision.trace["override"]["failed"]["rule"] == "capacity"


def test_account_owner_override_can_be_switched_off() -> None:
    near, owner = rep("near"), rep("owner", BREMEN)
    rules = AssignmentRules(account_owner_override=False)
    assert decide([near, owner], lead(account_owner_id="owner"), rules=rules).winner_id == "near"


# Precedence 2: territory ----------------------------------------------------------------------


def test_a_territory_polygon_covers_a_point_beyond_the_home_radius() -> None:
    far_home = rep("poly", BREMEN, service_radius_km=5, territory=square(HAMBURG, 0.3))
    assert decide([far_home], lead()).winner_id == "poly"


def test_the_home_radius_covers_a_point_outside_the_polygon_unless_the_rules_say_polygon() -> None:
    r = rep("radius", territory=square(BREMEN, 0.1))
    assert decide([r], lead()).winner_id == "radius"
    decision = decide([r], lead(), rules=AssignmentRules(territory="polygon"))
    assert decision.reason is UnassignedReason.NO_REP_COVERS


def test_the_radius_is_a_geodesic_distance() -> None:
    inside = geodesic(kilometers=49.9).destination(HAMBURG, bearing=77)
    outside = geodesic(kilometers=50.1).destination(HAMBURG, bearing=77)
    r = rep("r")
    assert decide([r], lead((inside.latitude, inside.longitude))).winner_id == "r"
    assert (
        decide([r], lead((outside.latitude, outside.longitude))).reason
        is UnassignedReason.NO_REP_COVERS
    )


def test_no_rep_covering_the_location_is_no_rep_covers() -> None:
    decision = decide([rep("hh")], lead((48.1351, 11.5820)))
    assert decision.reason is UnassignedReason.NO_REP_COVERS
    assert decision.trace["reason"] == "no_rep_covers"


def test_a_lead_without_coordinates_is_no_location() -> None:
    assert decide([rep("hh")], lead(None)).reason is UnassignedReason.NO_LOCATION


# Precedence 3: skills -------------------------------------------------------------------------


def test_the_product_line_must_be_among_the_reps_skills() -> None:
    pumps_only = rep("pumps", skills=frozenset({"pumps"}))
    both = rep("both", BREMEN, service_radius_km=200)
    assert decide([pumps_only, both], lead(product_line="valves")).winner_id == "both"
    assert (
        decide([pumps_only], lead(product_line="valves")).reason is UnassignedReason.SKILL_MISSING
    )


def test_product_line_skills_maps_a_line_to_qualifying_skills() -> None:
    rules = AssignmentRules(product_line_skills={"turbines": ["pumps"]})
    assert (
        decide(
            [rep("p", skills=frozenset({"pumps"}))], lead(product_line="turbines"), rules=rules
        ).winner_id
        == "p"
    )


def test_the_leads_language_must_be_spoken_when_given() -> None:
    german = rep("de", languages=frozenset({"de"}))
    assert decide([german], lead(language="FR")).reason is UnassignedReason.SKILL_MISSING
    assert decide([german], lead(language="DE")).winner_id == "de"
    assert (
        decide([german], lead(language="fr"), rules=AssignmentRules(match_language=False)).winner_id
        == "de"
    )


# Precedence 4: availability -------------------------------------------------------------------


def test_inactive_on_leave_and_off_day_reps_are_skipped() -> None:
    team = [
        rep("inactive", active=False),
        rep("on-leave", on_leave_until=MONDAY),
        rep("weekend-only", working_days=frozenset({5, 6})),
    ]
    decision = decide(team, lead())
    assert decision.reason is UnassignedReason.NO_ACTIVE_REP
    details = {
        e["rep_id"]: e["detail"] for s in decision.trace["stages"] for e in s.get("excluded", [])
    }
    assert details == {
        "inactive": "inactive",
        "on-leave": "on leave until 2026-03-02",
        "weekend-only": "Monday is not a working day",
    }


def test_leave_ends_the_day_after_on_leave_until() -> None:
    r = rep("r", on_leave_until=MONDAY)
    assert decide([r], lead(), today=MONDAY + timedelta(days=1)).winner_id == "r"


def test_a_region_without_reps_is_no_active_rep() -> None:
    assert decide([], lead()).reason is UnassignedReason.NO_ACTIVE_REP


# Precedence 5: capacity -----------------------------------------------------------------------


def test_capacity_and_daily_quota_exclude_reps() -> None:
    full = rep("full", capacity=2)
    quota = rep("quota", daily_quota=1)
    loads = {"full": RepLoad(open_leads=2), "quota": RepLoad(assigned_today=1)}
    assert decide([full, quota], lead(), loads).reason is UnassignedReason.ALL_AT_CAPACITY
    assert decide([full, quota, rep("free")], lead(), loads).winner_id == "free"


def test_the_first_step_that_empties_the_pool_names_the_reason() -> None:
    # Nobody covers Munich; the skill and capacity problems come later in precedence.
    team = [rep("hh", skills=frozenset(), capacity=0)]
    assert (
        decide(team, lead((48.1351, 11.5820), product_line="pumps")).reason
        is UnassignedReason.NO_REP_COVERS
    )
    assert decide(team, lead(product_line="pumps")).reason is UnassignedReason.SKILL_MISSING


# Score -----------------------------------------------------------------------------------------


def test_the_rep_owed_most_by_the_fairness_window_wins() -> None:
    team = [rep("a"), rep("b")]
    decision = decide(team, lead(), {"a": RepLoad(window_count=5), "b": RepLoad(window_count=2)})
    assert decision.winner_id == "b"
    scores = {c["rep_id"]: c for c in decision.trace["candidates"]}
    assert scores["b"]["deficit"] > scores["a"]["deficit"]


def test_with_equal_fairness_the_closer_rep_wins() -> None:
    near = rep("near")
    far = rep("far", (53.80, 10.20))
    assert decide([near, far], lead()).winner_id == "near"


def test_with_equal_fairness_and_distance_the_less_loaded_rep_wins() -> None:
    team = [rep("busy", capacity=10), rep("idle", capacity=10)]
    assert (
        decide(
            team, lead(), {"busy": RepLoad(open_leads=6), "idle": RepLoad(open_leads=1)}
        ).winner_id
        == "idle"
    )


def test_exact_ties_are_settled_by_the_seeded_draw_not_by_id() -> None:
    team = [rep("a"), rep("b"), rep("c")]
    winners = Counter(decide(team, lead(), seed=seed).winner_id for seed in range(300))
    assert set(winners) == {"a", "b", "c"}
    assert min(winners.values()) > 60
    first = decide(team, lead(), seed=12345)
    again = decide(team, lead(), seed=12345)
    assert (first.winner_id, first.draw, first.ties) == (again.winner_id, again.draw, again.ties)
    assert first.trace["seed"] == 12345 and first.trace["draw"] == first.draw
    assert first.trace["ties"] == ["a", "b", "c"]


def test_shares_track_weights_over_a_sequence() -> None:
    team = [
        rep("double", weight=2.0, capacity=10_000, daily_quota=10_000),
        rep("single", weight=1.0, capacity=10_000, daily_quota=10_000),
    ]
    engine = Engine(team, AssignmentRules(weights=ScoreWeights(distance=0.0, load=0.0)))
    loads: dict[str, RepLoad] = {}
    got = Counter(
        engine.assign(lead(id=f"l{i}"), loads, seed=i, today=MONDAY).winner_id for i in range(300)
    )
    assert got == {"double": 200, "single": 100}


def test_excluded_reps_are_passed_over_for_the_next_eligible_one() -> None:
    team = [rep("first"), rep("second", (53.60, 10.05))]
    decision = decide(team, lead(exclude=frozenset({"first"})))
    assert decision.winner_id == "second"
    assert (
        decide(team, lead(exclude=frozenset({"first", "second"}))).reason
        is UnassignedReason.NO_ACTIVE_REP
    )


def test_the_trace_lists_every_step_and_candidate() -> None:
    team = [rep("a"), rep("b", BREMEN, service_radius_km=5), rep("c", skills=frozenset())]
    trace = decide(team, lead(product_line="pumps")).trace
    assert [s["rule"] for s in trace["stages"]] == [
        "region",
        "territory",
        "skills",
        "availability",
        "capacity",
    ]
    assert [(s["in"], s["out"]) for s in trace["stages"]] == [
        (3, 3),
        (3, 2),
        (2, 1),
        (1, 1),
        (1, 1),
    ]
    assert trace["stages"][2]["excluded"] == [
        {"rep_id": "c", "detail": "lacks skill pumps for product line pumps"}
    ]
    (candidate,) = trace["candidates"]
    assert set(candidate) == {"rep_id", "distance_km", "load", "deficit", "score"}
    assert trace["winner_id"] == "a" and trace["draw"] is None


def test_the_grid_index_never_hides_a_covering_rep() -> None:
    # Homes at several latitudes; leads just inside the radius in every direction.
    for home in [(0.0, 20.0), (47.0, 8.0), (60.0, 25.0), (70.0, 20.0)]:
        team = [rep("r", home, service_radius_km=80.0)]
        indexed = Engine(team, AssignmentRules(), cell_deg=0.01)
        for bearing in range(0, 360, 15):
            p = geodesic(kilometers=79.9).destination(home, bearing=bearing)
            facts = lead((p.latitude, p.longitude))
            assert indexed.decide(facts, {}, seed=1, today=MONDAY).winner_id == "r", (home, bearing)


MUNICH = (48.1351, 11.5820)


def test_every_rep_the_territory_excludes_is_in_the_trace_even_those_the_index_skips() -> None:
    """Munich's reps are hundreds of kilometres from a Hamburg lead: the spatial index never
    visits them, and the territory stage still names each with the reason."""
    team = [
        rep("near", name="Nina Near"),
        rep("far-1", MUNICH, name="Franz Far", territory=square(MUNICH, 0.3)),
        rep("far-2", MUNICH, name="Frieda Far"),
    ]
    for use_index in (True, False):
        decision = Engine(team, AssignmentRules(), use_index=use_index).decide(
            lead(), {}, seed=7, today=MONDAY
        )
        territory = next(s for s in decision.trace["stages"] if s["rule"] == "territory")
        assert [(e["rep_id"], e["rep_name"]) for e in territory["excluded"]] == [
            ("far-1", "Franz Far"),
            ("far-2", "Frieda Far"),
        ]
        assert territory["excluded_count"] == 2
        assert all("km from home base" in e["detail"] for e in territory["excluded"])
        assert decision.trace["candidates"][0]["rep_name"] == "Nina Near"
