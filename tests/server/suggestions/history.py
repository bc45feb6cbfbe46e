"""A small order history over the seeded world (tests/seed.py) whose suggestions can be worked
out by hand.

Twelve accounts, three per territory. Product 1 is bought by nine of them and product 2 by
seven, always with product 1; the three accounts of N2 buy product 3 alone. The first account
of N1 and of S1 buy product 1 only, so each gets product 2: confidence 7/9 (78 %), lift
(7/9) / (7/12) = 1.33, support 7. Nothing else clears the bar (product 3 is never bought with
another), so the world holds exactly those two suggestions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from server.orders.models import Order, OrderLine
from tests.seed import World, run_db

NOW = datetime.now(UTC)


def targets(world: World) -> tuple[str, str]:
    """The two accounts that get a suggestion: the first of N1 and of S1."""
    return world.accounts["N1"][0], world.accounts["S1"][0]


def baskets(world: World) -> dict[str, list[int]]:
    """Account → the product numbers (1-based, world.products) it bought."""
    out: dict[str, list[int]] = {}
    for code in ("N1", "S1", "S2"):
        for n, account in enumerate(world.accounts[code]):
            out[account] = [1] if n == 0 and code != "S2" else [1, 2]
    for account in world.accounts["N2"]:
        out[account] = [3]
    return out


def rep_of(world: World, account: str) -> str:
    code = next(c for c, ids in world.accounts.items() if account in ids)
    return world.user(f"rep_{code.lower()}")


def buy(url: str, world: World, account: str, products: list[int], *, days_ago: float = 30) -> str:
    """A submitted order of ``account`` for one of each product; returns its id."""

    async def work(session: AsyncSession) -> str:
        at = NOW - timedelta(days=days_ago)
        order = Order(
            account_id=account,
            rep_id=rep_of(world, account),
            status="submitted",
            price_list_id=world.price_list,
            submitted_at=at,
            total=Decimal("10.00"),
        )
        session.add(order)
        await session.flush()
        for line_no, number in enumerate(products, start=1):
            session.add(
                OrderLine(
                    order_id=order.id,
                    product_id=world.products[number - 1],
                    line_no=line_no,
                    quantity=1,
                    unit_price=Decimal("10.00"),
                    line_total=Decimal("10.00"),
                )
            )
        return order.id

    return run_db(url, work)


def seed_history(url: str, world: World) -> None:
    for account, products in baskets(world).items():
        buy(url, world, account, products)
