"""What the server computes when a device's client transaction lands: prices and totals, visit
verification, and the stamps that follow state changes. The rules themselves are shared with the
device (sync/domain/): the server recomputes with its own data — current prices, the account's
true coordinates, the rep's other visits — so a device can never declare itself verified or
choose its own price.

Re-pricing rule (docs/sync.md, "Orders"): a draft is priced with the price list's current prices
whenever it or its lines change; when an order is submitted, the prices the device used are
compared with the server's, and if they differ the order keeps the server's and records both
(``repricing``: old and new total, per line) so the rep sees the difference instead of a silent
change. A submitted order is never re-priced again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, bindparam, func, inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import get_history

from server.access import Known, load_parent
from server.accounts.models import Account
from server.catalog.models import Price, Product
from server.db.base import SyncableMixin
from server.leads.models import Lead
from server.leads.service import assign_leads
from server.opportunities.models import Opportunity
from server.orders.models import Order, OrderLine
from server.privacy.guard import refusal
from server.settings import Settings
from server.tickets.models import Ticket
from server.visits.models import Visit
from sync.domain.pricing import LineInput, OrderTotals, price_order, repricing_diff
from sync.domain.suggestions import misfit
from sync.domain.visits import Fix, verify_visit
from sync.errors import PricingError
from sync.messages import Mutation, RejectReason

__all__ = [
    "DomainRejection",
    "after_transaction",
    "assign_new_leads",
    "parent_status",
    "price_draft",
    "verify",
    "verify_visits",
]

logger = logging.getLogger("fieldline.sync.domain")


class DomainRejection(Exception):
    def __init__(
        self, record_id: str, reason: RejectReason, detail: str, field: str | None
    ) -> None:
        super().__init__(detail)
        self.record_id = record_id
        self.reason: RejectReason = reason
        self.detail = detail
        self.field = field


async def parent_status(
    session: AsyncSession,
    entity: str,
    obj: Any,
    mutation: Mutation,
    known: Known,
    status_before_tx: dict[str, str],
) -> str | None:
    """The status of the order an order line belongs to, as it was when the client transaction
    began: lines are editable only while their order is a draft, and a transaction that creates
    or submits an order together with its lines is judged as the draft it started from."""
    if entity != "order_line":
        return None
    order_id = obj.order_id if obj is not None else getattr(mutation, "fields", {}).get("order_id")
    if order_id in status_before_tx:
        return status_before_tx[order_id]
    order = await load_parent(session, "order", order_id, known)
    return order.status if order is not None else None


def _previous(obj: Any, name: str) -> Any:
    """The value ``name`` had when the record was loaded; None for a record being created (the
    push fills new records without attribute history)."""
    if not inspect(obj).has_identity:
        return None
    history = get_history(obj, name)
    if history.deleted:
        return history.deleted[0]
    return None if history.added else getattr(obj, name)


async def after_transaction(
    session: AsyncSession,
    touched: list[SyncableMixin],
    claims: dict[tuple[str, str], dict[str, Any]],
    settings: Settings,
    now: datetime,
    known: Known,
    *,
    visits_later: bool = False,
) -> None:
    """The domain's work after one client transaction. ``visits_later``: the caller verifies the
    visits once the whole batch is applied (``verify_visits``): a push applied whole would
    overwrite this transaction's verdict with the last one's (a field day's visit is checked in,
    noted and checked out in three transactions), and visits pushed together judge each other."""
    refused = await refusal(session, touched, claims)
    if refused is not None:
        record_id, detail, field = refused
        raise DomainRejection(record_id, "deleted", detail, field)
    order_ids: list[str] = []
    for obj in touched:
        if isinstance(obj, Order):
            order_ids.append(obj.id)
        elif isinstance(obj, OrderLine):
            order_ids.append(obj.order_id)
    for order_id in dict.fromkeys(order_ids):
        order = await load_parent(session, "order", order_id, known)
        if order is not None:
            await _price(session, order, touched, claims, now)
    for obj in touched:
        if isinstance(obj, OrderLine) and obj.suggestion_id is not None:
            await _check_suggestion(session, obj, claims, known)
    if not visits_later:
        await verify_visits(session, [o for o in touched if isinstance(o, Visit)], settings, known)
    for obj in touched:
        if isinstance(obj, Ticket):
            _stamp_state(obj, "status", "resolved_at", {"resolved", "closed"}, now)
        elif isinstance(obj, Opportunity):
            _stamp_state(obj, "stage", "closed_at", {"closed_won", "closed_lost"}, now)
        elif isinstance(obj, Lead) and obj.status == "contacted" and obj.contacted_at is None:
            obj.contacted_at = now


async def _check_suggestion(
    session: AsyncSession,
    line: OrderLine,
    claims: dict[tuple[str, str], dict[str, Any]],
    known: Known,
) -> None:
    """The suggestion a line names is for its product and its order's account (the rule every
    door applies, sync/domain/suggestions.py). Only when this transaction names it: it is
    written once, and the line's product may change later, as on the device."""
    if "suggestion_id" not in claims.get(("order_line", line.id), {}):
        return
    suggestion = await load_parent(session, "suggestion", line.suggestion_id, known)
    order = await load_parent(session, "order", line.order_id, known)
    why = misfit(
        line.suggestion_id or "",
        suggestion.product_id if suggestion is not None else None,
        suggestion.account_id if suggestion is not None else None,
        line.product_id,
        order.account_id if order is not None else None,
    )
    if why is not None:
        raise DomainRejection(line.id, "validation", why, "suggestion_id")


