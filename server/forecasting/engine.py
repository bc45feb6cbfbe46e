"""The forecast computation, free of the database: run-rate fits (reused where the history is
unchanged), pipeline, blend, reconciliation and intervals for every node of the hierarchy."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from server.forecasting.blend import blend
from server.forecasting.inputs import Hierarchy, Key, Opportunities, Sales
from server.forecasting.periods import add_periods, periods_between, season_length
from server.forecasting.pipeline import (
    ClosedOutcome,
    PipelinePeriod,
    WinRates,
    amount_bands,
    learn_win_rates,
    pipeline_by_period,
)
from server.forecasting.reconcile import aggregate, reconcile
from server.forecasting.runrate import Z80, SeriesForecast, forecast_many

__all__ = [
    "ALGORITHM_VERSION",
    "Computed",
    "Outcome",
    "compute",
    "history_hash",
    "node_histories",
]

ALGORITHM_VERSION = "4"
"""Part of every series hash: bump it when the run-rate methods change, to refit everything."""


@dataclass(frozen=True)
class Computed:
    key: Key
    region_id: str | None
    period_start: date
    horizon: int
    method: str
    run_rate: float
    pipeline: float
    blend: float
    lower: float
    upper: float
    closed: float
    commit: float
    best_case: float
    pipeline_amount: float
    seasonal_naive: float
    mase_scale: float | None
    inputs_hash: str
    components: dict[str, Any]


@dataclass
class Outcome:
    rows: list[Computed]
    fits: dict[Key, tuple[str, SeriesForecast]]
    refit: set[Key] = field(default_factory=set)
    history: dict[Key, np.ndarray] = field(default_factory=dict)
    """Every node's history (complete periods before the origin): actuals for scoring."""


def history_hash(granularity: str, origin: date, values: np.ndarray) -> str:
    digest = hashlib.sha256(f"{ALGORITHM_VERSION}|{granularity}|{origin.isoformat()}|".encode())
    digest.update(np.round(values, 2).tobytes())
    return digest.hexdigest()


def node_histories(tree: Hierarchy, sales: Sales, granularity: str) -> dict[Key, np.ndarray]:
    """Every node's history: its reps' histories added up the tree."""
    zeros = np.zeros(periods_between(sales.start, sales.origin, granularity))
    leaf_history = {
        k: sales.history.get(k[1], zeros) if k[0] == "rep" else zeros for k in tree.leaves
    }
    return aggregate(tree.parents, leaf_history)


