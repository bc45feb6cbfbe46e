"""Statements run straight through the driver (server/db/direct.py), on both stores: bulk inserts
store exactly what SQLAlchemy's own executemany stores and refuse rows that would leave a column
default to SQLAlchemy; single statements take the values written into them, return typed rows
(named, or plain tuples for callers that read by position), fail as SQLAlchemy would, and are
seen by statement listeners as any statement is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, event, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Contact
from server.db.direct import execute, insert_rows_async
from server.sync.capture import log_insert
from server.sync.models import ChangeLog, SyncRecord
from tests.seed import run_db
from tests.stores import Store

_AT = datetime(2026, 11, 23, 9, 15, 30, 123456, tzinfo=UTC)


def _records(tag: str) -> list[dict[str, Any]]:
    return [
        {
            "entity": "contact",
            "record_id": f"{tag}-{n}",
            "version": n,
            "data": {"name": f"Näme {n}", "n": n, "nested": {"list": [1, "2", None]}},
            "territory_id": None,
            "user_id": "u1",
            "region_id": "r1" if n % 2 else None,
            "public": n % 2 == 0,
            "deleted": n == 3,
            "packed": None if n == 3 else bytes([0x81, 0xA1, 0x61, n]),
        }
        for n in range(5)
    ]


def _log_rows(tag: str) -> list[dict[str, Any]]:
    return [
        {
            "at": _AT + timedelta(seconds=n),
            "entity": "contact",
            "record_id": f"{tag}-{n}",
            "op": "upsert",
            "version": n,
            "data": {"first_name": "Ada", "n": n},
            "territory_id": "t1",
            "user_id": None,
            "region_id": None,
            "public": False,
            "device_id": None,
            "origin_device_id": "d1",
            "event": None,
        }
        for n in range(5)
    ]


async def _stored(session: AsyncSession, table: str, tag: str) -> list[tuple[Any, ...]]:
    """Rows as the driver returns them, untyped, without the columns that differ by design."""
    result = await session.execute(
        text(f"SELECT * FROM {table} WHERE record_id LIKE :tag ORDER BY record_id"),
        {"tag": f"{tag}-%"},
    )
    skip = {"record_id", "seq", "txid"}
    keep = [i for i, name in enumerate(result.keys()) if name not in skip]
    return [tuple(row[i] for i in keep) for row in result.all()]


@pytest.mark.parametrize(
    ("table", "rows", "statement"),
    [
        ("sync_records", _records, lambda dialect: insert(SyncRecord.__table__)),
        ("sync_change_log", _log_rows, log_insert),
    ],
)
def test_bulk_rows_are_stored_exactly_as_sqlalchemy_stores_them(
    store: Store, table: str, rows: Any, statement: Any
) -> None:
    async def work(session: AsyncSession) -> tuple[list[Any], list[Any]]:
        stmt = statement(session.get_bind().dialect.name)
        await session.execute(stmt, rows("core"))
        await insert_rows_async(session, stmt, rows("bulk"))
        return await _stored(session, table, "core"), await _stored(session, table, "bulk")

    core, bulk = run_db(store.url, work)
    assert len(core) == 5
    assert bulk == core


def test_rows_without_a_column_that_has_a_default_are_refused(store: Store) -> None:
    async def work(session: AsyncSession) -> None:
        # ``version`` and the timestamps have defaults SQLAlchemy would compute per row.
        await insert_rows_async(
            session,
            insert(Contact.__table__),
            [{"id": "c1", "account_id": "a1", "first_name": "A", "last_name": "B"}],
        )

    with pytest.raises(ValueError, match="version"):
        run_db(store.url, work)


def test_a_statement_returns_typed_rows_and_takes_the_values_written_into_it(
    store: Store,
) -> None:
    table = ChangeLog.__table__
    # ``op`` and ``public`` are written into the statement; the rest are parameters.
    stmt = (
        insert(table)
        .values(op="upsert", public=True)
        .returning(table.c.seq, table.c.at, table.c.data, table.c.public, table.c.op)
    )
    if store.kind == "postgres":
        stmt = stmt.values(txid=text("pg_current_xact_id()::text::bigint"))
    row = {key: value for key, value in _log_rows("one")[0].items() if key not in ("op", "public")}

    async def work(session: AsyncSession) -> tuple[list[Any], list[Any]]:
        returned = await execute(session, stmt, row)
        read = await execute(
            session,
            select(table.c.at, table.c.public).where(table.c.record_id == bindparam("id")),
            {"id": "one-0"},
        )
        return returned, read

    returned, read = run_db(store.url, work)
    [created] = returned
    assert created.seq >= 1
    assert created.at == _AT  # through the column's result processor: an aware datetime
    assert created.data == {"first_name": "Ada", "n": 0}
    assert created.public is True
    assert created.op == "upsert"
    assert [tuple(r) for r in read] == [(_AT, True)]


def test_a_broken_constraint_is_raised_as_sqlalchemy_raises_it(store: Store) -> None:
    stmt = insert(SyncRecord.__table__)
    [record] = _records("dup")[:1]

    async def work(session: AsyncSession) -> None:
        await execute(session, stmt, record)
        await execute(session, stmt, record)

    with pytest.raises(IntegrityError):
        run_db(store.url, work)


def test_nulls_and_bytes_reach_sqlite_as_null_and_blob(store: Store) -> None:
    if not store.is_sqlite:
        pytest.skip("about SQLite's storage classes")

    async def work(session: AsyncSession) -> list[tuple[Any, ...]]:
        await insert_rows_async(session, insert(SyncRecord.__table__), _records("kinds"))
        result = await session.execute(
            text(
                "SELECT typeof(territory_id), typeof(packed), packed FROM sync_records "
                "WHERE record_id LIKE 'kinds-%' ORDER BY record_id"
            )
        )
        return [tuple(r) for r in result.all()]

    stored = run_db(store.url, work)
    assert stored[0] == ("null", "blob", bytes([0x81, 0xA1, 0x61, 0]))
    assert stored[3] == ("null", "null", None)


def test_rows_read_by_position_are_the_same_values_unnamed(store: Store) -> None:
    table = SyncRecord.__table__
    read = select(table.c.record_id, table.c.version, table.c.packed).where(
        table.c.record_id.like(bindparam("tag"))
    )
    typed = select(table.c.record_id, table.c.data).where(table.c.record_id == bindparam("id"))

    async def work(session: AsyncSession) -> tuple[list[Any], list[Any], list[Any]]:
        await insert_rows_async(session, insert(table), _records("pos"))
        named = await execute(session, read, {"tag": "pos-%"})
        plain = await execute(session, read, {"tag": "pos-%"}, named=False)
        # A column with a result processor still goes through it.
        decoded = await execute(session, typed, {"id": "pos-1"}, named=False)
        return named, plain, decoded

    named, plain, decoded = run_db(store.url, work)
    assert sorted(tuple(r) for r in plain) == sorted(tuple(r) for r in named)
    assert len(plain) == 5
    assert not any(hasattr(r, "_fields") for r in plain)
    [(record_id, data)] = decoded
    assert (record_id, data) == ("pos-1", _records("pos")[1]["data"])


def test_statement_listeners_see_direct_statements(store: Store) -> None:
    seen: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    stmt = select(SyncRecord.__table__.c.version).where(
        SyncRecord.__table__.c.record_id == bindparam("id")
    )

    async def work(session: AsyncSession) -> None:
        await execute(session, stmt, {"id": "nothing"})

    event.listen(Engine, "before_cursor_execute", capture)
    try:
        run_db(store.url, work)
    finally:
        event.remove(Engine, "before_cursor_execute", capture)
    assert any("FROM sync_records" in statement for statement in seen)


def test_rows_that_share_values_are_stored_as_sqlalchemy_stores_them(store: Store) -> None:
    at = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

    def rows(tag: str) -> list[dict[str, Any]]:
        # One timestamp object and one scope for the batch, as a push writes them; the ids and
        # bodies differ per row.
        return [{**row, "at": at, "territory_id": "t1"} for row in _log_rows(tag)]

    async def work(session: AsyncSession) -> tuple[list[Any], list[Any]]:
        stmt = log_insert(session.get_bind().dialect.name)
        await session.execute(stmt, rows("core"))
        await insert_rows_async(session, stmt, rows("bulk"))
        log = "sync_change_log"
        return await _stored(session, log, "core"), await _stored(session, log, "bulk")

    core, bulk = run_db(store.url, work)
    assert len(core) == 5
    assert bulk == core
