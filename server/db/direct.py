"""The statements every device sync runs, compiled once and handed straight to the driver.

A push of twenty records runs a handful of statements, and SQLAlchemy's execution machinery
around each (cache key, parameter dictionaries, a second pass through the bind processors, result
objects) cost several times what the database spends running it. Here a Core statement is
compiled once per dialect and set of parameter names, and run with ``exec_driver_sql``: each
parameter set becomes the driver's tuple through the bind processors of its columns' types, and
returned rows go through their result processors, so the driver receives and the caller gets
exactly what SQLAlchemy's own execution would give.

Only documented interfaces are used, so an upgrade of SQLAlchemy cannot silently change what the
hot path sends: the compiled statement's ``construct_expanded_state`` (the SQL, the positional
order of its parameters and the values written into it), ``binds``, the types'
``dialect_impl``/``bind_processor``/``result_processor``, the statement's ``selected_columns`` /
``exported_columns``, and ``Connection.exec_driver_sql``, which runs on the transaction's own
connection (statement listeners see these statements as any other). Many rows go to the
driver's own ``executemany`` (pipelined by asyncpg, a C loop in sqlite3).

Statements must live as long as the process (module-level or cached): plans are cached by them.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Insert, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

__all__ = ["execute", "insert_rows", "insert_rows_async", "plan"]


class Plan:
    """How parameters become the driver's tuple, and driver rows the caller's: one
    ``itemgetter`` call takes the values in the statement's order, then only the values whose
    type has a bind processor (JSON, datetimes, booleans on SQLite) are converted. Most columns
    (text, integers) have none, and a per-value loop cost more than the processors themselves.
    """

    __slots__ = ("constants", "getter", "insert", "processors", "result", "sql")

    def __init__(
        self,
        stmt: Executable,
        compiled: SQLCompiler,
        dialect: Dialect,
        given: Sequence[str],
    ) -> None:
        # Parameters the caller gives are placeholders here; the others are the values written
        # into the statement (``.values(rejected=0)``), which the expanded state carries.
        state = compiled.construct_expanded_state(dict.fromkeys(given))
        names = state.positiontup
        if names is None:
            raise TypeError(f"{dialect.name}: direct statements need a positional paramstyle")
        self.sql: str = state.statement
        self.insert: bool = isinstance(stmt, Insert)
        processors = [_bind_processor(compiled, name, dialect) for name in names]
        self.constants = tuple(
            (index, _processed(processors[index], state.parameters[name]))
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
        columns: Sequence[Any] = ()
        if isinstance(stmt, UpdateBase):
            columns = list(stmt.exported_columns)  # its RETURNING, if any
        elif (selected := getattr(stmt, "selected_columns", None)) is not None:
            columns = list(selected)
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


def _bind_processor(
    compiled: SQLCompiler, name: str, dialect: Dialect
) -> Callable[[Any], Any] | None:
    kind = compiled.binds[name].type.dialect_impl(dialect)
    return kind.bind_processor(dialect)


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
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in columns
            )
            if process is not None
        )

    def rows(self, raw: Sequence[Sequence[Any]], named: bool = True) -> list[Any]:
        if not self.processors:
            return [self.row._make(row) for row in raw] if named else [tuple(r) for r in raw]
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


def _computed_in_python(stmt: Executable) -> set[str]:
    """Columns whose value SQLAlchemy would compute per row (a scalar or Python default on an
    INSERT, an ``onupdate`` on an UPDATE): a direct statement cannot, so the caller must give
    them."""
    if not isinstance(stmt, Insert | Update):
        return set()
    found = set()
    for column in stmt.table.columns:
        default = column.onupdate if isinstance(stmt, Update) else column.default
        if default is not None and (default.is_scalar or default.is_callable):
            found.add(column.key)
    return found


@lru_cache(maxsize=128)
def plan(stmt: Executable, dialect: Dialect, keys: tuple[str, ...]) -> Plan:
    """The plan of ``stmt`` for parameter sets with ``keys``."""
    compiled = _compile(stmt, dialect, column_keys=list(keys))
    computed = _computed_in_python(stmt)
    missing = sorted(
        name
        for name, bind in compiled.binds.items()
        # A computed column's bind without a value is SQLAlchemy's slot for the default; one
        # with a value was written into the statement. (Writing None into the statement for
        # such a column is refused too: give it as a parameter instead.)
        if name not in keys
        and (bind.required or (name in computed and bind.value is None and bind.callable is None))
    )
    if missing:
        raise ValueError(f"parameters lack values for {missing}")
    return Plan(stmt, compiled, dialect, keys)


def _run(
    conn: Connection, stmt: Executable, rows: Sequence[Mapping[str, Any]], named: bool = True
) -> list[Any]:
    prepared = plan(stmt, conn.dialect, tuple(rows[0]))
    params = prepared.params(rows)
    if len(params) > 1:
        conn.exec_driver_sql(prepared.sql, params)
        return []
    result = conn.exec_driver_sql(prepared.sql, params[0])
    if not result.returns_rows:
        return []
    fetched = result.all()
    return prepared.result.rows(fetched, named) if prepared.result is not None else []


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
    processors applied) if it returns any. ``named=False``: rows as plain tuples, for callers
    that read by position (a page of thousands of rows spends a tenth of its time naming
    them)."""
    return await _in_transaction(session, stmt, [params], named)


async def _in_transaction(
    session: AsyncSession, stmt: Executable, rows: Sequence[Mapping[str, Any]], named: bool = True
) -> list[Any]:
    conn = await session.connection()
    return await conn.run_sync(_run, stmt, rows, named)
