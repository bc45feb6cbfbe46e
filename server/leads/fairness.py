"""Fairness of the distribution, and the deficit round robin behind it.

The engine's fairness term (``rules.deficit``) is a deficit round robin over a rolling window:
among the reps eligible for a lead, rep r with weight w_r is owed w_r / Σw × (N + 1) of the N
leads they received in the window plus this one; the deficit is that entitlement minus what r
received. The rep owed most scores highest, so as long as the fairness weight dominates the
distance and load terms (by default it does: a deficit of one lead outweighs the largest
possible distance and load penalty), every eligible rep's share tracks its weight.

The report compares each rep's share of a period's leads with its target share (weight over the
team's total weight) and, where decision traces say who was eligible, with its entitlement (each
lead's unit shared by weight among the reps eligible for it, which discounts geography and
skills). It also gives the max-min spread of shares and the Gini coefficient of leads per unit of
weight (0 is perfectly even).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["FairnessReport", "RepShare", "entitlements", "gini", "report"]


@dataclass(frozen=True, slots=True)
class RepShare:
    rep_id: str
    weight: float
    count: int
    share: float
    target: float
    deviation: float
    """share − target."""
    entitled: float | None = None
    """Leads owed by weight among the reps eligible for each lead (None when unknown)."""


@dataclass(frozen=True, slots=True)
class FairnessReport:
    total: int
    reps: list[RepShare]
    spread: float
    """max share − min share."""
    max_abs_deviation: float
    gini: float
    """Gini coefficient of count / weight over the reps with a positive weight."""
    gini_vs_entitlement: float | None = None
    """Gini of count / entitled over reps that were entitled to something."""


def gini(values: Iterable[float]) -> float:
    xs = sorted(v for v in values)
    n = len(xs)
    total = sum(xs)
    if n == 0 or total <= 0:
        return 0.0
    # Σ_i (2i − n − 1)·x_i over the sorted values, normalised: the mean absolute difference / 2μ.
    weighted = sum((2 * (i + 1) - n - 1) * x for i, x in enumerate(xs))
    return weighted / (n * total)


def entitlements(
    eligible_sets: Iterable[Iterable[str]], weights: Mapping[str, float]
) -> dict[str, float]:
    owed: dict[str, float] = {}
    for eligible in eligible_sets:
        ids = [rid for rid in eligible if weights.get(rid, 0.0) > 0]
        total = sum(weights[rid] for rid in ids)
        for rid in ids:
            owed[rid] = owed.get(rid, 0.0) + weights[rid] / total
    return owed


def report(
    counts: Mapping[str, int],
    weights: Mapping[str, float],
    *,
    entitled: Mapping[str, float] | None = None,
) -> FairnessReport:
    rep_ids = sorted(set(weights) | set(counts))
    total = sum(counts.get(r, 0) for r in rep_ids)
    weight_sum = sum(max(weights.get(r, 0.0), 0.0) for r in rep_ids)
    rows = []
    for rid in rep_ids:
        count = counts.get(rid, 0)
        weight = max(weights.get(rid, 0.0), 0.0)
        share = count / total if total else 0.0
        target = weight / weight_sum if weight_sum else 0.0
        rows.append(
            RepShare(
                rep_id=rid,
                weight=weight,
                count=count,
                share=round(share, 6),
                target=round(target, 6),
                deviation=round(share - target, 6),
                entitled=None if entitled is None else round(entitled.get(rid, 0.0), 3),
            )
        )
    shares = [r.share for r in rows]
    per_weight = [r.count / r.weight for r in rows if r.weight > 0]
    vs_entitlement = None
    if entitled is not None:
        ratios = [counts.get(rid, 0) / e for rid, e in entitled.items() if e > 0]
        vs_entitlement = round(gini(ratios), 6)
    return FairnessReport(
        total=total,
        reps=rows,
        spread=round(max(shares) - min(shares), 6) if shares else 0.0,
        max_abs_deviation=max((abs(r.deviation) for r in rows), default=0.0),
        gini=round(gini(per_weight), 6),
        gini_vs_entitlement=vs_entitlement,
    )
