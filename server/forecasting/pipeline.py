"""Pipeline component: open opportunities weighted by the win rate of their stage and size,
learned per region from its closed opportunities and shrunk toward a prior when that history is
thin.

Win rates (Beta–binomial, in three nested steps, each shrunk toward the one before):

1. The company's overall win rate: ``(won + k·r₀) / (closed + k)`` with the prior rate ``r₀``
   (``PRIOR_WIN_RATE``) worth ``k`` (``PRIOR_STRENGTH``) pseudo-opportunities; each region's
   the same, shrunk toward the company's rate instead of ``r₀``.
2. Each stage's prior mean is the default stage rate (``STAGE_PRIOR``) moved by the region's
   odds ratio against ``r₀`` (in log-odds, so a region that wins often moves a 65 % stage to 81 %,
   not past 100 %), then ``(won_s + k·prior_s) / (closed_s + k)`` over the closed opportunities
   that were seen at that stage while open (recorded by every recompute).
3. Amount bands (``amount_bands``: the company's closed amounts cut at their terciles): each
   band's own overall rate, shrunk toward the region's, moves the stage rate by the band's
   log-odds ratio; deals seen at the stage in that band then pull it toward their own rate
   with the same strength ``k``.

Thin data never makes a rate certain: every step is a posterior mean with ``k`` prior
pseudo-deals, so a stage needs dozens of straight wins to approach 0.99. A region with no closed
history gets exactly the default stage rates; one with hundreds of outcomes gets its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
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
    "Calibration",
    "ClosedOutcome",
    "OpenOpportunity",
    "PipelinePeriod",
    "WinRates",
    "amount_bands",
    "calibration",
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
    amount: float = 0.0
    closed_on: date | None = None


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


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _shift(rate: float, odds_from: float, odds_to: float) -> float:
    """``rate`` moved by the odds ratio between two rates."""
    return _logistic(_logit(rate) + _logit(odds_to) - _logit(odds_from))


def amount_bands(amounts: Iterable[float]) -> tuple[float, ...]:
    """Edges cutting deal amounts into three bands of equal count (terciles); none when fewer
    than 30 amounts are known, since bands of a handful of deals would only add noise."""
    values = sorted(a for a in amounts if a > 0)
    if len(values) < 30:
        return ()
    return (values[len(values) // 3], values[2 * len(values) // 3])


def _band(amount: float, edges: Sequence[float]) -> int:
    return sum(amount >= e for e in edges)


@dataclass(frozen=True)
class WinRates:
    overall: StageRate
    stages: dict[str, StageRate]
    bands: tuple[float, ...] = ()
    band_overall: tuple[StageRate, ...] = ()
    """The overall rate within each amount band (shrunk toward ``overall``)."""
    stage_bands: dict[tuple[str, int], StageRate] = field(default_factory=dict)

    def rate(self, stage: str | None, amount: float | None = None) -> float:
        """Win probability of a deal at ``stage`` (None: stage unknown) of ``amount``."""
        found = self.stages.get(stage) if stage is not None else None
        base = found.rate if found else self.overall.rate
        if amount is None or not self.bands or not self.band_overall:
            return base
        band = _band(amount, self.bands)
        if stage is not None and (stage, band) in self.stage_bands:
            return self.stage_bands[(stage, band)].rate
        return _shift(base, self.overall.rate, self.band_overall[band].rate)

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
            "amount_bands": list(self.bands),
            "band_rates": [r.rate for r in self.band_overall],
        }


def learn_win_rates(
    outcomes: Iterable[ClosedOutcome],
    *,
    prior: dict[str, float] | None = None,
    prior_rate: float = PRIOR_WIN_RATE,
    strength: float = PRIOR_STRENGTH,
    bands: Sequence[float] = (),
) -> WinRates:
    """``prior_rate``: what the overall rate is shrunk toward (a region: the company's learned
    rate; the company: ``PRIOR_WIN_RATE``). The stage defaults are relative to
    ``PRIOR_WIN_RATE`` and move by the odds ratio of the learned overall rate to it."""
    prior = prior or STAGE_PRIOR
    items = list(outcomes)
    closed = len(items)
    won = sum(int(o.won) for o in items)
    overall = (won + strength * prior_rate) / (closed + strength)
    stages = {}
    for stage, base in prior.items():
        seen = [o for o in items if stage in o.stages_seen]
        stage_won = sum(int(o.won) for o in seen)
        mean = _shift(base, PRIOR_WIN_RATE, overall)
        rate = (stage_won + strength * mean) / (len(seen) + strength)
        stages[stage] = StageRate(rate=rate, closed=len(seen), won=stage_won)
    band_overall: list[StageRate] = []
    stage_bands: dict[tuple[str, int], StageRate] = {}
    for band in range(len(bands) + 1 if bands else 0):
        inside = [o for o in items if _band(o.amount, bands) == band]
        band_won = sum(int(o.won) for o in inside)
        band_rate = (band_won + strength * overall) / (len(inside) + strength)
        band_overall.append(StageRate(rate=band_rate, closed=len(inside), won=band_won))
        for stage, stage_rate in stages.items():
            seen = [o for o in inside if stage in o.stages_seen]
            if not seen:
                continue
            seen_won = sum(int(o.won) for o in seen)
            mean = _shift(stage_rate.rate, overall, band_rate)
            stage_bands[(stage, band)] = StageRate(
                rate=(seen_won + strength * mean) / (len(seen) + strength),
                closed=len(seen),
                won=seen_won,
            )
    return WinRates(
        overall=StageRate(rate=overall, closed=closed, won=won),
        stages=stages,
        bands=tuple(bands),
        band_overall=tuple(band_overall),
        stage_bands=stage_bands,
    )


@dataclass(frozen=True)
class Calibration:
    deals: int
    brier: float | None
    brier_base_rate: float | None
    """The Brier score of always forecasting the win rate seen so far: the bar to beat."""
    deciles: list[dict[str, float]]
    """Per decile of predicted probability: mean predicted, share won, deals."""


def calibration(
    outcomes_by_region: dict[str | None, list[ClosedOutcome]],
    *,
    warm_up: int = 20,
) -> Calibration:
    """How well the learned rates forecast deals not yet closed when they were learned: each
    month's closed deals are predicted from the outcomes of their region closed in earlier
    months (amount bands from every earlier deal), once ``warm_up`` deals have closed."""
    by_month: dict[tuple[int, int], list[tuple[str | None, ClosedOutcome]]] = {}
    for region, items in outcomes_by_region.items():
        for o in items:
            when = o.closed_on or date.min
            by_month.setdefault((when.year, when.month), []).append((region, o))
    history: dict[str | None, list[ClosedOutcome]] = {}
    everything: list[ClosedOutcome] = []
    predicted: list[tuple[float, bool]] = []
    base_rate: list[tuple[float, bool]] = []
    for month in sorted(by_month):
        if len(everything) >= warm_up:
            bands = amount_bands(o.amount for o in everything)
            company = learn_win_rates(everything, bands=bands)
            rates = {
                r: learn_win_rates(v, bands=bands, prior_rate=company.overall.rate)
                for r, v in history.items()
            }
            fallback = company
            seen = sum(o.won for o in everything) / len(everything)
            for region, outcome in by_month[month]:
                stage = max(outcome.stages_seen, key=OPEN_STAGES.index, default=None)
                p = rates.get(region, fallback).rate(stage, outcome.amount)
                predicted.append((p, outcome.won))
                base_rate.append((seen, outcome.won))
        for region, outcome in by_month[month]:
            history.setdefault(region, []).append(outcome)
            everything.append(outcome)
    if not predicted:
        return Calibration(deals=0, brier=None, brier_base_rate=None, deciles=[])
    ordered = sorted(predicted)
    deciles = []
    for d in range(10):
        chunk = ordered[d * len(ordered) // 10 : (d + 1) * len(ordered) // 10]
        if chunk:
            deciles.append(
                {
                    "predicted": round(sum(p for p, _ in chunk) / len(chunk), 3),
                    "won": round(sum(w for _, w in chunk) / len(chunk), 3),
                    "deals": len(chunk),
                }
            )
    return Calibration(
        deals=len(predicted),
        brier=sum((p - w) ** 2 for p, w in predicted) / len(predicted),
        brier_base_rate=sum((p - w) ** 2 for p, w in base_rate) / len(base_rate),
        deciles=deciles,
    )


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
        p = rates.rate(opp.stage, opp.amount)
        slot = periods[index]
        slot.expected += opp.amount * p
        slot.variance += opp.amount * opp.amount * p * (1.0 - p)
        slot.count += 1
        slot.amounts[opp.category] = slot.amounts.get(opp.category, 0.0) + opp.amount
    return periods
