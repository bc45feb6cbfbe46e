from __future__ import annotations

import numpy as np
import pytest

from server.forecasting.reconcile import children_of, reconcile

TREE = {
    "company": None,
    "north": "company",
    "south": "company",
    "hamburg": "north",
    "bremen": "north",
    "munich": "south",
    "ann": "hamburg",
    "ben": "hamburg",
    "cem": "bremen",
    "dora": "munich",
    "emil": "munich",
}


def _random_bases(seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Incoherent but plausible bases: each total is its parts' sum give or take 15%."""
    rng = np.random.default_rng(seed)
    kids = children_of(TREE)
    base: dict[str, np.ndarray] = {}

    def fill(node: str) -> np.ndarray:
        if not kids[node]:
            base[node] = rng.uniform(100, 500, size=3)
        else:
            base[node] = sum(fill(k) for k in kids[node]) * rng.uniform(0.85, 1.15, size=3)
        return base[node]

    fill("company")
    variance = {k: rng.uniform(1, 400, size=3) for k in TREE}
    return base, variance


def test_reconciled_forecasts_add_up_at_every_level() -> None:
    result = reconcile(TREE, *_random_bases(1))
    for node, kids in children_of(TREE).items():
        if kids:
            assert result[node] == pytest.approx(sum(result[k] for k in kids))


def test_the_tree_solution_equals_the_weighted_least_squares_formula() -> None:
    base, variance = _random_bases(2)
    nodes = list(TREE)
    leaves = [n for n, kids in children_of(TREE).items() if not kids]

    def under(node: str, leaf: str) -> bool:
        while leaf is not None:
            if leaf == node:
                return True
            leaf = TREE[leaf]  # type: ignore[assignment]
        return False

    s = np.array([[1.0 if under(n, leaf) else 0.0 for leaf in leaves] for n in nodes])
    result = reconcile(TREE, base, variance)
    for h in range(3):
        w_inv = np.diag([1 / variance[n][h] for n in nodes])
        y = np.array([base[n][h] for n in nodes])
        bottom = np.linalg.solve(s.T @ w_inv @ s, s.T @ w_inv @ y)
        expected = s @ bottom
        assert [result[n][h] for n in nodes] == pytest.approx(list(expected), rel=1e-9)


def test_a_steady_series_moves_less_than_a_noisy_one() -> None:
    parents = {"total": None, "steady": "total", "noisy": "total"}
    base = {"total": np.array([300.0]), "steady": np.array([100.0]), "noisy": np.array([100.0])}
    variance = {"total": np.array([1.0]), "steady": np.array([1.0]), "noisy": np.array([100.0])}
    result = reconcile(parents, base, variance)
    assert abs(result["steady"][0] - 100) < abs(result["noisy"][0] - 100)
    assert result["total"][0] == pytest.approx(result["steady"][0] + result["noisy"][0])


def test_floors_hold_and_the_totals_still_add_up() -> None:
    parents = {"total": None, "a": "total", "b": "total"}
    base = {"total": np.array([10.0]), "a": np.array([50.0]), "b": np.array([5.0])}
    variance = {"total": np.array([1.0]), "a": np.array([100.0]), "b": np.array([100.0])}
    floors = {"a": np.array([0.0]), "b": np.array([30.0])}
    result = reconcile(parents, base, variance, floors)
    assert result["b"][0] == 30.0
    assert result["a"][0] >= 0.0
    assert result["total"][0] == pytest.approx(result["a"][0] + result["b"][0])
