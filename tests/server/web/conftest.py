"""A real Fieldline server process on a free port, over a seeded database, for the browser."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import live
from tests.seed import World
from tests.server.forecasting.history import seed_field_activity
from tests.server.forecasting.world import forecast_world
from tests.stores import Store, StoreFactory

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class LiveServer:
    url: str
    store: Store
    world: World


@pytest.fixture(scope="module")
def live_server(
    store_factory: StoreFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server per module: starting it and seeding its history is the slow part."""
    sqlite_store = store_factory.sqlite()
    try:
        world = forecast_world(sqlite_store.url, past_runs=6)
        seed_field_activity(sqlite_store.url, world, "rep_n1")
        with live.live_server(sqlite_store.url, tmp_path_factory.mktemp("live-server")) as server:
            yield LiveServer(url=server.url, store=sqlite_store, world=world)
    finally:
        store_factory.drop(sqlite_store)
