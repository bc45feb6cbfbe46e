"""Suggestions: read the order history, learn (server/suggestions/learner.py), write the records
devices sync; read an account's for REST; count how many were taken up.

A relearn keeps a suggestion's record while the account keeps it among its best (same product,
same kind), changing only what moved, and tombstones the rest: devices receive only what
changed, and an order line taken from a suggestion can always be traced back to it. Writes go
in short transactions of a few hundred accounts, so a relearn never holds SQLite's one writer
for long while devices push.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.accounts.models import Account
from server.auth.principal import Principal
from server.catalog.models import Price, Product
from server.orders.models import Order, OrderLine
from server.org.models import Region, Territory
from server.scoping import get_visible, scoped_select
from server.suggestions.learner import Params, ProductFacts, Suggested, learn
from server.suggestions.models import Suggestion

__all__ = [
    "BOUGHT_STATUSES",
    "WINDOW_DAYS",
    "Acceptance",
    "History",
    "RelearnSummary",
    "acceptance",
    "account_suggestions",
    "load_history",
    "relearn",
]

BOUGHT_STATUSES = ("submitted", "accepted", "fulfilled", "invoiced")
"""An order tells what an account buys once it is submitted (drafts, rejected and cancelled
orders do not)."""
WINDOW_DAYS = 365
"""What an account bought in the last year is what it "buys": the rules' antecedents, and
what is never suggested to it."""
ACCOUNTS_PER_TRANSACTION = 250


@dataclass(frozen=True)
class History:
    bought: dict[str, set[str]]
    """Account → products it bought in the window."""
    products: dict[str, ProductFacts]
    offered: dict[str, frozenset[str] | None]
    """Account → the products on its price list (None: no list, every product at list price)."""


@dataclass(frozen=True)
class RelearnSummary:
    accounts: int
    """Accounts with order history in the window."""
    suggestions: int
    """Live suggestions after the relearn."""
    created: int
    updated: int
    removed: int
    unchanged: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "suggestions": self.suggestions,
            "created": self.created,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
        }


async def load_history(
    session: AsyncSession, *, now: datetime, window_days: int = WINDOW_DAYS
) -> History:
    since = now - timedelta(days=window_days)
    when = func.coalesce(Order.submitted_at, Order.created_at)
    rows = await session.execute(
        select(Order.account_id, OrderLine.product_id, Order.price_list_id, when)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(
            Order.status.in_(BOUGHT_STATUSES),
            Order.deleted_at.is_(None),
            OrderLine.deleted_at.is_(None),
            when >= since,
            when < now,
        )
    )
    bought: dict[str, set[str]] = {}
    latest_list: dict[str, tuple[datetime, str]] = {}
    for account_id, product_id, price_list_id, at in rows:
        bought.setdefault(account_id, set()).add(product_id)
        if price_list_id is not None and (
            account_id not in latest_list or at > latest_list[account_id][0]
        ):
            latest_list[account_id] = (at, price_list_id)
    products = {
        p.id: ProductFacts(
            id=p.id, sku=p.sku, name=p.name, list_price=Decimal(p.list_price), active=p.active
        )
        for p in (await session.execute(select(Product).where(Product.deleted_at.is_(None))))
        .scalars()
        .all()
    }
    on_list: dict[str, set[str]] = {}
    for price_list_id, product_id in await session.execute(
        select(Price.price_list_id, Price.product_id).where(Price.deleted_at.is_(None))
    ):
        on_list.setdefault(price_list_id, set()).add(product_id)
    region_list: dict[str, str | None] = {
        account_id: price_list_id
        for account_id, price_list_id in await session.execute(
            select(Account.id, Region.price_list_id)
            .join(Territory, Territory.id == Account.territory_id)
            .join(Region, Region.id == Territory.region_id)
        )
    }
    offered: dict[str, frozenset[str] | None] = {}
    for account_id in bought:
        # The list the account was last sold from, else its region's: what a rep's tablet
        # prices its next order from.
        last = latest_list.get(account_id)
        list_id = last[1] if last is not None else region_list.get(account_id)
        offered[account_id] = (
            frozenset(on_list[list_id]) if list_id is not None and list_id in on_list else None
        )
    return History(bought=bought, products=products, offered=offered)


def _fields(suggested: Suggested, rank: int) -> dict[str, Any]:
    return {
        "product_id": suggested.product_id,
        "kind": suggested.kind,
        "rank": rank,
        "score": suggested.score,
        "support": suggested.support,
        "lift": suggested.lift,
        "because_product_id": suggested.because_product_id,
        "reason": suggested.reason,
    }


async def relearn(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    params: Params | None = None,
    window_days: int = WINDOW_DAYS,
) -> RelearnSummary:
    """Learn every account's suggestions from the window before ``now`` and write them."""
    async with sessions() as session:
        history = await load_history(session, now=now, window_days=window_days)
        await session.rollback()
    # The learning itself is CPU work; off the event loop, the server keeps answering devices.
    learned = await asyncio.to_thread(
        learn, history.bought, history.products, offered=history.offered, params=params
    )
    async with sessions() as session:
        existing_accounts = set(
            (
                await session.execute(
                    select(Suggestion.account_id).where(Suggestion.deleted_at.is_(None)).distinct()
                )
            ).scalars()
        )
        await session.rollback()
    accounts = sorted(set(learned) | existing_accounts)
    counts = dict.fromkeys(("created", "updated", "removed", "unchanged", "live"), 0)
    for start in range(0, len(accounts), ACCOUNTS_PER_TRANSACTION):
        chunk = accounts[start : start + ACCOUNTS_PER_TRANSACTION]
        async with sessions() as session:
            await _write(session, chunk, learned, now, counts)
            await session.commit()
    return RelearnSummary(
        accounts=len(learned),
        suggestions=counts["live"],
        created=counts["created"],
        updated=counts["updated"],
        removed=counts["removed"],
        unchanged=counts["unchanged"],
    )


