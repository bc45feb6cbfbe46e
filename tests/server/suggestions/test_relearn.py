"""The relearn against a real store: it reads the order history, writes the suggestions worked
out by hand in tests/server/suggestions/history.py, and on a later run changes only what
moved."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.catalog.models import Product
from server.db.engine import create_engine, create_sessionmaker
from server.suggestions.models import Suggestion
from server.suggestions.service import RelearnSummary, relearn
from server.sync.models import ChangeLog
from tests.seed import World, run_db, seed_world
from tests.server.suggestions.history import NOW, buy, seed_history, targets
from tests.stores import Store


def learn_now(url: str) -> RelearnSummary:
    async def main() -> RelearnSummary:
        engine = create_engine(url, null_pool=True)
        try:
            return await relearn(create_sessionmaker(engine), now=NOW)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def live(url: str) -> list[Suggestion]:
    async def work(session: AsyncSession) -> list[Suggestion]:
        found = await session.execute(
            select(Suggestion).where(Suggestion.deleted_at.is_(None)).order_by(Suggestion.id)
        )
        return list(found.scalars())

    return run_db(url, work)


def change_rows(url: str) -> int:
    async def work(session: AsyncSession) -> Any:
        return await session.scalar(
            select(func.count()).select_from(ChangeLog).where(ChangeLog.entity == "suggestion")
        )

    return int(run_db(url, work))


def _world(store: Store) -> World:
    world = seed_world(store.url)
    seed_history(store.url, world)
    return world


def test_the_relearn_writes_the_suggestions_worked_out_by_hand(store: Store) -> None:
    world = _world(store)
    summary = learn_now(store.url)
    assert (summary.accounts, summary.suggestions, summary.created) == (12, 2, 2)
    found = live(store.url)
    assert {s.account_id for s in found} == set(targets(world))
    for s in found:
        assert (s.product_id, s.kind, s.rank) == (world.products[1], "cross_sell", 1)
        assert (s.score, s.support, s.lift) == (0.7778, 7, 1.33)
        assert s.because_product_id == world.products[0]
        assert s.reason == "bought by 78 % of accounts that buy Product 1"


def test_a_relearn_that_changes_nothing_writes_nothing_to_sync(store: Store) -> None:
    _world(store)
    learn_now(store.url)
    before = change_rows(store.url)
    assert before == 2
    summary = learn_now(store.url)
    assert (summary.created, summary.updated, summary.removed, summary.unchanged) == (0, 0, 0, 2)
    assert change_rows(store.url) == before


def test_a_product_the_account_has_since_bought_is_withdrawn(store: Store) -> None:
    world = _world(store)
    learn_now(store.url)
    north, south = targets(world)
    buy(store.url, world, north, [2], days_ago=1)
    summary = learn_now(store.url)
    # North's suggestion is tombstoned (devices are told to delete it); the rule it came from
    # now holds for eight of the nine buyers of product 1 (8/9), which moves South's score.
    assert (summary.removed, summary.updated, summary.suggestions) == (1, 1, 1)
    [kept] = live(store.url)
    assert kept.account_id == south and kept.score == 0.8889 and kept.support == 8


def test_an_inactive_product_is_not_suggested(store: Store) -> None:
    world = _world(store)

    async def retire(session: AsyncSession) -> None:
        product = await session.get(Product, world.products[1])
        assert product is not None
        product.active = False

    run_db(store.url, retire)
    assert learn_now(store.url).suggestions == 0


def test_orders_outside_the_window_or_never_submitted_do_not_count(store: Store) -> None:
    world = seed_world(store.url)
    for account, products in {
        world.accounts["N1"][1]: [1, 2],
        world.accounts["N1"][2]: [1, 2],
    }.items():
        buy(store.url, world, account, products, days_ago=400)
    assert learn_now(store.url).accounts == 0
