"""A real Fieldline server process on a free port, over a seeded database, for the browser."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

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
ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class LiveServer:
    url: str
    store: Store
    world: World


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(
    store_factory: StoreFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server per module: starting it and seeding its history is the slow part."""
    sqlite_store = store_factory.sqlite()
    tmp_path = tmp_path_factory.mktemp("live-server")
    world = forecast_world(sqlite_store.url, past_runs=6)
    seed_field_activity(sqlite_store.url, world, "rep_n1")
    port = _free_port()
    env = {
        **os.environ,
        "FIELDLINE_DATABASE_URL": sqlite_store.url,
        "FIELDLINE_ENV": "test",
        "FIELDLINE_SCHEDULER_ENABLED": "false",
        "FIELDLINE_AUTO_MIGRATE": "false",
        "FIELDLINE_LOG_LEVEL": "WARNING",
        "FIELDLINE_LOG_REQUESTS": "false",
        "FIELDLINE_SECRET_KEY": "browser-test-secret-key-long-enough-for-hs256",
    }
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited early:\n{(tmp_path / 'server.log').read_text()}")
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server did not start:\n{(tmp_path / 'server.log').read_text()}")
            time.sleep(0.2)
        yield LiveServer(url=url, store=sqlite_store, world=world)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        store_factory.drop(sqlite_store)
