"""Pipeline component: open opportunities weighted by the win rate of their stage, learned per
region from its closed opportunities and shrunk toward a prior when that history is thin.

Win rates (a Beta–binomial model per region and stage):

1. The region's overall win rate: ``(won + k·r₀) / (closed + k)`` with the company-wide prior
   rate ``r₀`` (``PRIOR_WIN_RATE``) worth ``k`` (``PRIOR_STRENGTH``) pseudo-opportunities.
2. Each stage's prior mean is the default stage rate (``STAGE_PRIOR``) scaled by how the region
   converts relative to ``r₀`` (a region that wins twice as often wins more at every stage).
3. Each stage's rate: ``(won_s + k·prior_s) / (closed_s + k)`` over the closed opportunities
   that were seen at that stage while open (recorded by every recompute).

A region with no closed history gets exactly the default stage rates; one with hundreds of
outcomes gets its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from server.forecasting.periods import period_of, periods_between

__all__ = [
    "CATEGORIES",
    "CATEGORY_BY_STAGE",
    "OPEN_STAGES",
    "PRIOR_STRENGTH",
    "PRIOR_WIN_RATE",
    "STAGE_PRIOR",
    "ClosedOutcome",
    "OpenOpportunity",
    "PipelinePeriod",
    "WinRates",
    "category_of",
    "learn_win_rates",
    "pipeline_by_period",
]

STAGE_PRIOR: dict[str, float] = {
    "prospecting": 0.10,
    "qualification": 0.20,
    "proposal": 0.40,
    "negotiation": 0.65,
}
OPEN_STAGES = tuple(STAGE_PRIOR)
PRIOR_WIN_RATE = 0.30
PRIOR_STRENGTH = 10.0

CATEGORIES = ("closed", "commit", "best_case", "pipeline")
CATEGORY_BY_STAGE: dict[str, str] = {
    "prospecting": "pipeline",
    "qualification": "pipeline",
    "proposal": "best_case",
    "negotiation": "commit",
}
"""The category of an open opportunity whose owner has not called one."""


def category_of(stage: str, called: str | None) -> str:
    if called in ("commit", "best_case", "pipeline"):
        return called
    return CATEGORY_BY_STAGE.get(stage, "pipeline")


@dataclass(frozen=True)
class ClosedOutcome:
    won: bool
    stages_seen: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OpenOpportunity:
    amount: float
    close_date: date
    stage: str
    category: str


@dataclass(frozen=True)
class StageRate:
    rate: float
    closed: int
    won: int


@dataclass(frozen=True)
class WinRates:
    overall: StageRate
    stages: dict[str, StageRate]

    def rate(self, stage: str) -> float:
        found = self.stages.get(stage)
        return found.rate if found else self.overall.rate

    def to_json(self) -> dict[str, object]:
        return {
            "overall": {
                "rate": self.overall.rate,
                "closed": self.overall.closed,
                "won": self.overall.won,
            },
            "stages": {
                s: {"rate": r.rate, "closed": r.closed, "won": r.won}
                for s, r in self.stages.items()
            },
        }


def learn_win_rates(
    outcomes: Iterable[ClosedOutcome],
    *,
    prior: dict[str, float] | None = None,
    prior_rate: float = PRIOR_WIN_RATE,
    strength: float = PRIOR_STRENGTH,
) -> WinRates:
    prior = prior or STAGE_PRIOR
    closed = won = 0
    stage_closed = dict.fromkeys(prior, 0)
    stage_won = dict.fromkeys(prior, 0)
    for outcome in outcomes:
        closed += 1
        won += int(outcome.won)
        for stage in outcome.stages_seen:
            if stage in stage_closed:
                stage_closed[stage] += 1
                stage_won[stage] += int(outcome.won)
    overall = (won + strength * prior_rate) / (closed + strength)
    lift = overall / prior_rate
    stages = {}
    for stage, base in prior.items():
        mean = min(max(base * lift, 0.01), 0.99)
        rate = (stage_won[stage] + strength * mean) / (stage_closed[stage] + strength)
        stages[stage] = StageRate(rate=rate, closed=stage_closed[stage], won=stage_won[stage])
    return WinRates(overall=StageRate(rate=overall, closed=closed, won=won), stages=stages)


@dataclass
class PipelinePeriod:
    expected: float = 0.0
    variance: float = 0.0
    count: int = 0
    amounts: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CATEGORIES[1:], 0.0))


def pipeline_by_period(
    opportunities: Iterable[OpenOpportunity],
    rates: WinRates,
    *,
    origin: date,
    horizon: int,
    granularity: str,
) -> list[PipelinePeriod]:
    """Expected won value per period (amount × stage win rate), its variance (each deal a
    Bernoulli trial: amount²·p·(1−p)), and the unweighted amount per category. A deal whose
    close date has passed while it is still open has slipped: it counts in the current period."""
    periods = [PipelinePeriod() for _ in range(horizon)]
    for opp in opportunities:
        index = max(0, periods_between(origin, period_of(opp.close_date, granularity), granularity))
        if index >= horizon:
            continue
        p = rates.rate(opp.stage)
        slot = periods[index]
        slot.expected += opp.amount * p
        slot.variance += opp.amount * opp.amount * p * (1.0 - p)
        slot.count += 1
        slot.amounts[opp.category] = slot.amounts.get(opp.category, 0.0) + opp.amount
    return periods
