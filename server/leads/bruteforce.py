"""The reference evaluation: every rule, for every rep, literally as the precedence table reads.

No index, no shortcuts, no trace: geopy's geodesic distance for every territory radius, a full
scan of the reps for every lead. Slow on purpose; the engine must agree with it (same winner, or
the same tie set settled by the same seeded draw).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from server.leads.engine import LeadFacts, RepLoad, RepProfile
from server.leads.geo import geodesic_km, great_circle_km, point_in_polygon
from server.leads.rules import AssignmentRules, UnassignedReason, deficit, score, total_weight

__all__ = ["Outcome", "assign_all", "evaluate"]


@dataclass(frozen=True, slots=True)
class Outcome:
    lead_id: str
    winner_id: str | None
    reason: UnassignedReason | None
    eligible: tuple[str, ...]
    ties: tuple[str, ...]
    draw: int | None


def _covers(rep: RepProfile, lead: LeadFacts, rules: AssignmentRules) -> bool:
    assert lead.lat is not None and lead.lon is not None
    by_polygon = (
        rules.territory in ("polygon_or_radius", "polygon")
        and rep.territory is not None
        and len(rep.territory) > 0
        and point_in_polygon(lead.lat, lead.lon, rep.territory)
    )
    by_radius = (
        rules.territory in ("polygon_or_radius", "radius")
        and rep.home_lat is not None
        and rep.home_lon is not None
        and geodesic_km(rep.home_lat, rep.home_lon, lead.lat, lead.lon) <= rep.service_radius_km
    )
    return by_polygon or by_radius


def _skilled(rep: RepProfile, lead: LeadFacts, rules: AssignmentRules) -> bool:
    if lead.product_line is not None and lead.product_line != "":
        wanted = rules.product_line_skills.get(lead.product_line, [lead.product_line])
        if not set(wanted) & rep.skills:
            return False
    if rules.match_language and lead.language:
        return lead.language.lower() in rep.languages
    return True


def _available(rep: RepProfile, today: date) -> bool:
    on_leave = rep.on_leave_until is not None and today <= rep.on_leave_until
    return rep.active and not on_leave and today.weekday() in rep.working_days


def _has_room(rep: RepProfile, load: RepLoad) -> bool:
    return load.open_leads < rep.capacity and load.assigned_today < rep.daily_quota


def evaluate(
    reps: Sequence[RepProfile],
    lead: LeadFacts,
    loads: Mapping[str, RepLoad],
    rules: AssignmentRules,
    *,
    today: date,
    seed: int,
    owners: Mapping[str, RepProfile] | None = None,
) -> Outcome:
    def load_of(rep_id: str) -> RepLoad:
        return loads.get(rep_id, RepLoad())

    everyone = {r.id: r for r in reps} | dict(owners or {})
    owner = everyone.get(lead.account_owner_id or "")
    if (
        rules.account_owner_override
        and owner is not None
        and owner.id not in lead.exclude
        and _skilled(owner, lead, rules)
        and _available(owner, today)
        and _has_room(owner, load_of(owner.id))
    ):
        return Outcome(lead.id, owner.id, None, (owner.id,), (owner.id,), None)

    steps: list[tuple[Callable[[RepProfile], bool], UnassignedReason]] = [
        (lambda r: r.id not in lead.exclude, UnassignedReason.NO_ACTIVE_REP),
        (lambda r: lead.lat is not None and lead.lon is not None, UnassignedReason.NO_LOCATION),
        (lambda r: _covers(r, lead, rules), UnassignedReason.NO_REP_COVERS),
        (lambda r: _skilled(r, lead, rules), UnassignedReason.SKILL_MISSING),
        (lambda r: _available(r, today), UnassignedReason.NO_ACTIVE_REP),
        (lambda r: _has_room(r, load_of(r.id)), UnassignedReason.ALL_AT_CAPACITY),
    ]
    remaining = sorted(reps, key=lambda r: r.id)
    if not remaining:
        return Outcome(lead.id, None, UnassignedReason.NO_ACTIVE_REP, (), (), None)
    for keep, reason in steps:
        remaining = [r for r in remaining if keep(r)]
        if not remaining:
            return Outcome(lead.id, None, reason, (), (), None)

    assert lead.lat is not None and lead.lon is not None
    weight_sum = total_weight([r.weight for r in remaining])
    window_sum = sum(load_of(r.id).window_count for r in remaining)
    scores: dict[str, float] = {}
    for rep in remaining:
        load = load_of(rep.id)
        if rep.home_lat is None or rep.home_lon is None:
            distance_norm = 1.0
        else:
            km = great_circle_km(rep.home_lat, rep.home_lon, lead.lat, lead.lon)
            distance_norm = min(km / rules.distance_scale_km, 1.0)
        scores[rep.id] = score(
            rules.weights,
            distance_norm=distance_norm,
            load=load.open_leads / rep.capacity,
            deficit_value=deficit(rep.weight, weight_sum, load.window_count, window_sum),
        )
    best = max(scores.values())
    ties = tuple(sorted(rid for rid, value in scores.items() if value == best))
    draw = random.Random(seed).randrange(len(ties)) if len(ties) > 1 else None
    winner = ties[0] if draw is None else ties[draw]
    return Outcome(lead.id, winner, None, tuple(sorted(scores)), ties, draw)


def assign_all(
    reps: Sequence[RepProfile],
    leads: Sequence[LeadFacts],
    loads: dict[str, RepLoad],
    rules: AssignmentRules,
    *,
    today: date,
    seeds: Sequence[int],
    owners: Mapping[str, RepProfile] | None = None,
) -> list[Outcome]:
    outcomes = []
    for lead, seed in zip(leads, seeds, strict=True):
        outcome = evaluate(reps, lead, loads, rules, today=today, seed=seed, owners=owners)
        if outcome.winner_id is not None:
            load = loads.setdefault(outcome.winner_id, RepLoad())
            load.open_leads += 1
            load.assigned_today += 1
            load.window_count += 1
        outcomes.append(outcome)
    return outcomes
