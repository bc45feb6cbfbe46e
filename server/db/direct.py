"""The statements every device sync runs, compiled once and handed straight to the driver.

A push of twenty records runs a handful of statements, and SQLAlchemy's execution machinery
around each (cache key, parameter dictionaries, a second pass through the bind processors, result
objects, the asyncio bridge) cost several times what SQLite spends running it: about 0.1 ms a
statement against a few microseconds, and 0.8 ms against 0.3 ms to insert twenty contacts.
Here a Core statement is compiled once per dialect and set of parameter names; each parameter set
becomes the driver's tuple through the same bind processors SQLAlchemy would use, so the driver
receives exactly what it would have received, and returned rows go through the columns' result
processors.

* SQLite: the statement runs on the transaction's own DB-API connection, inline (the driver runs
  every statement on the event loop's thread anyway, server/db/sqlite_driver.py). Listeners of
  ``before_cursor_execute`` are told of it, as they are of any statement.
* PostgreSQL: through ``exec_driver_sql`` on the transaction's connection, so asyncpg's adapter
  keeps managing the transaction it began. Many rows of an INSERT go as one multi-row VALUES
  list per chunk rather than asyncpg's executemany, which runs the statement once per row.

Statements must live as long as the process (module-level or cached): plans are cached by them.
"""

from __future__ import annotations

import re
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache, partial
from operator import itemgetter
from typing import Any, Protocol, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["execute", "insert_rows", "insert_rows_async", "plan"]


