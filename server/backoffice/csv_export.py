"""CSV export of submitted orders for a date range and, optionally, a region: one row per order
line, streamed page by page from its own read transaction (so the export is one consistent
snapshot) and never held in memory whole."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.accounts.models import Account
from server.catalog.models import Product
from server.orders.models import Order, OrderLine
from server.org.models import Region, Territory

__all__ = ["COLUMNS", "export_orders", "utc_range"]

COLUMNS = (
    "order_id",
    "submitted_at",
    "status",
    "erp_ref",
    "account_id",
    "account_name",
    "city",
    "postal_code",
    "territory",
    "region",
    "rep_id",
    "currency",
    "order_subtotal",
    "order_discount_total",
    "order_total",
    "line_no",
    "sku",
    "product_name",
    "quantity",
    "unit_price",
    "discount_pct",
    "line_total",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def utc_range(start: date, end: date) -> tuple[datetime, datetime | None]:
    """``[start 00:00, end + 1 day 00:00)`` in UTC: both dates are included. The day after the
    calendar's last (9999-12-31) cannot be written, so a range ending there has no upper bound
    (``None``)."""
    after = (
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC) if end < date.max else None
    )
    return datetime.combine(start, time.min, tzinfo=UTC), after


def _text(value: str | None) -> str:
    # Spreadsheets run cells that start like a formula; free text from the field must not.
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


async def export_orders(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    is_sqlite: bool,
    start: datetime,
    end: datetime | None,
    region_id: str | None,
    page_size: int = 500,
) -> AsyncIterator[bytes]:
    yield _encode([COLUMNS])
    async with sessionmaker() as session:
        if is_sqlite:
            await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        after: tuple[datetime, str] | None = None
        while True:
            page = await _orders_page(session, start, end, region_id, after, page_size)
            if not page:
                return
            lines = await _lines(session, [row[0].id for row in page])
            yield _encode(_rows(page, lines))
            last = page[-1][0]
            assert last.submitted_at is not None
            after = (last.submitted_at, last.id)
            if len(page) < page_size:
                return


async def _orders_page(
    session: AsyncSession,
    start: datetime,
    end: datetime | None,
    region_id: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[Any]:
    stmt = (
        select(Order, Account, Territory.code, Region.code)
        .join(Account, Account.id == Order.account_id)
        .outerjoin(Territory, Territory.id == Account.territory_id)
        .outerjoin(Region, Region.id == Territory.region_id)
        .where(Order.submitted_at >= start, Order.deleted_at.is_(None))
    )
    if end is not None:
        stmt = stmt.where(Order.submitted_at < end)
    if region_id is not None:
        stmt = stmt.where(Territory.region_id == region_id)
    if after is not None:
        at, order_id = after
        stmt = stmt.where(
            or_(Order.submitted_at > at, and_(Order.submitted_at == at, Order.id > order_id))
        )
    result = await session.execute(stmt.order_by(Order.submitted_at, Order.id).limit(limit))
    return result.all()


async def _lines(session: AsyncSession, order_ids: list[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {order_id: [] for order_id in order_ids}
    rows = await session.execute(
        select(OrderLine, Product.sku, Product.name)
        .outerjoin(Product, Product.id == OrderLine.product_id)
        .where(OrderLine.order_id.in_(order_ids), OrderLine.deleted_at.is_(None))
        .order_by(OrderLine.order_id, OrderLine.line_no, OrderLine.id)
    )
    for line, sku, name in rows:
        found[line.order_id].append((line, sku, name))
    return found


def _rows(page: Sequence[Any], lines: dict[str, list[Any]]) -> list[Sequence[object]]:
    out: list[Sequence[object]] = []
    for order, account, territory, region in page:
        head = [
            order.id,
            order.submitted_at.isoformat() if order.submitted_at else "",
            order.status,
            _text(order.erp_ref),
            account.id,
            _text(account.name),
            _text(account.city),
            _text(account.postal_code),
            territory or "",
            region or "",
            order.rep_id,
            order.currency,
            order.subtotal,
            order.discount_total,
            order.total,
        ]
        if not lines[order.id]:
            out.append([*head, "", "", "", "", "", "", ""])
        for line, sku, name in lines[order.id]:
            out.append(
                [
                    *head,
                    line.line_no,
                    _text(sku),
                    _text(name),
                    line.quantity,
                    line.unit_price,
                    line.discount_pct,
                    line.line_total,
                ]
            )
    return out


def _encode(rows: Sequence[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()
