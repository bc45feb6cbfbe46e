"""The order feed: every submitted order once, in commit order, behind an opaque cursor.

The feed is a filtered read of the sync change log: the rows carrying the ``order.submitted``
event. The change log's cursor never skips a change (also when PostgreSQL transactions commit
out of order), and a submitted order carries that event on exactly one row, so increasing
cursors return each submitted order exactly once. What the feed shows of an order (lines,
account, pricing) is read from the current tables, since lines are records of their own.

Named consumers keep their acknowledged cursor on the server; retention is the change log's
(``settings.sync_retention_days``), and a cursor older than it answers 410 like a sync pull.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.auth.principal import Principal
from server.backoffice.models import FeedConsumer
from server.backoffice.schemas import (
    AccountRef,
    ConsumerOut,
    FeedPage,
    OrderLineOut,
    OrderOut,
    Pricing,
)
from server.backoffice.sql import upsert
from server.catalog.models import Product
from server.db.base import utcnow
from server.errors import NotFound
from server.orders.models import Order, OrderLine
from server.sync.log import LogPage, read_changes
from sync.ids import new_id

__all__ = ["ORDER_SUBMITTED", "ack", "consumer", "load_orders", "read_feed"]

ORDER_SUBMITTED = "order.submitted"


async def read_feed(
    session: AsyncSession, *, after: str | None, limit: int, retention_days: int
) -> FeedPage:
    page = await _read(session, cursor=after, limit=limit, retention_days=retention_days)
    ids = list(dict.fromkeys(row.record_id for row in page.rows))
    orders = await load_orders(session, ids)
    return FeedPage(
        orders=[orders[i] for i in ids if i in orders], cursor=page.cursor, more=page.more
    )


async def load_orders(session: AsyncSession, ids: Iterable[str]) -> dict[str, OrderOut]:
    """Orders with their live lines, account reference and pricing, by id."""
    wanted = list(ids)
    if not wanted:
        return {}
    orders = (await session.scalars(select(Order).where(Order.id.in_(wanted)))).all()
    account_ids = {o.account_id for o in orders}
    accounts = {
        a.id: a
        for a in (await session.scalars(select(Account).where(Account.id.in_(account_ids)))).all()
    }
    lines: dict[str, list[OrderLineOut]] = {o.id: [] for o in orders}
    rows = await session.execute(
        select(OrderLine, Product.sku, Product.name)
        .outerjoin(Product, Product.id == OrderLine.product_id)
        .where(OrderLine.order_id.in_(wanted), OrderLine.deleted_at.is_(None))
        .order_by(OrderLine.order_id, OrderLine.line_no, OrderLine.id)
    )
    for line, sku, product_name in rows:
        lines[line.order_id].append(
            OrderLineOut(
                id=line.id,
                line_no=line.line_no,
                product_id=line.product_id,
                sku=sku,
                product_name=product_name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount_pct=line.discount_pct,
                line_total=line.line_total,
            )
        )
    return {o.id: _order_out(o, accounts.get(o.account_id), lines[o.id]) for o in orders}


def _order_out(order: Order, account: Account | None, lines: list[OrderLineOut]) -> OrderOut:
    return OrderOut(
        id=order.id,
        status=order.status,
        account=AccountRef(
            id=account.id, name=account.name, city=account.city, postal_code=account.postal_code
        )
        if account
        else None,
        rep_id=order.rep_id,
        submitted_at=order.submitted_at,
        pricing=Pricing(
            currency=order.currency,
            subtotal=order.subtotal,
            discount_total=order.discount_total,
            total=order.total,
        ),
        lines=lines,
        notes=order.notes,
        status_reason=order.status_reason,
        erp_ref=order.erp_ref,
        status_changed_at=order.status_changed_at,
        version=order.version,
    )


async def _read(
    session: AsyncSession, *, cursor: str | None, limit: int, retention_days: int
) -> LogPage:
    return await read_changes(
        session,
        cursor=cursor,
        limit=limit,
        entities=("order",),
        events=(ORDER_SUBMITTED,),
        retention_days=retention_days,
    )


async def ack(
    session: AsyncSession,
    *,
    name: str,
    cursor: str,
    principal: Principal,
    retention_days: int,
) -> ConsumerOut:
    # Prove the cursor is one the log accepts (well-formed, inside retention) before keeping it,
    # so a connector learns of a bad cursor now rather than at its next restart.
    await _read(session, cursor=cursor, limit=1, retention_days=retention_days)
    now = utcnow()
    values = {"cursor": cursor, "acked_at": now, "api_key_id": principal.api_key_id}
    stmt = upsert(session, FeedConsumer).values(id=new_id(), name=name, created_at=now, **values)
    # One statement, so two connectors acking a new name at once cannot both insert it.
    await session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))
    return ConsumerOut(consumer=name, cursor=cursor, acked_at=now)


async def consumer(session: AsyncSession, name: str) -> ConsumerOut:
    row = await session.scalar(select(FeedConsumer).where(FeedConsumer.name == name))
    if row is None:
        raise NotFound(f"no feed consumer named '{name}'")
    return ConsumerOut(consumer=row.name, cursor=row.cursor, acked_at=row.acked_at)
