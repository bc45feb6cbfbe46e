"""Property: on random small instances the engine (grid index, banded distances, staged filters)
chooses exactly what the brute-force evaluation of the same rules over every rep chooses."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.leads.bruteforce import assign_all
from server.leads.engine import Engine, LeadFacts, RepLoad, RepProfile
from server.leads.rules import AssignmentRules, ScoreWeights

_HOMES = [(50.0, 10.0), (50.3, 10.4), (49.8, 9.7), (50.0, 10.6)]
_SKILLS = ["pumps", "valves", "service"]
_LANGS = ["de", "en", "fr"]
_DAY0 = date(2026, 3, 2)


def _box(lat: float, lon: float, half: float) -> tuple[tuple[float, float], ...]:
    return (
        (lat - half, lon - half),
        (lat - half, lon + half),
        (lat + half, lon + half),
        (lat + half, lon - half),
    )


def _mostly(common: object, *rare: object) -> st.SearchStrategy[object]:
    return st.sampled_from([common] * 6 + list(rare))


@st.composite
def reps(draw: st.DrawFn) -> list[RepProfile]:
    count = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 8, 8]))
    out = []
    for i in range(count):
        home = draw(_mostly(_HOMES[0], *_HOMES[1:], None))
        polygon = draw(
            st.one_of(
                st.none(),
                st.builds(
                    _box,
                    st.sampled_from([50.0, 50.2]),
                    st.sampled_from([10.0, 10.3]),
                    st.sampled_from([0.1, 0.3]),
                ),
            )
        )
        out.append(
            RepProfile(
                id=f"rep-{draw(st.integers(0, 999)):03d}-{i}",
                active=draw(_mostly(True, False)),
                on_leave_until=draw(_mostly(None, _DAY0, _DAY0 + timedelta(days=3))),
                working_days=draw(
                    _mostly(frozenset(range(7)), frozenset({0, 1, 2, 3, 4}), frozenset({5, 6}))
                ),
                home_lat=None if home is None else home[0],
                home_lon=None if home is None else home[1],
                service_radius_km=draw(_mostly(80.0, 10.0, 30.0, 45.0, 60.0, 120.0))
                + draw(_mostly(0.0, 0.5, 3.0)),
                territory=polygon,
                skills=draw(
                    _mostly(
                        frozenset(_SKILLS), frozenset({"pumps"}), frozenset({"valves"}), frozenset()
                    )
                ),
                languages=draw(_mostly(frozenset(_LANGS), frozenset({"de"}), frozenset())),
                capacity=draw(_mostly(5, 0, 1, 2)),
                daily_quota=draw(_mostly(5, 0, 1, 2)),
                weight=draw(_mostly(1.0, 0.5, 2.0)),
            )
        )
    return out


@st.composite
def leads(draw: st.DrawFn, rep_ids: list[str]) -> list[LeadFacts]:
    out = []
    for i in range(draw(st.integers(1, 8))):
        located = draw(_mostly(True, False))
        lat = (
            draw(_mostly(50.0, 50.2, 50.35).flatmap(lambda v: st.just(v) | st.floats(49.4, 50.8)))
            if located
            else None
        )
        lon = (
            draw(_mostly(10.0, 10.3, 10.5).flatmap(lambda v: st.just(v) | st.floats(9.2, 11.2)))
            if located
            else None
        )
        owner = draw(st.none() | st.sampled_from(rep_ids or ["nobody"]) | st.just("nobody"))
        exclude = (
            draw(
                _mostly(frozenset(), None).flatmap(
                    lambda e: (
                        st.just(e)
                        if e is not None
                        else st.sets(st.sampled_from(rep_ids), max_size=2)
                    )
                )
            )
            if rep_ids
            else set()
        )
        out.append(
            LeadFacts(
                id=f"lead-{i}",
                lat=lat,
                lon=lon,
                product_line=draw(_mostly(None, *_SKILLS, "turbines")),
                language=draw(_mostly(None, *_LANGS, "NL", "DE")),
                account_owner_id=owner,
                exclude=frozenset(exclude),
            )
        )
    return out


rules_strategy = st.builds(
    AssignmentRules,
    account_owner_override=st.booleans(),
    territory=st.sampled_from(["polygon_or_radius", "polygon", "radius"]),
    match_language=st.booleans(),
    product_line_skills=st.sampled_from([{}, {"turbines": ["pumps", "service"]}]),
    weights=st.builds(
        ScoreWeights,
        distance=st.sampled_from([0.0, 0.5, 2.0]),
        load=st.sampled_from([0.0, 0.5]),
        fairness=st.sampled_from([0.0, 1.0]),
    ),
    distance_scale_km=st.sampled_from([50.0, 100.0]),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rules=rules_strategy)
def test_engine_choice_equals_brute_force_over_all_reps(
    data: st.DataObject, rules: AssignmentRules
) -> None:
    team = data.draw(reps())
    ids = [r.id for r in team]
    batch = data.draw(leads(ids))
    start = {
        rid: data.draw(
            _mostly((0, 0, 0), (1, 0, 2), (3, 1, 0), (0, 2, 5)).map(lambda t: RepLoad(*t))
        )
        for rid in ids
    }
    seeds = data.draw(st.lists(st.integers(0, 2**53), min_size=len(batch), max_size=len(batch)))
    today = _DAY0 + timedelta(days=data.draw(st.integers(0, 6)))

    engine = Engine(team, rules)
    engine_loads = {
        k: RepLoad(v.open_leads, v.assigned_today, v.window_count) for k, v in start.items()
    }
    chosen = [
        engine.assign(lead, engine_loads, seed=s, today=today)
        for lead, s in zip(batch, seeds, strict=True)
    ]
    reference = assign_all(team, batch, start, rules, today=today, seeds=seeds)

    assert [(d.winner_id, d.reason, d.eligible, d.ties, d.draw) for d in chosen] == [
        (o.winner_id, o.reason, o.eligible, o.ties, o.draw) for o in reference
    ]