def _stamp_state(obj: Any, status: str, stamp: str, states: set[str], now: datetime) -> None:
    current = getattr(obj, status)
    if current in states and getattr(obj, stamp) is None:
        setattr(obj, stamp, now)
    elif current not in states and getattr(obj, stamp) is not None:
        setattr(obj, stamp, None)


# Statements of the push's hot path are built once: building one costs more than running it.
_LIVE_LINES = select(OrderLine).where(
    OrderLine.order_id == bindparam("order_id"), OrderLine.deleted_at.is_(None)
)
_LIST_PRICES = select(Product.id, Product.list_price).where(
    Product.id.in_(bindparam("ids", expanding=True))
)
_LIST_ENTRIES = select(Price.product_id, Price.unit_price).where(
    Price.price_list_id == bindparam("price_list"),
    Price.product_id.in_(bindparam("ids", expanding=True)),
    Price.deleted_at.is_(None),
)


async def _lines(
    session: AsyncSession, order: Order, touched: list[SyncableMixin]
) -> list[OrderLine]:
    state = inspect(order)
    # An order this push creates has no stored lines yet: most pushed orders are new, and the
    # query cost more than their pricing.
    stored = (
        ()
        if state.transient or state.pending
        else (await session.execute(_LIVE_LINES, {"order_id": order.id})).scalars()
    )
    lines = {line.id: line for line in stored}
    for obj in touched:
        if isinstance(obj, OrderLine) and obj.order_id == order.id:
            lines[obj.id] = obj
    return sorted(
        (line for line in lines.values() if line.deleted_at is None),
        key=lambda line: (line.line_no, line.id),
    )


def _renumbered(lines: list[OrderLine], touched: list[SyncableMixin]) -> list[OrderLine]:
    """Lines numbered uniquely within their order. Two tablets adding a line to one shared
    draft offline both take the next number; the line that arrives second — new in this push —
    moves to the next free number (the push's answer names it, so the device follows)."""
    new = {id(obj) for obj in touched if isinstance(obj, OrderLine) and obj.version == 1}
    taken: set[int] = set()
    moved = False
    for line in sorted(lines, key=lambda line: (id(line) in new, line.line_no, line.id)):
        if line.line_no in taken:
            line.line_no = max(taken) + 1
            moved = True
        taken.add(line.line_no)
    return sorted(lines, key=lambda line: (line.line_no, line.id)) if moved else lines


PRICES_KEY = "fieldline.prices"
"""Per session (one request): list prices and price-list prices already read, so a push of many
orders reads each product's prices once instead of once per order."""


async def price_draft(session: AsyncSession, order: Order, lines: list[OrderLine]) -> OrderTotals:
    """Price ``lines`` with the order's price list (list price where the list has none)."""
    known: dict[tuple[str | None, str], Decimal | None] = session.info.setdefault(PRICES_KEY, {})
    price_list = order.price_list_id
    wanted = {line.product_id for line in lines}
    missing = [p for p in wanted if (None, p) not in known or (price_list, p) not in known]
    if missing:
        for product_id in missing:
            known.setdefault((price_list, product_id), None)
        for product_id, list_price in await session.execute(_LIST_PRICES, {"ids": missing}):
            known[(None, product_id)] = list_price
        if price_list is not None:
            for product_id, unit_price in await session.execute(
                _LIST_ENTRIES, {"price_list": price_list, "ids": missing}
            ):
                known[(price_list, product_id)] = unit_price
    prices: dict[str, Decimal] = {}
    for product_id in wanted:
        found = known.get((price_list, product_id)) if price_list is not None else None
        if found is None:
            found = known.get((None, product_id))
        if found is not None:
            prices[product_id] = found
    return price_order([_line_input(line) for line in lines], prices)