class Plan:
    """How parameters become the driver's tuple, and driver rows the caller's: one
    ``itemgetter`` call takes the values in the statement's order, then only the values whose
    type has a bind processor (JSON, datetimes, booleans on SQLite) are converted. Most columns
    (text, integers) have none, and a per-value loop cost more than the processors themselves.
    """

    __slots__ = ("constants", "getter", "insert", "processors", "result", "sql")

    def __init__(
        self, compiled: Any, dialect: Dialect, names: Sequence[str], given: set[str]
    ) -> None:
        self.sql: str = compiled.string
        self.insert: bool = bool(compiled.isinsert)
        processors = [compiled.binds[name].type.bind_processor(dialect) for name in names]
        # Values written into the statement itself (``.values(rejected=0)``), already converted.
        self.constants = tuple(
            (index, _processed(processors[index], compiled.binds[name].effective_value))
            for index, name in enumerate(names)
            if name not in given
        )
        taken = [name for name in names if name in given]
        getter = itemgetter(*taken) if taken else None
        # itemgetter of one name returns the value, not a 1-tuple.
        self.getter: Callable[[Mapping[str, Any]], Any] = (
            (lambda _: ())
            if getter is None
            else getter
            if len(taken) > 1
            else (lambda p: (getter(p),))
        )
        self.processors = tuple(
            (index, process)
            for index, process in enumerate(processors)
            if process is not None and names[index] in given
        )
        self.result: _Result | None = None
        columns = getattr(compiled.statement, "selected_columns", None)
        returning = getattr(compiled.statement, "_returning", ())
        if compiled.isinsert or compiled.isupdate or compiled.isdelete:
            columns = list(returning) or None
        if columns:
            self.result = _Result(list(columns), dialect)

    def params(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        getter = self.getter
        if not self.processors and not self.constants:
            return [getter(row) for row in rows]
        out = []
        for row in rows:
            values = list(getter(row))
            for index, value in self.constants:  # in ascending order of position
                values.insert(index, value)
            for index, process in self.processors:
                values[index] = process(values[index])
            out.append(tuple(values))
        return out


def _processed(process: Callable[[Any], Any] | None, value: Any) -> Any:
    return value if process is None else process(value)


class _RowClass(Protocol):
    """The part of a namedtuple class that ``_Result`` uses."""

    def _make(self, iterable: Iterable[Any], /) -> tuple[Any, ...]: ...


class _Result:
    __slots__ = ("processors", "row")

    def __init__(self, columns: list[Any], dialect: Dialect) -> None:
        # typeshed's ``namedtuple`` returns a bare ``type[tuple]``, without the ``_make`` that
        # every namedtuple class has.
        self.row = cast(_RowClass, namedtuple("Row", [column.key for column in columns]))
        self.processors = tuple(
            (index, process)
            for index, process in enumerate(
                column.type._cached_result_processor(dialect, None) for column in columns
            )
            if process is not None
        )

    def rows(self, raw: Sequence[Sequence[Any]], named: bool = True) -> list[Any]:
        if not self.processors:
            return [self.row._make(row) for row in raw] if named else list(raw)
        make = self.row._make if named else tuple
        out = []
        for row in raw:
            values = list(row)
            for index, process in self.processors:
                values[index] = process(values[index])
            out.append(make(values))
        return out


def _compile(stmt: Executable, dialect: Dialect, **kw: Any) -> SQLCompiler:
    # Callers hold statements by their role, ``Executable``; compiling is ``ClauseElement``'s,
    # and a plan reads positions that only a DQL/DML compiler (not DDL's) has.
    assert isinstance(stmt, ClauseElement)
    compiled = stmt.compile(dialect=dialect, **kw)
    assert isinstance(compiled, SQLCompiler)
    return compiled


@lru_cache(maxsize=128)
def plan(stmt: Executable, dialect: Dialect, keys: tuple[str, ...]) -> Plan:
    """The plan of ``stmt`` for parameter sets with ``keys``."""
    compiled = _compile(stmt, dialect, column_keys=list(keys))
    names = compiled.positiontup
    if names is None:
        raise TypeError(f"{dialect.name}: direct statements need a positional paramstyle")
    defaults = {column.key for column in (*compiled.insert_prefetch, *compiled.update_prefetch)}
    missing = sorted(
        name
        for name in set(names) - set(keys)
        # A column default computed in Python is one of these: the caller must give it.
        if name in defaults or compiled.binds[name].required
    )
    if missing:
        raise ValueError(f"parameters lack values for {missing}")
    return Plan(compiled, dialect, names, set(keys))


def _run(
    conn: Connection, stmt: Executable, rows: Sequence[Mapping[str, Any]], named: bool = True
) -> list[Any]:
    prepared = plan(stmt, conn.dialect, tuple(rows[0]))
    params = prepared.params(rows)
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        assert raw is not None
        if conn.dispatch.before_cursor_execute:
            # Listeners (statement logging, tests that check query plans) see these statements
            # as they see any other; without listeners this is one truth test.
            conn.dispatch.before_cursor_execute(
                conn,
                None,
                prepared.sql,
                params if len(params) > 1 else params[0],
                None,
                len(params) > 1,
            )
        try:
            if len(params) > 1:
                raw.executemany(prepared.sql, params)
                return []
            fetched = raw.execute(prepared.sql, params[0]).fetchall()
        except sqlite3.Error as exc:
            # As SQLAlchemy would raise it: callers tell a broken constraint by its class.
            raise DBAPIError.instance(
                prepared.sql, params, exc, sqlite3.Error, dialect=conn.dialect
            ) from exc
    elif len(params) > 1 and prepared.insert:
        _insert_rows_pg(conn, stmt, tuple(rows[0]), params)
        return []
    else:
        result = conn.exec_driver_sql(prepared.sql, params[0] if len(params) == 1 else params)
        if not result.returns_rows:
            fetched = []
        elif named or prepared.result is None or prepared.result.processors:
            fetched = result.all()
        else:
            # The driver's rows as they are (asyncpg records read by position): a page of
            # thousands spent a quarter of its time becoming SQLAlchemy rows.
            fetched = result.cursor.fetchall()
            result.close()
    return prepared.result.rows(fetched, named) if prepared.result is not None else []


_PG_MAX_PARAMETERS = 32_767
_PG_MAX_ROWS = 1_000
_PLACEHOLDER = re.compile(r"\$(\d+)")


def _insert_rows_pg(
    conn: Connection, stmt: Executable, keys: tuple[str, ...], params: list[tuple[Any, ...]]
) -> None:
    """Rows as one multi-row INSERT per chunk. asyncpg's executemany runs the statement once per
    row, and PostgreSQL pays an execution's setup for each: twenty rows in one VALUES list cost
    it a fraction of twenty executions."""
    single = _executemany_sql(stmt, conn.dialect, keys)
    width = len(params[0])
    per_statement = max(1, min(_PG_MAX_ROWS, _PG_MAX_PARAMETERS // max(width, 1)))
    for start in range(0, len(params), per_statement):
        chunk = params[start : start + per_statement]
        first = chunk[0]
        # A value every row shares (the batch's timestamp, entity, scope keys) is sent once and
        # named in every row: most of a change row's columns are the same across a batch, and
        # encoding a timestamp for the wire costs the driver more than the rest of its row.
        shared = tuple(i for i in range(width) if all(row[i] is first[i] for row in chunk[1:]))
        sql = _multirow_sql(single, width, len(chunk), shared)
        if sql is None:
            conn.exec_driver_sql(single, chunk)
            continue
        own = [i for i in range(width) if i not in shared]
        values = [first[i] for i in shared]
        values.extend(row[i] for row in chunk for i in own)
        conn.exec_driver_sql(sql, tuple(values))


@lru_cache(maxsize=128)
def _executemany_sql(stmt: Executable, dialect: Dialect, keys: tuple[str, ...]) -> str:
    """The single-row form as SQLAlchemy compiles it for many rows (no implicit RETURNING)."""
    return str(_compile(stmt, dialect, column_keys=list(keys), for_executemany=True))


@lru_cache(maxsize=256)
def _multirow_sql(sql: str, width: int, count: int, shared: tuple[int, ...] = ()) -> str | None:
    """``sql`` with ``count`` rows in its VALUES list, or None when its one row is not exactly
    the placeholders $1..$``width`` (then each row runs on its own). The columns at the
    positions in ``shared`` take one parameter, named in every row; their values come first,
    then each row's own."""
    start = sql.find(" VALUES (")
    if start < 0:
        return None
    start += len(" VALUES ")
    depth, end = 0, -1
    for index in range(start, len(sql)):
        depth += (sql[index] == "(") - (sql[index] == ")")
        if depth == 0:
            end = index + 1
            break
    group = sql[start:end]
    numbers = [int(n) for n in _PLACEHOLDER.findall(group)]
    if end < 0 or numbers != list(range(1, width + 1)) or _PLACEHOLDER.search(sql[end:]):
        return None
    own_width = width - len(shared)
    number: dict[int, int] = {column + 1: slot + 1 for slot, column in enumerate(shared)}
    for slot, column in enumerate(c for c in range(width) if c not in shared):
        number[column + 1] = len(shared) + slot + 1

    def renumber(match: re.Match[str], row: int) -> str:
        target = number[int(match.group(1))]
        return f"${target if target <= len(shared) else target + row * own_width}"

    rows = [_PLACEHOLDER.sub(partial(renumber, row=n), group) for n in range(count)]
    return sql[:start] + ", ".join(rows) + sql[end:]


def insert_rows(conn: Connection, stmt: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
    """``conn.execute(stmt, rows)`` for an INSERT (plain or an upsert) whose rows all have the
    keys of the first. For code already running inside the asyncio bridge (``run_sync``, flush
    events)."""
    if rows:
        _run(conn, stmt, rows)


async def insert_rows_async(
    session: AsyncSession, stmt: Executable, rows: Sequence[Mapping[str, Any]]
) -> None:
    """``insert_rows`` on the connection of ``session``'s transaction."""
    if rows:
        await _in_transaction(session, stmt, rows)


async def execute(
    session: AsyncSession, stmt: Executable, params: Mapping[str, Any], *, named: bool = True
) -> list[Any]:
    """``stmt`` with ``params`` in ``session``'s transaction: its rows (named tuples, result
    processors applied) if it returns any. ``named=False``: rows read by position only, as
    plain tuples (a page of thousands of rows spends a tenth of its time naming them)."""
    return await _in_transaction(session, stmt, [params], named)


async def _in_transaction(
    session: AsyncSession, stmt: Executable, rows: Sequence[Mapping[str, Any]], named: bool = True
) -> list[Any]:
    conn = await session.connection()
    if conn.dialect.name == "sqlite":
        return _run(conn.sync_connection, stmt, rows, named)  # type: ignore[arg-type]
    return await conn.run_sync(_run, stmt, rows, named)