async def _write(
    session: AsyncSession,
    accounts: Sequence[str],
    learned: Mapping[str, list[Suggested]],
    now: datetime,
    counts: dict[str, int],
) -> None:
    held: dict[str, dict[tuple[str, str], Suggestion]] = {}
    for row in (
        await session.execute(
            select(Suggestion).where(
                Suggestion.account_id.in_(list(accounts)), Suggestion.deleted_at.is_(None)
            )
        )
    ).scalars():
        held.setdefault(row.account_id, {})[(row.product_id, row.kind)] = row
    for account_id in accounts:
        old = held.get(account_id, {})
        wanted = learned.get(account_id, [])
        kept: set[tuple[str, str]] = set()
        for rank, suggested in enumerate(wanted, start=1):
            key = (suggested.product_id, suggested.kind)
            kept.add(key)
            fields = _fields(suggested, rank)
            record = old.get(key)
            if record is None:
                session.add(Suggestion(account_id=account_id, computed_at=now, **fields))
                counts["created"] += 1
                continue
            changed = {k: v for k, v in fields.items() if getattr(record, k) != v}
            if changed:
                for name, value in changed.items():
                    setattr(record, name, value)
                record.computed_at = now
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        for key, record in old.items():
            if key not in kept:
                record.deleted_at = now
                counts["removed"] += 1
        counts["live"] += len(wanted)
    await session.flush()


async def account_suggestions(
    session: AsyncSession, principal: Principal, account_id: str
) -> list[tuple[Suggestion, Product]]:
    """The account's live suggestions with their products, best first; 404 for an account the
    caller cannot see."""
    account = await get_visible(session, principal, Account, account_id)
    rows = await session.execute(
        scoped_select(principal, Suggestion)
        .add_columns(Product)
        .join(Product, Product.id == Suggestion.product_id)
        .where(Suggestion.account_id == account.id, Suggestion.deleted_at.is_(None))
        .order_by(Suggestion.rank, Suggestion.id)
    )
    return [(suggestion, product) for suggestion, product in rows]


@dataclass(frozen=True)
class Acceptance:
    offered: int
    """Suggestions made in the period (live or since replaced)."""
    accepted: int
    """Of those, suggestions an order line was taken from (in a submitted order)."""
    lines: int
    """Order lines taken from a suggestion."""
    revenue: Decimal
    """Their line totals."""

    @property
    def rate(self) -> float | None:
        return self.accepted / self.offered if self.offered else None


async def acceptance(
    session: AsyncSession,
    principal: Principal,
    *,
    since: datetime,
    until: datetime,
    territory_ids: Collection[str] | None = None,
) -> Acceptance:
    """How many of the suggestions made in [since, until) — in the caller's scope — an order
    line was taken from."""
    made = scoped_select(principal, Suggestion).where(
        Suggestion.created_at >= since, Suggestion.created_at < until
    )
    if territory_ids is not None:
        made = made.where(
            Suggestion.account_id.in_(
                select(Account.id).where(Account.territory_id.in_(list(territory_ids)))
            )
        )
    made_ids = made.with_only_columns(Suggestion.id).subquery()
    offered = await session.scalar(select(func.count()).select_from(made_ids)) or 0
    taken = (
        select(OrderLine.suggestion_id, OrderLine.line_total)
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            OrderLine.suggestion_id.in_(select(made_ids.c.id)),
            OrderLine.deleted_at.is_(None),
            Order.deleted_at.is_(None),
            Order.status.in_(BOUGHT_STATUSES),
        )
    )
    rows = (await session.execute(taken)).all()
    return Acceptance(
        offered=int(offered),
        accepted=len({suggestion_id for suggestion_id, _ in rows}),
        lines=len(rows),
        revenue=sum((Decimal(total) for _, total in rows), Decimal(0)),
    )