def _line_input(line: OrderLine) -> LineInput:
    return LineInput(
        product_id=line.product_id,
        quantity=line.quantity,
        discount_pct=Decimal(line.discount_pct or 0),
        line_no=line.line_no,
    )


async def _price(
    session: AsyncSession,
    order: Order,
    touched: list[SyncableMixin],
    claims: dict[tuple[str, str], dict[str, Any]],
    now: datetime,
) -> None:
    was = _previous(order, "status")
    submitting = order.status == "submitted" and was != "submitted"
    if order.status != "draft" and not submitting:
        return  # submitted orders are never re-priced
    lines = _renumbered(await _lines(session, order, touched), touched)
    try:
        totals = await price_draft(session, order, lines)
    except PricingError as exc:
        culprit = next((line.id for line in lines if line.product_id in exc.detail), order.id)
        raise DomainRejection(culprit, "validation", exc.detail, exc.field) from exc
    by_line = {(p.line_no, p.product_id): p for p in totals.lines}
    for line in lines:
        priced = by_line.get((line.line_no, line.product_id))
        if priced is not None:
            line.unit_price = priced.unit_price
            line.line_total = priced.line_total
    order.subtotal = totals.subtotal
    order.discount_total = totals.discount_total
    order.total = totals.total
    if not submitting:
        return
    if not lines:
        raise DomainRejection(order.id, "validation", "an order needs at least one line", "lines")
    order.submitted_at = now
    order.status_changed_at = now
    claimed_total = _decimal(claims.get(("order", order.id), {}).get("total"))
    order.client_total = claimed_total
    device_prices = {
        line.product_id: price
        for line in lines
        if (price := _decimal(claims.get(("order_line", line.id), {}).get("unit_price")))
        is not None
    }
    if device_prices:
        server_prices = {p.product_id: p.unit_price for p in totals.lines}
        device_totals = price_order(
            [_line_input(line) for line in lines], {**server_prices, **device_prices}
        )
        order.repricing = repricing_diff(device_totals, totals)
    elif claimed_total is not None and claimed_total != totals.total:
        order.repricing = {
            "old_total": str(claimed_total),
            "new_total": str(totals.total),
            "difference": str(totals.total - claimed_total),
            "lines": [],
        }


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


# Built once: constructing these expressions cost more than running them, on every visit
# checked in through a push.
def _rep_check_ins_statement() -> Any:
    """The rep's visits that can judge check-ins made between ``earliest`` and ``latest``: every
    check-in from the last located one before ``earliest`` (the first visit's previous fix) up to
    ``latest``, and any visit still open at ``earliest`` (an overlap, however old). The batch's
    own visits (``batch_ids``) are left out of that "last one before": the push holds their
    newer state."""
    stamp = Visit.__table__.c.check_in_at.type
    rep_id: BindParameter[str] = bindparam("rep_id")
    earliest, latest = bindparam("earliest", type_=stamp), bindparam("latest", type_=stamp)
    before = (
        select(func.max(Visit.check_in_at))
        .where(
            Visit.rep_id == rep_id,
            Visit.check_in_at.is_not(None),
            Visit.check_in_at < earliest,
            Visit.check_in_lat.is_not(None),
            Visit.id.not_in(bindparam("batch_ids", expanding=True)),
        )
        .scalar_subquery()
    )
    return select(
        Visit.id,
        Visit.status,
        Visit.check_in_lat,
        Visit.check_in_lon,
        Visit.check_in_accuracy_m,
        Visit.check_in_at,
        Visit.check_out_at,
    ).where(
        Visit.rep_id == rep_id,
        Visit.check_in_at.is_not(None),
        Visit.check_in_at < latest,
        or_(
            Visit.check_in_at >= func.coalesce(before, earliest),
            Visit.check_out_at.is_(None),
            Visit.check_out_at > earliest,
        ),
    )


_REP_CHECK_INS = _rep_check_ins_statement()


class _CheckIn(NamedTuple):
    id: str
    status: str
    check_in_lat: float | None
    check_in_lon: float | None
    check_in_accuracy_m: float | None
    check_in_at: datetime
    check_out_at: datetime | None


async def verify(
    session: AsyncSession, visit: Visit, settings: Settings, known: Known | None = None
) -> None:
    """One visit's verification (the REST door): see ``verify_visits``."""
    await verify_visits(session, [visit], settings, {} if known is None else known)


