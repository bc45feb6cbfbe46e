"""The serving process copies SQLite's write-ahead log into the database on a thread of its own
(server/db/checkpoint.py), not inside the commits of requests."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from sqlalchemy import text

from server.db.checkpoint import BACKSTOP_PAGES, WalCheckpointer
from server.db.engine import create_engine

ROWS = 200
BLOB = 4000  # about one page per row: 200 pages, under SQLite's own threshold of 1,000


async def _write_pages(url: str, *, attach: bool) -> tuple[int, int, int]:
    """Write about 200 pages in 20 commits; returns (database file bytes before, after, the
    serving connections' own checkpoint threshold)."""
    engine = create_engine(url)
    checkpointer = WalCheckpointer.attach(engine) if attach else None
    if checkpointer is not None:
        checkpointer.start()
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE filler (id INTEGER PRIMARY KEY, body BLOB)"))
        before = os.path.getsize(engine.sync_engine.url.database or "")
        for start in range(0, ROWS, 10):
            async with engine.begin() as conn:
                await conn.execute(
                    text("INSERT INTO filler (id, body) VALUES (:id, randomblob(:size))"),
                    [{"id": n, "size": BLOB} for n in range(start, start + 10)],
                )
        async with engine.connect() as conn:
            threshold = (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
        deadline = time.monotonic() + 10
        after = before
        while time.monotonic() < deadline:
            after = os.path.getsize(engine.sync_engine.url.database or "")
            if after > ROWS * BLOB or not attach:
                break
            await asyncio.sleep(0.05)
        return before, after, threshold
    finally:
        await engine.dispose()
        if checkpointer is not None:
            checkpointer.stop()


def test_commits_leave_the_log_to_the_checkpoint_thread_which_copies_it_soon_after(
    tmp_path: Path,
) -> None:
    before, after, threshold = asyncio.run(
        _write_pages(f"sqlite:///{tmp_path / 'served.db'}", attach=True)
    )
    assert threshold == BACKSTOP_PAGES
    assert after > ROWS * BLOB > before


def test_without_the_thread_the_same_commits_leave_the_pages_in_the_log(tmp_path: Path) -> None:
    before, after, threshold = asyncio.run(
        _write_pages(f"sqlite:///{tmp_path / 'plain.db'}", attach=False)
    )
    assert threshold == 1000
    assert after == before


def test_only_a_sqlite_file_gets_a_checkpoint_thread() -> None:
    async def attached(url: str) -> bool:
        engine = create_engine(url, null_pool=True)
        try:
            return WalCheckpointer.attach(engine) is not None
        finally:
            await engine.dispose()

    assert not asyncio.run(attached("sqlite:///:memory:"))
    assert not asyncio.run(attached("postgresql+asyncpg://nobody@127.0.0.1:1/none"))
