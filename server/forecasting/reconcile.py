"""Hierarchy reconciliation: reps → territories → regions → company.

Every node of the tree has its own base forecast (its own history fitted, its own pipeline), so
the bases do not add up. We reconcile them with weighted least squares, weights the inverse of
each base forecast's variance (MinT with a diagonal error covariance, "WLS-var"):

    ỹ = S (Sᵀ W⁻¹ S)⁻¹ Sᵀ W⁻¹ ŷ,   W = diag(var ŷ)

On a tree this has an exact O(n) solution, the Gaussian-tree smoother, so no matrix is built:

* upward pass: each node combines the estimate its children imply (sum of their values, sum of
  their variances) with its own base forecast, precision-weighted;
* downward pass: the root keeps its combined value; each parent's final value is shared out among
  its children, each moving from its upward estimate in proportion to its upward variance.

A node whose base has a small variance (a steady series) moves little; a noisy one absorbs the
difference. After that, floors (never below zero, never below what a rep has already closed in
the period) are applied to the reps and every total re-added bottom-up, so the sums hold exactly.

Intervals are not reconciled: quantiles do not add. Each node keeps the width of its own base
interval (from its own model's variance), re-centred on its reconciled point and floored the same
way.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

import numpy as np

__all__ = ["aggregate", "children_of", "reconcile"]

K = TypeVar("K", bound=Hashable)


def children_of(parents: Mapping[K, K | None]) -> dict[K, list[K]]:
    children: dict[K, list[K]] = {key: [] for key in parents}
    for key, parent in parents.items():
        if parent is not None:
            children[parent].append(key)
    return children


def _post_order(parents: Mapping[K, K | None], children: Mapping[K, list[K]]) -> list[K]:
    order: list[K] = []
    for root in (k for k, p in parents.items() if p is None):
        stack: list[tuple[K, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            stack.append((node, True))
            stack.extend((child, False) for child in children[node])
    return order


def aggregate(
    parents: Mapping[K, K | None], leaf_values: Mapping[K, np.ndarray]
) -> dict[K, np.ndarray]:
    """Totals of every node from the values of the leaves (nodes without children)."""
    children = children_of(parents)
    totals: dict[K, np.ndarray] = {}
    for node in _post_order(parents, children):
        kids = children[node]
        totals[node] = (
            sum((totals[c] for c in kids), start=np.zeros_like(next(iter(leaf_values.values()))))
            if kids
            else np.asarray(leaf_values[node], dtype=float)
        )
    return totals


def reconcile(
    parents: Mapping[K, K | None],
    base: Mapping[K, np.ndarray],
    variance: Mapping[K, np.ndarray],
    floors: Mapping[K, np.ndarray] | None = None,
) -> dict[K, np.ndarray]:
    """Coherent forecasts for every node (arrays over periods). ``parents`` maps each node to its
    parent (None for a root); every node needs a base and a variance."""
    children = children_of(parents)
    order = _post_order(parents, children)
    up_value: dict[K, np.ndarray] = {}
    up_var: dict[K, np.ndarray] = {}
    for node in order:
        own = np.asarray(base[node], dtype=float)
        # A zero variance would mean "exactly right"; a floor tied to the scale keeps the
        # weights finite while still letting such a node dominate.
        own_var = np.maximum(np.asarray(variance[node], dtype=float), 1e-9 * (1.0 + own * own))
        kids = children[node]
        if not kids:
            up_value[node], up_var[node] = own, own_var
            continue
        kid_value = np.sum([up_value[c] for c in kids], axis=0)
        kid_var = np.sum([up_var[c] for c in kids], axis=0)
        combined_var = 1.0 / (1.0 / kid_var + 1.0 / own_var)
        up_value[node] = combined_var * (kid_value / kid_var + own / own_var)
        up_var[node] = combined_var
    final: dict[K, np.ndarray] = {}
    for node in reversed(order):  # parents before children
        parent = parents[node]
        if parent is None:
            final[node] = up_value[node]
    for node in reversed(order):
        kids = children[node]
        if not kids:
            continue
        kid_var = np.sum([up_var[c] for c in kids], axis=0)
        gap = final[node] - np.sum([up_value[c] for c in kids], axis=0)
        for child in kids:
            final[child] = up_value[child] + up_var[child] / kid_var * gap
    leaves = {node: final[node] for node in order if not children[node]}
    for node, value in leaves.items():
        floor = floors.get(node) if floors is not None else None
        leaves[node] = np.maximum(value, 0.0 if floor is None else np.maximum(floor, 0.0))
    return aggregate(parents, leaves)