async def verify_visits(
    session: AsyncSession, visits: list[Visit], settings: Settings, known: Known
) -> None:
    """Recompute the visits' verification from the server's own facts: each account's true pin
    and radius, and the rep's other check-ins (the one before, for the travel speed; any still
    open, for an overlap). ``known``: records at hand (a push's batch): their state stands over
    what the database holds, so visits pushed together judge each other as they will be stored.

    One query for the accounts not at hand and one per rep, whatever the number of visits: a
    field day's push checks in several visits at once."""
    located = [v for v in visits if v.check_in_at is not None]
    if not located:
        return
    missing = {v.account_id for v in located if ("account", v.account_id) not in known}
    if missing:
        found = {a.id: a for a in (await session.scalars(_ACCOUNTS, {"ids": sorted(missing)}))}
        for account_id in missing:
            known[("account", account_id)] = found.get(account_id)
    at_hand = {
        key[1]: obj for key, obj in known.items() if key[0] == "visit" and isinstance(obj, Visit)
    }
    for visit in located:
        at_hand.setdefault(visit.id, visit)
    by_rep: dict[str, list[Visit]] = {}
    for visit in located:
        by_rep.setdefault(visit.rep_id, []).append(visit)
    for rep_id, mine in by_rep.items():
        ours = [v for v in at_hand.values() if v.rep_id == rep_id]
        times = [v.check_in_at for v in mine if v.check_in_at is not None]
        rows = await session.execute(
            _REP_CHECK_INS,
            {
                "rep_id": rep_id,
                "earliest": min(times),
                "latest": max(times),
                "batch_ids": [v.id for v in ours],
            },
        )
        others = {row.id: _CheckIn(*row) for row in rows}
        for v in ours:
            if v.check_in_at is not None:
                others[v.id] = _CheckIn(
                    v.id,
                    v.status,
                    v.check_in_lat,
                    v.check_in_lon,
                    v.check_in_accuracy_m,
                    v.check_in_at,
                    v.check_out_at,
                )
            else:
                others.pop(v.id, None)
        for visit in mine:
            _judge(visit, known.get(("account", visit.account_id)), others, settings)


_ACCOUNTS = select(Account).where(Account.id.in_(bindparam("ids", expanding=True)))


def _judge(visit: Visit, account: Any, others: dict[str, _CheckIn], settings: Settings) -> None:
    at = visit.check_in_at
    assert at is not None
    earlier = [c for c in others.values() if c.id != visit.id and c.check_in_at < at]
    located = [c for c in earlier if c.check_in_lat is not None]
    last = max(located, key=lambda c: c.check_in_at, default=None)
    previous = (
        Fix(
            lat=last.check_in_lat,
            lon=last.check_in_lon,
            accuracy_m=last.check_in_accuracy_m,
            at=last.check_in_at,
        )
        if last is not None and last.check_in_lat is not None and last.check_in_lon is not None
        else None
    )
    overlapping = any(
        c.status != "cancelled" and (c.check_out_at is None or c.check_out_at > at) for c in earlier
    )
    result = verify_visit(
        check_in=_check_in_fix(visit),
        account_lat=account.lat if account else None,
        account_lon=account.lon if account else None,
        radius_m=account.visit_radius_m if account else 200.0,
        check_out_at=visit.check_out_at,
        previous_check_in=previous,
        overlapping=overlapping,
        min_minutes=settings.min_visit_minutes,
        max_speed_kmh=settings.max_travel_kmh,
    )
    visit.distance_m = result.distance_m
    visit.verified = result.verified
    visit.verification_score = result.score
    visit.flags = list(result.flags)


def _check_in_fix(visit: Visit) -> Fix | None:
    """Where and when the visit was checked in, if it was (half a position counts as none:
    ``verify_visit`` treats it as not located)."""
    if visit.check_in_lat is None or visit.check_in_lon is None or visit.check_in_at is None:
        return None
    return Fix(
        lat=visit.check_in_lat,
        lon=visit.check_in_lon,
        accuracy_m=visit.check_in_accuracy_m,
        at=visit.check_in_at,
    )


async def assign_new_leads(session: AsyncSession, lead_ids: list[str], *, now: datetime) -> None:
    """Leads captured in the field enter assignment like any other; if that fails, the lead
    stays in the queue and the scheduled job retries it (the push itself must not fail)."""
    try:
        async with session.begin_nested():
            await assign_leads(session, lead_ids, now=now)
    except Exception:
        logger.exception("assigning field leads failed; the scheduler will retry")
