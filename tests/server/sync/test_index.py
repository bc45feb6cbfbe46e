from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from server.sync.index import reindex_all
from server.sync.models import SyncRecord
from tests.seed import World, run_db
from tests.stores import Store


def _index(session_url: str) -> dict[tuple[str, str], tuple[Any, ...]]:
    async def work(session: AsyncSession) -> dict[tuple[str, str], tuple[Any, ...]]:
        rows = await session.execute(select(SyncRecord))
        return {
            (r.entity, r.record_id): (
                r.version,
                r.data,
                r.territory_id,
                r.user_id,
                r.region_id,
                r.public,
            )
            for r in rows.scalars()
        }

    return run_db(session_url, work)


def test_reindexing_rebuilds_exactly_what_change_capture_wrote(store: Store, world: World) -> None:
    captured = _index(store.url)
    assert captured

    async def rebuild(session: AsyncSession) -> int:
        await session.execute(delete(SyncRecord))
        return await reindex_all(session)

    assert run_db(store.url, rebuild) == len(captured)
    assert _index(store.url) == captured


def test_reindexing_on_postgresql_leaves_the_planner_fresh_statistics(
    store: Store, world: World
) -> None:
    if store.is_sqlite:
        pytest.skip("SQLite's planner keeps no statistics for these queries")

    async def columns_with_statistics(session: AsyncSession) -> int:
        query = text("SELECT count(*) FROM pg_stats WHERE tablename = 'sync_records'")
        return int((await session.execute(query)).scalar_one())

    async def no_autovacuum(session: AsyncSession) -> None:
        # This test's own database: only the reindex may gather the statistics.
        await session.execute(text("ALTER TABLE sync_records SET (autovacuum_enabled = false)"))

    run_db(store.url, no_autovacuum)
    assert run_db(store.url, columns_with_statistics) == 0
    run_db(store.url, reindex_all)
    assert run_db(store.url, columns_with_statistics) > 0
