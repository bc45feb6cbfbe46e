"""PostgreSQL connections are checked with a round trip only after sitting idle in the pool
(server/db/engine.py): a dead idle connection is replaced before use, and a connection that died
moments after its last use costs one failed statement, after which the pool starts afresh."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.engine import create_engine
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
