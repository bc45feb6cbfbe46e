"""Per-request reads (server/db/lookup.py): on a SQLite file they run on a connection of their own,
outside any transaction. They see each commit at once, cannot write, and never hold a snapshot
that would keep a checkpoint from restarting the write-ahead log."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, column, select, table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.engine import create_engine
from server.db.lookup import Lookup

_NOTES = table("notes", column("id"), column("body"))
_BODY = select(_NOTES.c.body).where(_NOTES.c.id == bindparam("id"))
_FROM = select(_NOTES.c.body).where(_NOTES.c.id >= bindparam("id")).order_by(_NOTES.c.id)


def _run(url: str, work: Callable[[AsyncEngine, Lookup], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        engine = create_engine(url)
        lookup = Lookup(engine)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
                await conn.execute(text("INSERT INTO notes VALUES (1, 'first')"))
            return await work(engine, lookup)
        finally:
            lookup.close()
            await engine.dispose()

    return asyncio.run(main())


def test_a_lookup_sees_each_commit_at_once(tmp_path: Path) -> None:
    async def work(engine: AsyncEngine, lookup: Lookup) -> list[Any]:
        seen = [await lookup.first(_BODY, {"id": 1})]
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE notes SET body = 'second' WHERE id = 1"))
        seen.append(await lookup.first(_BODY, {"id": 1}))
        seen.append(await lookup.first(_BODY, {"id": 2}))
        return seen

    first, second, missing = _run(f"sqlite:///{tmp_path / 'lookup.db'}", work)
    assert first.body == "first"
    assert second.body == "second"
    assert missing is None


def test_a_lookup_connection_cannot_write(tmp_path: Path) -> None:
    async def work(_engine: AsyncEngine, lookup: Lookup) -> None:
        await lookup.first(_BODY, {"id": 1})
        (await lookup._connection()).execute("DELETE FROM notes")

    with pytest.raises(sqlite3.OperationalError, match="readonly database"):
        _run(f"sqlite:///{tmp_path / 'lookup.db'}", work)


def test_lookups_leave_no_snapshot_open_so_the_log_can_restart(tmp_path: Path) -> None:
    async def work(engine: AsyncEngine, lookup: Lookup) -> tuple[int, int, int]:
        for n in range(2, 50):
            async with engine.begin() as conn:
                await conn.execute(text(f"INSERT INTO notes VALUES ({n}, 'note {n}')"))
            # Many rows match: the statement is left with more to give after the first.
            assert (await lookup.first(_FROM, {"id": 1})).body == "first"
        async with engine.connect() as conn:
            await conn.execution_options(sqlite_begin="NONE")
            busy, log, copied = (
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            ).one()
        return busy, log, copied

    busy, log, copied = _run(f"sqlite:///{tmp_path / 'lookup.db'}", work)
    assert busy == 0  # a reader pinning a snapshot would make the truncating checkpoint busy
    assert log == copied == 0


def test_a_first_lookup_opens_its_connection_while_every_pooled_one_is_in_use(
    tmp_path: Path,
) -> None:
    async def work(engine: AsyncEngine, lookup: Lookup) -> Any:
        # The pool has to make a new connection for the lookup, and runs the connect-time
        # settings on it: that must work from a request as it does from the pool's own users.
        async with engine.connect() as busy:
            await busy.execute(text("SELECT 1"))
            return await lookup.first(_BODY, {"id": 1})

    found = _run(f"sqlite:///{tmp_path / 'lookup.db'}", work)
    assert found.body == "first"
