"""Many rows into one table with one statement, for the hot write path of a push.

``connection.execute(insert(table), rows)`` builds, for every row, a dictionary of every bind
parameter, then runs each value through its type's bind processor in a second pass: for the
twenty-row batches a device pushes, that costs more than SQLite spends inserting them (0.8 ms
against 0.3 ms for twenty contacts, measured). Here the statement is compiled once per dialect
and set of columns, and each row becomes the driver's tuple in one pass through the same bind
processors SQLAlchemy would use, so the driver receives exactly what it would have received.
Statements still go through ``exec_driver_sql``: events, the asyncio bridge and both stores'
drivers are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

__all__ = ["insert_rows", "insert_rows_async"]

_Plan = tuple[str, tuple[tuple[str, Callable[[Any], Any] | None], ...]]


@lru_cache(maxsize=64)
def _plan(stmt: Insert, dialect: Dialect, keys: tuple[str, ...]) -> _Plan:
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
    names = compiled.positiontup
    if names is None:
        raise TypeError(f"{dialect.name}: bulk inserts need a positional paramstyle")
    missing = set(names) - set(keys)
    if missing:
        # A column default computed in Python would be one of these: the rows must carry it.
        raise ValueError(f"rows lack values for {sorted(missing)}")
    return compiled.string, tuple(
        (name, compiled.binds[name].type.bind_processor(dialect)) for name in names
    )


def _prepared(
    dialect: Dialect, stmt: Insert, rows: Sequence[dict[str, Any]]
) -> tuple[str, list[tuple[Any, ...]]]:
    sql, plan = _plan(stmt, dialect, tuple(rows[0]))
    return sql, [
        tuple(row[name] if process is None else process(row[name]) for name, process in plan)
        for row in rows
    ]


def insert_rows(conn: Connection, stmt: Insert, rows: Sequence[dict[str, Any]]) -> None:
    """``conn.execute(stmt, rows)`` for an INSERT (plain or an upsert) whose rows all have the
    keys of the first. ``stmt`` should live as long as the process (a cached statement)."""
    if rows:
        sql, params = _prepared(conn.dialect, stmt, rows)
        conn.exec_driver_sql(sql, params)


async def insert_rows_async(
    session: AsyncSession, stmt: Insert, rows: Sequence[dict[str, Any]]
) -> None:
    """``insert_rows`` on the connection of ``session``'s transaction."""
    if rows:
        conn = await session.connection()
        sql, params = _prepared(conn.dialect, stmt, rows)
        await conn.exec_driver_sql(sql, params)