def compute(
    tree: Hierarchy,
    sales: Sales,
    opportunities: Opportunities,
    *,
    granularity: str,
    horizon: int,
    cached: dict[Key, tuple[str, SeriesForecast]],
) -> Outcome:
    leaves = tree.leaves
    zeros_h = np.zeros(horizon)
    leaf_closed = {
        k: sales.current.get(k[1], zeros_h) if k[0] == "rep" else zeros_h for k in leaves
    }
    history = node_histories(tree, sales, granularity)
    closed = aggregate(tree.parents, leaf_closed)

    fits: dict[Key, tuple[str, SeriesForecast]] = {}
    stale: list[tuple[Key, str]] = []
    for key, values in history.items():
        digest = history_hash(granularity, sales.origin, values)
        hit = cached.get(key)
        if hit is not None and hit[0] == digest:
            fits[key] = hit
        else:
            stale.append((key, digest))
    fresh = forecast_many(
        [history[k] for k, _ in stale], horizon=horizon, season=season_length(granularity)
    )
    for (key, digest), fit in zip(stale, fresh, strict=True):
        fits[key] = (digest, fit)

    rates = _win_rates(tree, opportunities)
    leaf_pipeline = {
        k: pipeline_by_period(
            opportunities.open_by_owner.get(k[1], []) if k[0] == "rep" else [],
            rates.get(tree.region_of[k], rates[None]),
            origin=sales.origin,
            horizon=horizon,
            granularity=granularity,
        )
        for k in leaves
    }
    pipelines = _aggregate_pipeline(tree, leaf_pipeline, horizon)
    # Each rep's pipeline-side estimate (its run-rate when it keeps no pipeline), added up the
    # tree: what a territory, region or the company blends with its own run-rate.
    leaf_estimate: dict[Key, np.ndarray] = {}
    leaf_estimate_var: dict[Key, np.ndarray] = {}
    for k in leaves:
        fit, periods = fits[k][1], leaf_pipeline[k]
        if any(p.count for p in periods):
            leaf_estimate[k] = leaf_closed[k] + np.array([p.expected for p in periods])
            leaf_estimate_var[k] = np.array([p.variance for p in periods])
        else:
            leaf_estimate[k] = np.maximum(np.array(fit.point), leaf_closed[k])
            leaf_estimate_var[k] = np.array(fit.variance)
    estimate = aggregate(tree.parents, leaf_estimate)
    estimate_var = aggregate(tree.parents, leaf_estimate_var)

    base: dict[Key, np.ndarray] = {}
    variance: dict[Key, np.ndarray] = {}
    weights: dict[Key, list[float]] = {}
    for key in tree.parents:
        fit = fits[key][1]
        has_pipeline = any(p.count for p in pipelines[key])
        points: list[float] = []
        variances: list[float] = []
        ws: list[float] = []
        for h in range(horizon):
            b = blend(
                index=h,
                run_rate=fit.point[h],
                run_rate_variance=fit.variance[h],
                pipeline_estimate=float(estimate[key][h]),
                pipeline_variance=float(estimate_var[key][h]),
                closed=float(closed[key][h]),
                has_history=fit.method != "zero",
                has_pipeline=has_pipeline,
            )
            points.append(b.value)
            variances.append(b.variance)
            ws.append(b.weight)
        base[key], variance[key], weights[key] = np.array(points), np.array(variances), ws
    final = reconcile(tree.parents, base, variance, floors={k: leaf_closed[k] for k in leaves})

    rows: list[Computed] = []
    for key in tree.parents:
        digest, fit = fits[key]
        periods = pipelines[key]
        region_rates = rates.get(tree.region_of[key], rates[None])
        for h in range(horizon):
            point = float(final[key][h])
            spread = Z80 * math.sqrt(max(float(variance[key][h]), 0.0))
            floor = float(closed[key][h])
            components: dict[str, Any] = {
                "run_rate_weight": weights[key][h],
                "unreconciled": round(float(base[key][h]), 2),
                "pipeline_estimate": round(float(estimate[key][h]), 2),
                "run_rate_interval": [
                    round(max(0.0, fit.point[h] - Z80 * math.sqrt(fit.variance[h])), 2),
                    round(fit.point[h] + Z80 * math.sqrt(fit.variance[h]), 2),
                ],
                "deals": periods[h].count,
                "history_periods": fit.n,
                "params": fit.params,
            }
            if h == 0 and key[0] in ("region", "company"):
                components["win_rates"] = region_rates.to_json()
            rows.append(
                Computed(
                    key=key,
                    region_id=tree.region_of[key],
                    period_start=add_periods(sales.origin, h, granularity),
                    horizon=h + 1,
                    method=fit.method,
                    run_rate=round(fit.point[h], 2),
                    pipeline=round(periods[h].expected, 2),
                    blend=round(point, 2),
                    lower=round(max(floor, point - spread, 0.0), 2),
                    upper=round(max(point + spread, floor), 2),
                    closed=round(floor, 2),
                    commit=round(periods[h].amounts.get("commit", 0.0), 2),
                    best_case=round(periods[h].amounts.get("best_case", 0.0), 2),
                    pipeline_amount=round(periods[h].amounts.get("pipeline", 0.0), 2),
                    seasonal_naive=round(fit.seasonal_naive[h], 2),
                    mase_scale=fit.scale if fit.n > 1 else None,
                    inputs_hash=digest,
                    components=components,
                )
            )
    return Outcome(rows=rows, fits=fits, refit={k for k, _ in stale}, history=history)


def _win_rates(tree: Hierarchy, opportunities: Opportunities) -> dict[str | None, WinRates]:
    by_region: dict[str | None, list[ClosedOutcome]] = defaultdict(list)
    everything: list[ClosedOutcome] = []
    for owner, outcomes in opportunities.closed_by_owner.items():
        region = tree.region_of.get(("rep", owner))
        by_region[region].extend(outcomes)
        everything.extend(outcomes)
    bands = amount_bands(o.amount for o in everything)
    company = learn_win_rates(everything, bands=bands)
    # A region with few closed deals leans on the company's rate, not on a fixed default.
    rates: dict[str | None, WinRates] = {
        key[1]: learn_win_rates(
            by_region.get(key[1], []), bands=bands, prior_rate=company.overall.rate
        )
        for key in tree.parents
        if key[0] == "region"
    }
    rates[None] = company
    return rates


def _aggregate_pipeline(
    tree: Hierarchy, leaf: dict[Key, list[PipelinePeriod]], horizon: int
) -> dict[Key, list[PipelinePeriod]]:
    totals: dict[Key, list[PipelinePeriod]] = {
        k: [PipelinePeriod() for _ in range(horizon)] for k in tree.parents
    }
    for key, periods in leaf.items():
        node: Key | None = key
        while node is not None:
            for h, p in enumerate(periods):
                slot = totals[node][h]
                slot.expected += p.expected
                slot.variance += p.variance
                slot.count += p.count
                for category, amount in p.amounts.items():
                    slot.amounts[category] = slot.amounts.get(category, 0.0) + amount
            node = tree.parents[node]
    return totals
