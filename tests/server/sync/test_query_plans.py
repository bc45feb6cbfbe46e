"""Each branch of a pull's scope is read through its own index, on both stores.

The scope-key indexes are partial (migration 0007): they hold only rows whose key is set. A
partial index is used only when the query's conditions imply its predicate, so a change to how
the pull writes its conditions could silently turn every pull into a scan of the whole change
log. These tests capture the statements a real pull runs and ask each store for its plan, and
on PostgreSQL how many rows that plan reads: an index can be used and still read far more than
the page (a branch's history, or every scope's rows of the cursor's window)."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
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
_CHANGES = 300
"""Changes behind a cursor, or outside the pulling rep's scope, that a pull must not read."""


@contextmanager
def _captured(table: str) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip(" \n(").upper().startswith("SELECT") and f"FROM {table}" in statement:
            seen.append((statement, params))

    event.listen(Engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", capture)


def _pg_dsn(store: Store) -> str:
    return make_url(store.url).set(drivername="postgresql").render_as_string(False)


def _plan(store: Store, statement: str, params: Any) -> str:
    if store.is_sqlite:
        conn = sqlite3.connect(make_url(store.url).database or "")
        try:
            rows = conn.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
        finally:
            conn.close()
        return "\n".join(str(row[-1]) for row in rows)

    async def explain() -> str:
        conn = await asyncpg.connect(_pg_dsn(store))
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


def _rows_examined(store: Store, statement: str, params: Any) -> int:
    """Rows PostgreSQL's scans read to run ``statement``: those returned and those a filter
    dropped, whatever index the planner chose."""

    async def analyse() -> Any:
        conn = await asyncpg.connect(_pg_dsn(store))
        try:
            await conn.execute("SET enable_seqscan = off")  # as in _plan: tiny tables
            return await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", *params)
        finally:
            await conn.close()

    def walk(node: dict[str, Any]) -> int:
        read = 0
        if "Scan" in node["Node Type"]:
            read += node["Actual Rows"] * node["Actual Loops"]
            read += node.get("Rows Removed by Filter", 0)
            read += node.get("Rows Removed by Index Recheck", 0)
        return read + sum(walk(child) for child in node.get("Plans", []))

    [plan] = json.loads(asyncio.run(analyse()))
    return walk(plan["Plan"])


def test_an_incremental_pull_reads_what_changed_in_its_scope_not_history_or_others(
    device_for: Callable[[str], Device], store: Store, world: World
) -> None:
    if store.is_sqlite:
        pytest.skip("SQLite's cursor is a sequence number its indexes seek to (the test above)")
    rep = device_for("rep_n1")
    ours, theirs = world.accounts["N1"][0], world.accounts["S1"][0]

    def rename(account_id: str, times: int) -> None:
        async def work(session: AsyncSession) -> None:
            account = await session.get(Account, account_id)
            assert account is not None
            for n in range(times):
                account.name = f"Customer, name {n} of {times}"
                await session.flush()  # one change-log row per flush

        run_db(store.url, work)

    rename(ours, _CHANGES)
    rep.pull()  # that history now lies behind the cursor
    rename(theirs, _CHANGES)  # busy elsewhere, outside this rep's scope
    rename(ours, 1)
    with _captured("sync_change_log") as captured:
        rep.pull()
    assert rep.of("account")[ours]["name"] == "Customer, name 0 of 1"
    examined = sum(_rows_examined(store, statement, params) for statement, params in captured)
    assert examined <= 10, f"the pull read {examined} change-log rows to find 1"
