"""Reps submit orders concurrently — each writer with its own engine, as separate server
processes would — while an ERP consumer reads the feed in small pages. Every submitted order
must arrive exactly once, and an order committed before another began must come first.

On PostgreSQL, writers also overlap on purpose: a transaction takes its log position, another
commits a later position, the consumer reads, and only then the first commits. A cursor that
trusted the sequence number would skip the first order for good.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.engine import create_engine, create_sessionmaker
from server.orders.models import Order
from tests.seed import World, seed_world
from tests.server.backoffice.conftest import add_order, key_headers, make_api_key
from tests.stores import Store

FEED = "/api/v1/backoffice/orders/feed"
ORDERS_PER_REP = 6
ROUNDS_OUT_OF_ORDER = 3


@dataclass
class Submission:
    order_id: str
    began: float
    committed: float


@dataclass
class Journal:
    submissions: list[Submission] = field(default_factory=list)
    overtaken: list[tuple[str, str]] = field(default_factory=list)
    """(later committed, earlier committed) pairs written out of order on purpose."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, submission: Submission) -> None:
        with self.lock:
            self.submissions.append(submission)


async def _draft(sessions: async_sessionmaker[AsyncSession], world: World, territory: str) -> str:
    async with sessions() as session:
        order = await add_order(session, world, territory=territory, lines=1)
        await session.commit()
        return order.id


async def _mark_submitted(session: AsyncSession, order_id: str) -> None:
    order = await session.get(Order, order_id)
    assert order is not None
    order.status = "submitted"
    order.submitted_at = datetime.now(UTC)
    await session.flush()


def _rep(url: str, world: World, territory: str, journal: Journal) -> None:
    async def main() -> None:
        engine = create_engine(url, null_pool=True)
        sessions = create_sessionmaker(engine)
        try:
            for _ in range(ORDERS_PER_REP):
                order_id = await _draft(sessions, world, territory)
                began = time.monotonic()
                async with sessions() as session:
                    await _mark_submitted(session, order_id)
                    await session.commit()
                journal.add(Submission(order_id, began, time.monotonic()))
        finally:
            await engine.dispose()

    asyncio.run(main())


def _overlapping_rep(
    url: str,
    world: World,
    journal: Journal,
    read_now: threading.Event,
    consumer_read: threading.Event,
) -> None:
    async def main() -> None:
        engine = create_engine(url, null_pool=True)
        sessions = create_sessionmaker(engine)
        try:
            for _ in range(ROUNDS_OUT_OF_ORDER):
                slow_id = await _draft(sessions, world, "S2")
                fast_id = await _draft(sessions, world, "S2")
                slow_began = time.monotonic()
                async with sessions() as slow:
                    await _mark_submitted(slow, slow_id)  # takes its log position now
                    fast_began = time.monotonic()
                    async with sessions() as fast:
                        await _mark_submitted(fast, fast_id)
                        await fast.commit()
                    journal.add(Submission(fast_id, fast_began, time.monotonic()))
                    consumer_read.clear()
                    read_now.set()
                    assert await asyncio.to_thread(consumer_read.wait, 30)
                    await slow.commit()
                journal.add(Submission(slow_id, slow_began, time.monotonic()))
                journal.overtaken.append((slow_id, fast_id))
        finally:
            await engine.dispose()

    asyncio.run(main())


def _page(client: TestClient[Litestar], key: str, cursor: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": 3}
    if cursor is not None:
        params["after"] = cursor
    response = client.get(FEED, params=params, headers=key_headers(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_concurrent_submissions_reach_the_feed_once_each_in_commit_order(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:read")
    journal = Journal()
    read_now, consumer_read = threading.Event(), threading.Event()
    writers = [
        threading.Thread(target=_rep, args=(store.url, world, t, journal))
        for t in ("N1", "N2", "S1", "S2")
    ]
    if not store.is_sqlite:  # SQLite has one writer at a time: nothing can overlap there
        writers.append(
            threading.Thread(
                target=_overlapping_rep,
                args=(store.url, world, journal, read_now, consumer_read),
            )
        )

    seen: list[str] = []
    cursor: str | None = None
    for writer in writers:
        writer.start()
    while any(w.is_alive() for w in writers):
        body = _page(client, key, cursor)
        seen.extend(o["id"] for o in body["orders"])
        cursor = body["cursor"]
        if read_now.is_set():
            read_now.clear()
            body = _page(client, key, cursor)
            seen.extend(o["id"] for o in body["orders"])
            cursor = body["cursor"]
            consumer_read.set()
        if not body["more"]:
            time.sleep(0.01)
    for writer in writers:
        writer.join()
    while True:
        body = _page(client, key, cursor)
        seen.extend(o["id"] for o in body["orders"])
        cursor = body["cursor"]
        if not body["more"]:
            break

    submitted = [s.order_id for s in journal.submissions]
    assert len(seen) == len(set(seen)), "an order was fed twice"
    assert sorted(seen) == sorted(submitted), "an order was skipped"
    position = {order_id: i for i, order_id in enumerate(seen)}
    for a in journal.submissions:
        for b in journal.submissions:
            if a.committed < b.began:
                assert position[a.order_id] < position[b.order_id]
    for later, earlier in journal.overtaken:
        assert position[earlier] < position[later]
    expected_writers = 4 if store.is_sqlite else 5
    assert len(submitted) == 4 * ORDERS_PER_REP + (expected_writers - 4) * 2 * ROUNDS_OUT_OF_ORDER
