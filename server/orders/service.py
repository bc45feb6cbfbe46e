"""Orders: reps take them (draft, then submitted), the server prices them, managers read and
annotate them; status moves follow ``sync.machines.ORDER``.

Pricing is the same as on sync push (server/sync/domain.py ``price_draft``): the price list's
current prices, the product's list price where the list has none. A draft is re-priced whenever
its lines or price list change; a submitted order never is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.auth.models import Role, User
from server.auth.principal import Principal
from server.catalog.models import PriceList, Product
from server.db.base import utcnow
from server.errors import BadRequest, Conflict, NotFound, UnprocessableEntity
from server.orders.models import Order, OrderLine
from server.orders.schemas import OrderCreate, OrderLineIn, OrderLineOut, OrderOut, OrderUpdate
from server.org.models import Region
from server.pagination import Page, paginate
from server.rest import check_initial, check_move, check_patch, claim_id, to_decimal, to_out
from server.scoping import get_visible, scoped_select
from server.suggestions.models import Suggestion
from server.sync.domain import price_draft
from sync.domain.suggestions import misfit
from sync.errors import PricingError

__all__ = ["create_order", "get_order", "list_orders", "order_out", "update_order"]


def _out(order: Order, lines: Sequence[OrderLine]) -> OrderOut:
    out = to_out(order, OrderOut)
    out.lines = [
        to_out(line, OrderLineOut) for line in sorted(lines, key=lambda line: line.line_no)
    ]
    return out


async def _lines_of(session: AsyncSession, order_ids: list[str]) -> dict[str, list[OrderLine]]:
    found: dict[str, list[OrderLine]] = defaultdict(list)
    if order_ids:
        rows = await session.execute(
            select(OrderLine).where(
                OrderLine.order_id.in_(order_ids), OrderLine.deleted_at.is_(None)
            )
        )
        for line in rows.scalars():
            found[line.order_id].append(line)
    return found


async def order_out(session: AsyncSession, order: Order) -> OrderOut:
    return _out(order, (await _lines_of(session, [order.id]))[order.id])


async def list_orders(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    account_id: str | None,
    rep_id: str | None,
    submitted_after: datetime | None,
    submitted_before: datetime | None,
    limit: int,
    cursor: str | None,
) -> Page[OrderOut]:
    stmt = scoped_select(principal, Order)
    if status:
        stmt = stmt.where(Order.status == status)
    if account_id:
        stmt = stmt.where(Order.account_id == account_id)
    if rep_id:
        stmt = stmt.where(Order.rep_id == rep_id)
    if submitted_after:
        stmt = stmt.where(Order.submitted_at > submitted_after)
    if submitted_before:
        stmt = stmt.where(Order.submitted_at <= submitted_before)
    page: Page[Order] = await paginate(
        session, stmt, key=Order.id, limit=limit, cursor=cursor, out=lambda o: o
    )
    lines = await _lines_of(session, [o.id for o in page.items])
    return Page(items=[_out(o, lines[o.id]) for o in page.items], next_cursor=page.next_cursor)


async def get_order(session: AsyncSession, principal: Principal, order_id: str) -> OrderOut:
    return await order_out(session, await get_visible(session, principal, Order, order_id))


async def _rep_for(session: AsyncSession, principal: Principal, rep_id: str | None) -> User:
    if rep_id is None:
        if principal.role is not Role.REP or principal.user_id is None:
            raise BadRequest("say whose order this is", field="rep_id")
        rep_id = principal.user_id
    return await get_visible(session, principal, User, rep_id, field="rep_id")


async def _price_list_for(
    session: AsyncSession, principal: Principal, price_list_id: str | None, rep: User
) -> PriceList | None:
    if price_list_id is not None:
        return await get_visible(
            session, principal, PriceList, price_list_id, field="price_list_id"
        )
    region_list = await session.scalar(
        select(Region.price_list_id).where(Region.id == rep.region_id)
    )
    return await session.get(PriceList, region_list) if region_list else None


async def _check_suggestions(
    session: AsyncSession, lines: Sequence[OrderLineIn], account_id: str
) -> None:
    """Each suggestion a line names exists (withdrawn ones too: a rep may have taken the line
    before the nightly job replaced it) and is for the line's product and the order's account,
    the rule every door applies (sync/domain/suggestions.py)."""
    named = {line.suggestion_id for line in lines if line.suggestion_id is not None}
    if not named:
        return
    found = {
        s.id: s
        for s in (
            await session.execute(select(Suggestion).where(Suggestion.id.in_(named)))
        ).scalars()
    }
    for i, line in enumerate(lines):
        if line.suggestion_id is None:
            continue
        suggestion = found.get(line.suggestion_id)
        if suggestion is None:
            raise NotFound(
                f"no suggestion with id {line.suggestion_id}", field=f"lines[{i}].suggestion_id"
            )
        why = misfit(
            suggestion.id, suggestion.product_id, suggestion.account_id, line.product_id, account_id
        )
        if why is not None:
            raise UnprocessableEntity(why, field=f"lines[{i}].suggestion_id")


async def _check_products(session: AsyncSession, lines: Sequence[OrderLineIn]) -> None:
    wanted = {line.product_id for line in lines}
    known = set(
        (
            await session.execute(
                select(Product.id).where(
                    Product.id.in_(wanted), Product.active.is_(True), Product.deleted_at.is_(None)
                )
            )
        ).scalars()
    )
    for i, line in enumerate(lines):
        if line.product_id not in known:
            raise NotFound(
                f"no orderable product with id {line.product_id}", field=f"lines[{i}].product_id"
            )


def _numbered(
    lines: Sequence[OrderLineIn], existing: set[int] | None = None
) -> list[tuple[int, OrderLineIn]]:
    """Line numbers for ``lines``: those given, else the position in a new order, or the next
    free numbers after the existing lines of a draft."""
    given = [line.line_no for line in lines if line.line_no is not None]
    following = max([*(existing or ()), *given], default=0) + 1
    seen: set[int] = set()
    numbered = []
    for i, line in enumerate(lines):
        if line.line_no is not None:
            line_no = line.line_no
        elif existing is None:
            line_no = i + 1
        else:
            line_no, following = following, following + 1
        if line_no in seen:
            raise BadRequest(f"line_no {line_no} appears twice", field=f"lines[{i}].line_no")
        seen.add(line_no)
        numbered.append((line_no, line))
    return numbered


async def _reprice(session: AsyncSession, order: Order, lines: list[OrderLine]) -> None:
    try:
        totals = await price_draft(session, order, lines)
    except PricingError as exc:
        raise UnprocessableEntity(exc.detail, field="lines") from None
    by_line = {(p.line_no, p.product_id): p for p in totals.lines}
    for line in lines:
        priced = by_line[(line.line_no, line.product_id)]
        line.unit_price = priced.unit_price
        line.line_total = priced.line_total
    order.subtotal = totals.subtotal
    order.discount_total = totals.discount_total
    order.total = totals.total


def _submit(order: Order, lines: list[OrderLine], now: datetime) -> None:
    if not lines:
        raise BadRequest("an order needs at least one line before it is submitted", field="lines")
    order.submitted_at = now


def _note_client_total(order: Order, client_total: Decimal | None) -> None:
    order.client_total = client_total
    if client_total is not None and client_total != order.total:
        order.repricing = {
            "old_total": str(client_total),
            "new_total": str(order.total),
            "difference": str(order.total - client_total),
            "lines": [],
        }


async def create_order(session: AsyncSession, principal: Principal, data: OrderCreate) -> OrderOut:
    await get_visible(session, principal, Account, data.account_id, field="account_id")
    rep = await _rep_for(session, principal, data.rep_id)
    check_initial("order", data.status, principal)
    numbered = _numbered(data.lines)
    await _check_products(session, data.lines)
    await _check_suggestions(session, data.lines, data.account_id)
    price_list = await _price_list_for(session, principal, data.price_list_id, rep)
    now = utcnow()
    order = Order(
        id=await claim_id(session, Order, data.id),
        account_id=data.account_id,
        rep_id=rep.id,
        price_list_id=price_list.id if price_list else None,
        currency=price_list.currency if price_list else "EUR",
        status=data.status,
        notes=data.notes,
        status_changed_at=now,
    )
    session.add(order)
    lines = [
        OrderLine(
            order_id=order.id,
            line_no=line_no,
            product_id=line.product_id,
            quantity=line.quantity,
            discount_pct=to_decimal(line.discount_pct),
            suggestion_id=line.suggestion_id,
        )
        for line_no, line in numbered
    ]
    session.add_all(lines)
    await _reprice(session, order, lines)
    if data.status == "submitted":
        _submit(order, lines, now)
        _note_client_total(order, to_decimal(data.client_total) if data.client_total else None)
    await session.flush()
    return _out(order, lines)


def _current(order: Order) -> dict[str, object]:
    return {"id": order.id, "status": order.status, "version": order.version}


async def update_order(
    session: AsyncSession, principal: Principal, order_id: str, patch: OrderUpdate
) -> OrderOut:
    order = await get_visible(session, principal, Order, order_id, for_update=True)
    check_patch(order, patch, principal)
    lines = (await _lines_of(session, [order.id]))[order.id]
    repricing = False
    editing = patch.lines is not msgspec.UNSET or patch.price_list_id is not msgspec.UNSET
    if editing and order.status != "draft":
        raise Conflict(
            f"the order is {order.status}; only a draft's lines and price list can change",
            field="lines" if patch.lines is not msgspec.UNSET else "price_list_id",
            extra={"current": _current(order)},
        )
    if patch.price_list_id is not msgspec.UNSET:
        price_list = await get_visible(
            session, principal, PriceList, patch.price_list_id, field="price_list_id"
        )
        order.price_list_id = price_list.id
        order.currency = price_list.currency
        repricing = True
    if patch.lines is not msgspec.UNSET:
        await _check_products(session, patch.lines)
        await _check_suggestions(session, patch.lines, order.account_id)
        by_no = {line.line_no: line for line in lines}
        for line_no, given in _numbered(patch.lines, set(by_no)):
            line = by_no.get(line_no)
            if line is None:
                line = OrderLine(order_id=order.id, line_no=line_no)
                session.add(line)
                lines.append(line)
                by_no[line_no] = line
            line.product_id = given.product_id
            line.quantity = given.quantity
            line.discount_pct = to_decimal(given.discount_pct)
            if given.suggestion_id not in (None, line.suggestion_id):
                if line.suggestion_id is not None:  # written once, as on every door
                    raise Conflict(
                        f"line {line_no} already names suggestion {line.suggestion_id}",
                        field="lines.suggestion_id",
                    )
                line.suggestion_id = given.suggestion_id
        repricing = True
    if patch.notes is not msgspec.UNSET:
        order.notes = patch.notes
    now = utcnow()
    if patch.status is not msgspec.UNSET and patch.status != order.status:
        check_move("order", order, patch.status, principal)
        submitting = patch.status == "submitted"
        if submitting:
            await _reprice(session, order, lines)
            repricing = False
            _submit(order, lines, now)
        order.status = patch.status
        order.status_changed_at = now
        if patch.status_reason is not msgspec.UNSET:
            order.status_reason = patch.status_reason
    elif patch.status_reason is not msgspec.UNSET:
        order.status_reason = patch.status_reason
    if repricing:
        await _reprice(session, order, lines)
    await session.flush()
    return _out(order, lines)
