"""The server opens its database connections at start-up, so the first burst of devices does not
pay for opening them (server/db/engine.py ``warm_pool``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server.db.engine import create_engine, warm_pool
from server.db.migrate import upgrade


def test_warming_leaves_that_many_ready_connections_in_the_pool(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warm.db'}"
    upgrade(url)

    async def main() -> tuple[int, int]:
        engine = create_engine(url)
        try:
            before = engine.pool.checkedin()  # type: ignore[attr-defined]
            await warm_pool(engine, 7)
            return before, engine.pool.checkedin()  # type: ignore[attr-defined]
        finally:
            await engine.dispose()

    assert asyncio.run(main()) == (0, 7)


def test_warming_opens_no_more_than_the_pool_keeps(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warm.db'}"
    upgrade(url)

    async def main() -> tuple[int, int]:
        engine = create_engine(url)
        try:
            await warm_pool(engine, 10_000)
            return engine.pool.checkedin(), engine.pool.size()  # type: ignore[attr-defined]
        finally:
            await engine.dispose()

    kept, size = asyncio.run(main())
    assert kept == size
