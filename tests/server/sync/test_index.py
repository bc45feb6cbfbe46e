from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
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
