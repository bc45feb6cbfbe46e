"""Assignment rules: the per-region configuration (a msgspec Struct, validated whenever it is
saved), the precedence table and the score formula. Pure: no database, no HTTP.

The precedence table is the one source the engine, the brute-force reference and docs/leads.md
agree on (a test keeps the documentation in step with it).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Literal

import msgspec

__all__ = [
    "DEFAULT_RULES",
    "OPEN_STATUSES",
    "PRECEDENCE",
    "SCORE_DIGITS",
    "AssignmentRules",
    "RuleStep",
    "ScoreWeights",
    "UnassignedReason",
    "deficit",
    "score",
    "total_weight",
]


class UnassignedReason(StrEnum):
    NO_LOCATION = "no_location"
    NO_REP_COVERS = "no_rep_covers"
    SKILL_MISSING = "skill_missing"
    NO_ACTIVE_REP = "no_active_rep"
    ALL_AT_CAPACITY = "all_at_capacity"


OPEN_STATUSES: frozenset[str] = frozenset({"assigned", "contacted", "qualified"})
"""A lead in one of these counts against its rep's capacity."""


class RuleStep(msgspec.Struct, frozen=True, kw_only=True):
    rule: str
    checks: str
    empties_to: UnassignedReason | None
    """The unassigned reason when this step leaves no candidate."""


PRECEDENCE: tuple[RuleStep, ...] = (
    RuleStep(
        rule="account_owner",
        checks="the lead's company matches an account name (case-insensitive); that account's "
        "owner wins if it is a rep passing skills, availability and capacity",
        empties_to=None,
    ),
    RuleStep(
        rule="region",
        checks="reps of the lead's region (all regions when the lead has none)",
        empties_to=UnassignedReason.NO_ACTIVE_REP,
    ),
    RuleStep(
        rule="location",
        checks="the lead has coordinates (given, or from the geocoder)",
        empties_to=UnassignedReason.NO_LOCATION,
    ),
    RuleStep(
        rule="territory",
        checks="the point lies in the rep's territory polygon, or within service_radius_km of "
        "the rep's home base (geodesic distance)",
        empties_to=UnassignedReason.NO_REP_COVERS,
    ),
    RuleStep(
        rule="skills",
        checks="the lead's product line is among the rep's skills (through product_line_skills "
        "when mapped); the lead's language among the rep's languages when given",
        empties_to=UnassignedReason.SKILL_MISSING,
    ),
    RuleStep(
        rule="availability",
        checks="the rep is active, not on leave today, and today is one of their working days",
        empties_to=UnassignedReason.NO_ACTIVE_REP,
    ),
    RuleStep(
        rule="capacity",
        checks="open leads (assigned, contacted, qualified) below capacity and today's new "
        "assignments below daily_quota",
        empties_to=UnassignedReason.ALL_AT_CAPACITY,
    ),
)


class ScoreWeights(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    distance: Annotated[float, msgspec.Meta(ge=0, le=100)] = 0.5
    load: Annotated[float, msgspec.Meta(ge=0, le=100)] = 0.5
    fairness: Annotated[float, msgspec.Meta(ge=0, le=100)] = 1.0


class AssignmentRules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    account_owner_override: bool = True
    territory: Literal["polygon_or_radius", "polygon", "radius"] = "polygon_or_radius"
    match_language: bool = True
    product_line_skills: dict[
        Annotated[str, msgspec.Meta(min_length=1, max_length=80)],
        Annotated[
            list[Annotated[str, msgspec.Meta(min_length=1, max_length=80)]],
            msgspec.Meta(min_length=1),
        ],
    ] = msgspec.field(default_factory=dict)
    """Lead product line → the skills any one of which qualifies a rep (default: the product
    line itself)."""
    weights: ScoreWeights = msgspec.field(default_factory=ScoreWeights)
    distance_scale_km: Annotated[float, msgspec.Meta(gt=0, le=20000)] = 100.0
    fairness_window_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30
    sla_hours: Annotated[float, msgspec.Meta(gt=0, le=24 * 90)] = 24.0
    sla_reroute_manual: bool = False
    """Whether the first-touch SLA job may also re-route manually assigned leads."""
    sla_max_reroutes: Annotated[int, msgspec.Meta(ge=0, le=20)] = 3

    def skills_for(self, product_line: str) -> tuple[str, ...]:
        return tuple(self.product_line_skills.get(product_line, (product_line,)))


DEFAULT_RULES = AssignmentRules()

SCORE_DIGITS = 9
"""Scores are rounded so that "exact tie" is a stable notion across implementations."""


def deficit(weight: float, total_weight: float, window_count: int, total_window: int) -> float:
    """Deficit round robin over the rolling window: the leads a rep is owed if the next lead is
    shared by weight among the eligible reps, minus what it already received."""
    if total_weight <= 0:
        return float(-window_count)
    return weight / total_weight * (total_window + 1) - window_count


def score(
    weights: ScoreWeights, *, distance_norm: float, load: float, deficit_value: float
) -> float:
    raw = weights.fairness * deficit_value - weights.distance * distance_norm - weights.load * load
    return round(raw, SCORE_DIGITS)


def total_weight(weights: list[float]) -> float:
    # fsum is correctly rounded whatever the order, so every implementation agrees bit for bit.
    return math.fsum(weights)
