"""After the demo data set is loaded, a fresh database plans well without anyone stepping in:
on PostgreSQL the loader leaves planner statistics for every table it wrote; on SQLite it leaves
the planner on its built-in heuristics, as on any other SQLite database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from server.demo import load_demo
from tests.seed import run_db
from tests.stores import Store

SCALE = 0.02
NOW = datetime(2026, 6, 15, 10, 30, tzinfo=UTC)
MAIN_TABLES = (
    "sync_change_log",
    "sync_records",
    "users",
    "accounts",
    "contacts",
    "products",
    "prices",
    "orders",
    "order_lines",
    "visits",
    "tickets",
    "leads",
    "opportunities",
    "forecasts",
)


def _never_autoanalyzed(store: Store) -> None:
    """This test's own database: statistics may only come from the loader itself."""

    async def work(session: AsyncSession) -> None:
        for table in MAIN_TABLES:
            await session.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))

    run_db(store.url, work)


def _analyzed_tables(store: Store) -> set[str]:
    async def work(session: AsyncSession) -> set[str]:
        rows = await session.execute(
            text("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL")
        )
        return {str(name) for name in rows.scalars()}

    return run_db(store.url, work)


def _sqlite_statistics_tables(store: Store) -> set[str]:
    async def work(session: AsyncSession) -> set[str]:
        rows = await session.execute(
            text("SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_stat%'")
        )
        return {str(name) for name in rows.scalars()}

    return run_db(store.url, work)


def test_loading_the_demo_leaves_fresh_planner_statistics_for_the_main_tables(
    store: Store,
) -> None:
    if store.is_sqlite:
        asyncio.run(load_demo(store.url, seed=3, scale=SCALE, now=NOW))
        assert _sqlite_statistics_tables(store) == set()
        return
    _never_autoanalyzed(store)
    assert _analyzed_tables(store) & set(MAIN_TABLES) == set()

    asyncio.run(load_demo(store.url, seed=3, scale=SCALE, now=NOW))

    assert set(MAIN_TABLES) <= _analyzed_tables(store)
