"""The pull cursor never skips a change, even when PostgreSQL transactions commit out of the
order in which they took their sequence numbers."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.db.engine import create_engine, create_sessionmaker
from server.sync.models import ChangeLog
from tests.seed import World, run_db
from tests.server.sync.device import Device
from tests.stores import Store

T = TypeVar("T")


class LoopThread:
    """An event loop on its own thread, so a transaction can stay open while the test goes on."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout=30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


class Writer:
    """One database transaction editing accounts through the ORM (so the change is captured
    exactly as in production), held open until told to commit."""

    def __init__(self, url: str) -> None:
        self.thread = LoopThread()
        self.engine = create_engine(url, null_pool=True)
        self.session: AsyncSession | None = None

    def edit(self, account_id: str, phone: str) -> None:
        async def work() -> None:
            if self.session is None:
                self.session = create_sessionmaker(self.engine)()
            account = await self.session.get(Account, account_id)
            assert account is not None
            account.phone = phone
            await self.session.flush()

        self.thread.run(work())

    def commit(self) -> None:
        async def work() -> None:
            assert self.session is not None
            await self.session.commit()
            await self.session.close()
            self.session = None

        self.thread.run(work())

    def close(self) -> None:
        self.thread.run(self.engine.dispose())
        self.thread.close()


def _seq_of(url: str, account_id: str, phone: str) -> int:
    async def work(session: AsyncSession) -> int:
        rows = await session.execute(
            select(ChangeLog.seq, ChangeLog.data).where(ChangeLog.record_id == account_id)
        )
        return next(seq for seq, data in rows if data.get("phone") == phone)

    return run_db(url, work)


@pytest.mark.postgres
def test_a_transaction_committing_after_a_later_one_is_not_skipped(
    store: Store, world: World, device_for: Callable[[str], Device]
) -> None:
    if store.is_sqlite:
        pytest.skip("SQLite has one writer at a time: its sequence is commit-ordered")
    rep = device_for("rep_n1")
    rep.pull()
    first, second = world.accounts["N1"][0], world.accounts["N1"][1]
    slow, fast = Writer(store.url), Writer(store.url)
    try:
        slow.edit(first, "slow writer")  # takes its sequence number first, stays open
        fast.edit(second, "fast writer")
        fast.commit()  # a later sequence number, committed first
        rep.pull()
        assert rep.of("account")[second]["phone"] == "fast writer"
        assert rep.of("account")[first]["phone"] != "slow writer"
        slow.commit()
        rep.pull()
    finally:
        slow.close()
        fast.close()
    # The out-of-order condition really happened, and the reader still got the earlier seq.
    assert _seq_of(store.url, first, "slow writer") < _seq_of(store.url, second, "fast writer")
    assert rep.of("account")[first]["phone"] == "slow writer"


def test_a_reader_racing_many_writers_sees_every_change_exactly_once(
    store: Store, world: World, device_for: Callable[[str], Device]
) -> None:
    rep = device_for("rep_n1")
    rep.pull()
    accounts = world.accounts["N1"]
    rng = random.Random(7)
    writers = [Writer(store.url) for _ in range(3)]
    seen: list[tuple[str, int]] = []
    try:
        held: dict[int, set[str]] = {i: set() for i in range(len(writers))}
        for step in range(30):
            index = rng.randrange(len(writers))
            writer = writers[index]
            # A row locked by another open transaction would block this writer forever.
            locked = set().union(*(h for i, h in held.items() if i != index))
            free = [a for a in accounts if a not in locked]
            if not free:
                writers[next(i for i, h in held.items() if h)].commit()
                held = {i: (set() if writers[i].session is None else h) for i, h in held.items()}
                continue
            account = rng.choice(free)
            writer.edit(account, f"step {step}")
            held[index].add(account)
            if rng.random() < 0.6 or store.is_sqlite:
                writer.commit()
                held[index] = set()
            page = rep.pull_page(limit=2)
            seen.extend((item.id, item.version) for item in page.items)  # type: ignore[union-attr]
        for writer in writers:
            if writer.session is not None:
                writer.commit()
        while True:
            page = rep.pull_page(limit=2)
            seen.extend((item.id, item.version) for item in page.items)  # type: ignore[union-attr]
            if not page.more:
                break
    finally:
        for writer in writers:
            writer.close()

    async def logged(session: AsyncSession) -> list[tuple[str, int]]:
        rows = await session.execute(
            select(ChangeLog.record_id, ChangeLog.version).where(
                ChangeLog.record_id.in_(accounts), ChangeLog.op == "upsert"
            )
        )
        return [(r, v) for r, v in rows if v > 1]

    expected = run_db(store.url, logged)
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen))
