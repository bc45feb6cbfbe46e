"""Randomized convergence of the sync engine (docs/sync.md, "Guarantees"), on both stores.

Six devices — real SDK clients, each with its own SQLite store — edit offline, create and delete
overlapping records, and sync in random order through a network that loses responses after the
server processed them, sends requests twice and replays old pushes late; a manager and the back
office write on the server; the server restarts mid-run. After two final sync rounds on a healthy
network, every invariant in tests/sync_convergence/invariants.py must hold.

A few seeds run in the normal suite. ``make soak`` (FIELDLINE_SOAK=1) runs many more seeds with
longer runs; FIELDLINE_SOAK_SEEDS and FIELDLINE_SOAK_STEPS override how many.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.stores import Store
from tests.sync_convergence.invariants import check_all
from tests.sync_convergence.server_view import read_server
from tests.sync_convergence.simulation import Simulation

SOAK = os.environ.get("FIELDLINE_SOAK") == "1"
QUICK_SEEDS = (7, 11, 23)
QUICK_STEPS = 60
SOAK_SEEDS = int(os.environ.get("FIELDLINE_SOAK_SEEDS", "25"))
SOAK_STEPS = int(os.environ.get("FIELDLINE_SOAK_STEPS", "250"))


def run_and_check(store: Store, workdir: Path, *, seed: int, steps: int) -> None:
    # Long soak runs must not outlive the access tokens minted at the start.
    settings = make_settings(store, access_token_ttl_s=24 * 3600)
    sim = Simulation(settings, workdir, seed=seed, steps=steps)
    try:
        sim.run()
        devices = {d.device_id: d.user_id for d in sim.devices}
        view = read_server(store.url, devices)
        problems = check_all(sim.devices, sim.ledger, view)
    finally:
        sim.close()
    acks = len(sim.ledger.acks)
    assert acks > 0, f"seed {seed}: no mutation was ever acknowledged; the run proved nothing"
    assert not problems, (
        f"seed {seed} ({steps} steps, {store.kind}): {len(problems)} invariant violations\n"
        + "\n".join(problems[:40])
        + "\n--- last events ---\n"
        + "\n".join(sim.log[-25:])
    )


@pytest.mark.parametrize("seed", QUICK_SEEDS)
def test_devices_converge_with_the_server_under_faults(
    store: Store, tmp_path: Path, seed: int
) -> None:
    run_and_check(store, tmp_path, seed=seed, steps=QUICK_STEPS)


@pytest.mark.slow
@pytest.mark.skipif(not SOAK, reason="soak run: set FIELDLINE_SOAK=1 (make soak)")
@pytest.mark.parametrize("seed", range(1000, 1000 + (SOAK_SEEDS if SOAK else 1)))
def test_soak_devices_converge_with_the_server_under_faults(
    store: Store, tmp_path: Path, seed: int
) -> None:
    run_and_check(store, tmp_path, seed=seed, steps=SOAK_STEPS)
