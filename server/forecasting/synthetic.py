"""Synthetic sales histories with the shape of field sales (a yearly pattern, growth, reps who
joined late, small reps with lumpy months), for the benchmark and for backtests on an empty
database. Deterministic for a seed."""

from __future__ import annotations

import numpy as np

__all__ = ["SEASONAL_PROFILE", "monthly_histories"]

SEASONAL_PROFILE = np.array([0.85, 0.9, 1.1, 1.15, 1.1, 1.0, 0.95, 0.7, 1.05, 1.15, 1.1, 0.85])
"""Relative monthly demand, January first: a spring and an autumn peak, August and December
lows."""


def monthly_histories(
    reps: int, months: int, *, seed: int = 7, start_month: int = 1
) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    t = np.arange(months)
    season = SEASONAL_PROFILE[(t + start_month - 1) % 12]
    for _ in range(reps):
        level = rng.lognormal(mean=np.log(40_000), sigma=0.6)
        growth = rng.normal(0.004, 0.01)
        strength = rng.uniform(0.5, 1.2)
        noise = rng.uniform(0.08, 0.25)
        expected = level * (1 + growth) ** t * (1 + strength * (season - 1))
        values = expected * rng.lognormal(-(noise**2) / 2, noise, size=months)
        kind = rng.random()
        if kind < 0.1:  # joined recently
            values[: rng.integers(months // 3, months - 6)] = 0.0
        elif kind < 0.18:  # a small account book: many empty months
            values = np.where(rng.random(months) < 0.45, 0.0, values * 0.2)
        out.append(np.round(np.maximum(values, 0.0), 2))
    return out
