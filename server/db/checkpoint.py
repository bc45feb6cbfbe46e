"""SQLite WAL checkpoints on a thread of their own, for the serving process.

Left to itself, SQLite checkpoints inside the commit that pushes the write-ahead log past 1,000
pages: that commit copies the log into the database file and waits for two fsyncs. The server
runs SQLite on the event loop's thread (server/db/sqlite_driver.py), so every request waits with
it; on the two-core bench machine that was about 0.6 ms of wall time per device push.

Here the serving engine's connections check a far larger log only (a backstop), and a thread
with a connection of its own runs a PASSIVE checkpoint shortly after writers commit. SQLite does
the copying and the fsyncs without Python's interpreter lock, beside the event loop. PASSIVE
never waits for readers or writers; what it cannot copy yet it copies next time, and the next
writer starts the log again from the beginning once all of it is copied.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["BACKSTOP_PAGES", "WalCheckpointer"]

logger = logging.getLogger("fieldline.db")

BACKSTOP_PAGES = 20_000
"""The serving connections' own automatic checkpoint, for when this thread cannot keep up
(80 MB of log at 4 KiB pages)."""

_IDLE_WAKE_S = 5.0
_MIN_INTERVAL_S = 0.05
"""Checkpoints are batched: at most one per interval, whatever the commit rate."""


class WalCheckpointer:
    def __init__(self, path: str) -> None:
        self.path = path
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def attach(cls, engine: AsyncEngine) -> WalCheckpointer | None:
        """Take over checkpoints for ``engine``'s connections (a file database on SQLite; None
        for anything else). Attach before the engine opens connections, then ``start()``."""
        sync_engine = engine.sync_engine
        path = sync_engine.url.database
        if sync_engine.dialect.name != "sqlite" or not path or path == ":memory:":
            return None
        checkpointer = cls(path)

        @event.listens_for(sync_engine, "connect")
        def _backstop(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")

        @event.listens_for(sync_engine, "commit")
        def _committed(_conn: Any) -> None:
            checkpointer.notify()

        return checkpointer

    def notify(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=1000")
            while not self._stopping.is_set():
                self._wake.wait(_IDLE_WAKE_S)
                self._wake.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    # A busy database or a full disk: the next commit wakes us to try again,
                    # and the serving connections' backstop still bounds the log.
                    logger.warning("WAL checkpoint failed: %s", exc)
                self._stopping.wait(_MIN_INTERVAL_S)
        finally:
            conn.close()
