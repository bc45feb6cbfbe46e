"""A server that schedules the nightly recompute starts the forecast worker pool in the background
when it starts, and stops it (every worker process gone) when it stops; one without the
scheduler starts no pool."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psutil
import pytest
from litestar.testing import TestClient

from server.app import create_app
from server.forecasting import runrate
from server.forecasting.jobs import PoolWarming
from tests.conftest import make_settings
from tests.stores import Store

WORKERS = 2
WARM_TIMEOUT_S = 90.0


@pytest.fixture(autouse=True)
def _no_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without a pool (an earlier test's recompute may have left one) and with
    two workers whatever the machine's cores."""
    runrate.shutdown_pool()
    monkeypatch.setattr(runrate, "default_workers", lambda: WORKERS)
    yield
    runrate.shutdown_pool()


def _worker_processes() -> list[psutil.Process]:
    """Live processes forked by this process's fork server: the pool's workers. (The fork
    server itself is a child of this process; it lives as long as the process.)"""
    me = psutil.Process()
    found = []
    for child in me.children(recursive=True):
        try:
            if child.ppid() == me.pid or child.status() == psutil.STATUS_ZOMBIE:
                continue
            if "multiprocessing.forkserver" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _wait_gone(pids: list[int], timeout_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [p.pid for p in _worker_processes() if p.pid in pids]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def test_the_scheduler_warms_the_forecast_pool_at_start_and_its_stop_ends_every_worker(
    sqlite_store: Store,
) -> None:
    app = create_app(make_settings(sqlite_store, scheduler_enabled=True))
    started = time.monotonic()
    with TestClient(app) as client:
        startup_s = time.monotonic() - started
        warming = client.app.state.forecast_pool
        assert isinstance(warming, PoolWarming)
        deadline = time.monotonic() + WARM_TIMEOUT_S
        while not warming.task.done() and time.monotonic() < deadline:
            time.sleep(0.05)
        warm_s = time.monotonic() - started
        assert warming.task.done() and warming.task.result() is True
        pids = runrate.pool_processes()
        assert len(pids) == WORKERS
        assert {p.pid for p in _worker_processes()} >= set(pids)
        # The server answered before the pool was warm: the start did not wait for it.
        assert startup_s < warm_s
        assert client.get("/health/live").status_code == 200
    assert client.app.state.forecast_pool is None
    assert runrate.pool_processes() == []
    assert _wait_gone(pids) == []


def test_a_server_stopped_while_its_pool_warms_leaves_no_worker(sqlite_store: Store) -> None:
    app = create_app(make_settings(sqlite_store, scheduler_enabled=True))
    before = {p.pid for p in _worker_processes()}
    with TestClient(app):
        pass
    assert runrate.pool_processes() == []
    assert _wait_gone([p.pid for p in _worker_processes() if p.pid not in before]) == []


def test_without_the_scheduler_no_pool_is_started(sqlite_store: Store) -> None:
    app = create_app(make_settings(sqlite_store, scheduler_enabled=False))
    with TestClient(app) as client:
        time.sleep(1.0)
        assert getattr(client.app.state, "forecast_pool", None) is None
        assert runrate.pool_processes() == []
