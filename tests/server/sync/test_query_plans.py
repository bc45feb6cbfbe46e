"""Each branch of a pull's scope is read through its own index, on both stores.

The scope-key indexes are partial (migration 0007): they hold only rows whose key is set. A
partial index is used only when the query's conditions imply its predicate, so a change to how
the pull writes its conditions could silently turn every pull into a scan of the whole change
log. These tests capture the statements a real pull runs and ask each store for its plan."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from tests.seed import World, run_db
from tests.server.sync.device import Device
from tests.stores import Store

_SCOPE_INDEXES = {
    "sync_change_log": {
        "ix_sync_change_log_territory_seq",
        "ix_sync_change_log_user_seq",
        "ix_sync_change_log_public_seq",
        "ix_sync_change_log_device_seq",
    },
    "sync_records": {"ix_sync_records_territory", "ix_sync_records_user", "ix_sync_records_public"},
}


@contextmanager
def _captured(table: str) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and f"FROM {table}" in statement:
            seen.append((statement, params))

    event.listen(Engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", capture)


def _plan(store: Store, statement: str, params: Any) -> str:
    if store.is_sqlite:
        conn = sqlite3.connect(make_url(store.url).database or "")
        try:
            rows = conn.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
        finally:
            conn.close()
        return "\n".join(str(row[-1]) for row in rows)

    async def explain() -> str:
        dsn = make_url(store.url).set(drivername="postgresql").render_as_string(False)
        conn = await asyncpg.connect(dsn)
        try:
            # Tiny test tables make a sequential scan cheapest whatever the indexes; with it
            # priced out, the plan shows whether the partial indexes can be used at all.
            await conn.execute("SET enable_seqscan = off")
            rows = await conn.fetch(f"EXPLAIN {statement}", *params)
        finally:
            await conn.close()
        return "\n".join(row[0] for row in rows)

    return asyncio.run(explain())


def _assert_indexed(store: Store, table: str, captured: list[tuple[str, Any]]) -> None:
    assert captured, f"the pull read nothing from {table}"
    used: set[str] = set()
    for statement, params in captured:
        plan = _plan(store, statement, params)
        whole = rf"(SCAN {table}(?! USING)|Seq Scan on {table})"
        assert not re.search(whole, plan, re.M), f"{table} scanned whole:\n{plan}"
        used |= set(re.findall(r"ix_sync_\w+", plan))
    if store.is_sqlite:
        # SQLite's choice follows from the conditions alone. PostgreSQL chooses by cost, and on
        # tables this small any usable index may win (the primary key, or the txid index for
        # an empty snapshot window); there the check is that nothing is scanned whole.
        missing = _SCOPE_INDEXES[table] - used
        assert not missing, f"scope indexes not used: {sorted(missing)}"


def test_a_bootstrap_reads_each_scope_branch_through_its_index(
    device_for: Callable[[str], Device], store: Store
) -> None:
    rep = device_for("rep_n1")
    with _captured("sync_records") as captured:
        rep.pull(limit=5)
    _assert_indexed(store, "sync_records", captured)


def test_an_incremental_pull_reads_each_scope_branch_through_its_index(
    device_for: Callable[[str], Device], store: Store, world: World
) -> None:
    rep = device_for("rep_n1")
    rep.pull()

    async def edit(session: AsyncSession) -> None:
        account = await session.get(Account, world.accounts["N1"][0])
        assert account is not None
        account.name = "Renamed while the tablet was away"

    run_db(store.url, edit)
    with _captured("sync_change_log") as captured:
        rep.pull()
    _assert_indexed(store, "sync_change_log", captured)
