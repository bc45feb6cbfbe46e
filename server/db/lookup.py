"""Single-statement reads that every request makes (the caller's principal), at the cost of the
read itself.

Through the engine, such a read checks a connection out of the pool, wraps it in SQLAlchemy's
connection and result objects, and crosses the asyncio bridge twice: on SQLite about 0.5 ms for a
query SQLite answers in a few microseconds, paid by every request. On SQLite a ``Lookup`` runs the
statement, compiled once (server/db/direct.py), on one connection the process keeps for these
reads: outside any transaction, so each read sees the latest committed state (WAL readers never
wait for the writer), and with ``query_only`` set, so nothing can write through it. Statements
run inline on the event loop's thread, as all SQLite statements here do
(server/db/sqlite_driver.py). On PostgreSQL the read uses the request's own connection when
given it (server/db/session.py), straight on asyncpg before the request begins any transaction
(one round trip instead of three), or a pooled one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.db.direct import plan

__all__ = ["Lookup"]


class Lookup:
    """``await lookup.first(stmt, params)``: the first row of a SELECT, or None."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._inline = engine.dialect.name == "sqlite"
        self._raw: Any = None

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    async def first(
        self,
        stmt: Select[Any],
        params: Mapping[str, Any],
        connection: AsyncConnection | None = None,
    ) -> Any:
        """``connection`` (PostgreSQL): read with it, before it begins any transaction, so the
        caller goes on using it as if untouched; without one, a pooled connection is taken for
        the read."""
        prepared = plan(stmt, self._engine.dialect, tuple(params))
        values = prepared.params([params])[0]
        if not self._inline:
            if connection is not None:
                # Straight on asyncpg, outside a transaction: one round trip, where SQLAlchemy's
                # connection would send BEGIN, the read and ROLLBACK. The connection has not
                # begun anything yet, so the request's session begins its own as usual.
                raw = (await connection.get_raw_connection()).driver_connection
                assert raw is not None
                found = await raw.fetchrow(prepared.sql, *values)
            else:
                async with self._engine.connect() as conn:
                    found = (await conn.exec_driver_sql(prepared.sql, values)).first()
            if found is None:
                return None
            assert prepared.result is not None
            return prepared.result.rows([found])[0]
        cursor = (await self._connection()).execute(prepared.sql, values)
        row = cursor.fetchone()
        # A statement left unfinished would hold a read snapshot open, and no checkpoint could
        # restart the write-ahead log: reset it now rather than whenever the cursor is freed.
        cursor.close()
        if row is None:
            return None
        assert prepared.result is not None
        return prepared.result.rows([row])[0]

    async def _connection(self) -> Any:
        if self._raw is None:
            # Made by the pool, so it has the connect-time settings (WAL, busy timeout), then
            # detached from it: it is this object's for the process's life, and its query_only
            # setting must never reach a writer. Autocommit (no BEGIN): each statement reads
            # the latest commit. Taken through the async engine: a new connection runs the
            # connect-time settings through the driver, which expects to be inside SQLAlchemy's
            # asyncio bridge (from plain code it raised MissingGreenlet on an empty pool).
            pooled = await self._engine.raw_connection()
            raw = pooled.driver_connection
            assert raw is not None
            pooled.detach()
            raw.execute("PRAGMA query_only=1")
            self._raw = raw
        return self._raw
