"""SQLite for the asyncio engine, with statements run on the event loop's own thread.

Why not a driver that hands each statement to a thread of its own: measured on a two-core machine
(bench/sync_bench.py), a push statement takes tens of microseconds inside SQLite, while the trip
to a worker thread and back (four per statement: open a cursor, execute, fetch, close) costs more
than that, and the worker then queues for the interpreter lock behind the request handlers. Run
inline, ten devices pushing at once ingest 15–50% more changes per second and a burst of 100
devices finishes in about 60% of the time; a 50,000-record bootstrap is as fast as before.

What makes blocking the loop acceptable here:

* Writers of this process never wait for each other inside SQLite: they queue on the writer gate
  (server/db/gate.py) before ``BEGIN IMMEDIATE``, so the busy handler only runs when another
  process holds the write lock (a CLI job, a second server), for as long as its transaction.
* Readers never wait at all under WAL.
* The longest statements are bootstrap pages (about 20 ms for 5,000 records), and running them
  on a thread would not let Python work go on beside them for long: the interpreter lock is
  taken back to build each row.

SQLAlchemy's asyncio layer expects a driver that awaits; each execution yields to the loop once
(a finished awaitable, no sleep) to satisfy it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.util import await_only

__all__ = ["DRIVER", "SQLiteDialect_inline", "inline_url"]

DRIVER = "fieldline"


async def _nothing() -> None:
    return None


class _Cursor(sqlite3.Cursor):
    def execute(self, *args: Any) -> Any:
        await_only(_nothing())
        return super().execute(*args)

    def executemany(self, *args: Any) -> Any:
        await_only(_nothing())
        return super().executemany(*args)

    async def _async_soft_close(self) -> None:
        """Called by the asyncio layer before a result leaves the greenlet; rows are read
        inline later, so there is nothing to prefetch."""


class _Connection(sqlite3.Connection):
    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)


class SQLiteDialect_inline(SQLiteDialect_pysqlite):
    driver = DRIVER
    is_async = True
    supports_statement_cache = True

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        # The pool may hand a connection to another thread's event loop (tests and CLI commands
        # run loops of their own); SQLite itself is built serialized.
        cparams["factory"] = _Connection
        cparams["check_same_thread"] = False
        return super().connect(*cargs, **cparams)

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool


registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteDialect_inline")


def inline_url(url: str) -> str:
    """Any SQLite URL (``sqlite://``, ``sqlite+pysqlite://`` or, as earlier versions documented,
    ``sqlite+aiosqlite://``) as one for this driver; other URLs unchanged."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return url
    return parsed.set(drivername=f"sqlite+{DRIVER}").render_as_string(hide_password=False)
