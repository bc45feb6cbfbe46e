"""The PostgreSQL pool (server/db/engine.py): a burst queues for its ten connections instead of
opening more; connections are checked with a round trip only after sitting idle, so a dead idle
connection is replaced before use, and one that died moments after its last use costs one
failed statement, after which the pool starts afresh."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.engine import PG_POOL_SIZE, create_engine
from tests.stores import Store, _pg_dsn, _pg_exec


async def _backend(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _kill(store: Store, pid: int) -> None:
    await _pg_exec(_pg_dsn(store.url), f"SELECT pg_terminate_backend({pid})")


def test_an_idle_connection_that_died_is_replaced_before_use(store: Store) -> None:
    if store.is_sqlite:
        pytest.skip("SQLite connections are local files: nothing to ping")

    async def main() -> tuple[int, int]:
        engine = create_engine(store.url, ping_after_idle_s=0.0)
        try:
            first = await _backend(engine)
            await _kill(store, first)
            return first, await _backend(engine)
        finally:
            await engine.dispose()

    first, second = asyncio.run(main())
    assert second != first


def test_a_connection_that_died_right_after_use_fails_once_then_the_pool_recovers(
    store: Store,
) -> None:
    if store.is_sqlite:
        pytest.skip("SQLite connections are local files: nothing to ping")

    async def main() -> tuple[int, bool, int]:
        engine = create_engine(store.url, ping_after_idle_s=3600)
        try:
            first = await _backend(engine)
            await _kill(store, first)
            try:
                await _backend(engine)
                failed = False
            except DBAPIError as error:
                failed = error.connection_invalidated
            return first, failed, await _backend(engine)
        finally:
            await engine.dispose()

    first, failed, third = asyncio.run(main())
    assert failed and third != first


def test_a_burst_queues_for_the_pools_connections_instead_of_opening_more(store: Store) -> None:
    if store.is_sqlite:
        pytest.skip("SQLite's pool is sized for readers beside one writer")

    async def main() -> tuple[int, int]:
        engine = create_engine(store.url)
        seen: set[int] = set()
        try:

            async def one() -> None:
                async with engine.connect() as conn:
                    pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                    seen.add(int(pid))
                    await asyncio.sleep(0.05)

            await asyncio.gather(*(one() for _ in range(3 * PG_POOL_SIZE)))
            return len(seen), 3 * PG_POOL_SIZE
        finally:
            await engine.dispose()

    backends, requests = asyncio.run(main())
    assert backends == PG_POOL_SIZE < requests
