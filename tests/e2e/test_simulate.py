"""``fieldline simulate`` against a real server: reps live a day with the network coming and
going, and everything they captured arrives."""

from __future__ import annotations

from pathlib import Path

import pytest

from client_sdk.simulate import SimConfig, simulate
from tests.live import live_server
from tests.seed import PASSWORD, seed_world
from tests.stores import Store

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_simulated_reps_with_flaky_network_lose_nothing(
    sqlite_store: Store, tmp_path: Path
) -> None:
    seed_world(sqlite_store.url, accounts_per_territory=4)
    with live_server(sqlite_store.url, tmp_path) as server:
        result = simulate(
            SimConfig(
                server=server.url,
                reps=2,
                days=2,
                offline_ratio=0.6,
                password=PASSWORD,
                usernames=["rep_n1", "rep_s1"],
                workdir=tmp_path / "reps",
                seed=11,
            )
        )
    assert result.ok, [r.missing for r in result.reps]
    for rep in result.reps:
        assert rep.visits == 8 and rep.unsent == 0
        assert rep.arrived == rep.captured > 0 and rep.rejected == 0
        assert rep.offline_syncs > 0
