"""One SQLite writer at a time, queued in the event loop rather than in SQLite's busy handler.

SQLite lets one transaction write at a time. Left to itself, a second ``BEGIN IMMEDIATE`` waits in
the busy handler, which sleeps in growing steps (1, 2, 5 … 100 ms) and polls: ten devices pushing
at once spend most of their time asleep while the lock sits free. The gate queues the process's
writers on an ``asyncio.Lock`` instead, taken when a writer begins and released when its
connection goes back to the pool (after commit or rollback), so the next writer starts the moment
the lock is free. Another process writing the same file still meets the busy handler, which is
rare (a second server or a CLI job) and correct either way.

Only code running inside SQLAlchemy's asyncio bridge is gated; a synchronous engine (migrations)
has no event loop to queue on and keeps the busy handler.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

__all__ = ["WriterGate"]

_HELD = "fieldline.writer_gate"


class WriterGate:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        # One lock per event loop: tests and CLI commands run several loops in one process.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def enter(self, info: dict[str, Any]) -> None:
        """Called as a writer begins, with its pooled connection's ``info``."""
        if _HELD in info or not in_greenlet():
            return  # the connection already holds the gate (commit, then begin again)
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        try:
            if lock.locked():
                await_only(asyncio.wait_for(lock.acquire(), self.timeout_s))
            else:
                await_only(lock.acquire())  # free: taken at once, without a timer task
        except TimeoutError as exc:
            raise OperationalError(
                "BEGIN IMMEDIATE", None, Exception("database is locked (writer queue timeout)")
            ) from exc
        info[_HELD] = lock

    def leave(self, info: dict[str, Any]) -> None:
        """Called when the connection returns to the pool, its transaction ended."""
        lock = info.pop(_HELD, None)
        if lock is not None and lock.locked():
            lock.release()
