"""Server-side helpers for the SDK's integration tests: ORM writes the way the back office or a
manager would make them, and reads of what reached the server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import ApiKey
from server.auth.tokens import digest, new_api_key
from server.catalog.models import Price
from server.sync.log import compact
from tests.seed import run_db


def set_price(url: str, price_list_id: str, product_id: str, unit_price: str) -> None:
    async def work(session: AsyncSession) -> None:
        price = (
            await session.execute(
                select(Price).where(
                    Price.price_list_id == price_list_id, Price.product_id == product_id
                )
            )
        ).scalar_one()
        price.unit_price = Decimal(unit_price)

    run_db(url, work)


def compact_everything(url: str) -> None:
    """Move the compaction horizon to now: every cursor handed out so far is too old."""

    async def work(session: AsyncSession) -> None:
        await compact(session, retention_days=1, now=datetime.now(UTC) + timedelta(days=1))

    run_db(url, work)


def rows(url: str, model: type[Any], **equals: Any) -> list[Any]:
    async def work(session: AsyncSession) -> list[Any]:
        stmt = select(model)
        for name, value in equals.items():
            stmt = stmt.where(getattr(model, name) == value)
        return list((await session.execute(stmt)).scalars())

    return run_db(url, work)


def api_key(url: str, *scopes: str) -> str:
    key, prefix = new_api_key()

    async def work(session: AsyncSession) -> None:
        session.add(
            ApiKey(name=f"erp-{prefix}", prefix=prefix, key_hash=digest(key), scopes=list(scopes))
        )

    run_db(url, work)
    return key
