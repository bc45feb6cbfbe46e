"""PostgreSQL plans from the statistics ANALYZE last gathered: after devices push a bulk of
records into a fresh database, the server refreshes them itself (server/db/statistics.py), so a
bootstrap is not planned as if the tables were still empty, autovacuum or not."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from server.settings import Settings
from sync.ids import new_id
from sync.messages import Applied
from tests.conftest import make_settings
from tests.seed import World, run_db
from tests.server.sync.device import Device
from tests.stores import Store

AFTER_ROWS = 40


@pytest.fixture
def settings(store: Store) -> Settings:
    return make_settings(store, analyze_after_rows=AFTER_ROWS)


def _believed(url: str) -> float:
    """What the planner believes sync_records holds."""

    async def work(session: AsyncSession) -> float:
        found = await session.scalar(
            text("SELECT reltuples FROM pg_class WHERE relname = 'sync_records'")
        )
        return float(found if found is not None else -1)

    return run_db(url, work)


def test_a_bulk_push_refreshes_the_planners_statistics(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    if store.is_sqlite:
        pytest.skip("SQLite's planner uses no gathered statistics here")
    rep = device_for("rep_n1")
    account = world.accounts["N1"][0]
    run_db(store.url, lambda session: session.execute(text("ANALYZE sync_records")))
    before = _believed(store.url)
    pushed = rep.push(
        *(
            rep.upsert("visit", new_id(), {"account_id": account, "planned_for": "2026-12-09"})
            for _ in range(AFTER_ROWS * 2)
        )
    )
    assert all(isinstance(r, Applied) for r in pushed)
    deadline = time.monotonic() + 10
    while _believed(store.url) < before + AFTER_ROWS * 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _believed(store.url) >= before + AFTER_ROWS * 2


def test_a_small_push_leaves_them_alone(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    if store.is_sqlite:
        pytest.skip("SQLite's planner uses no gathered statistics here")
    rep = device_for("rep_n1")
    run_db(store.url, lambda session: session.execute(text("ANALYZE sync_records")))
    before = _believed(store.url)
    rep.push(rep.upsert("visit", new_id(), {"account_id": world.accounts["N1"][0]}))
    time.sleep(0.5)
    assert _believed(store.url) == before
