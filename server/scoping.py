"""Who may see which rows: the one place a ``Principal`` becomes a query filter.

    rep        accounts and contacts of their territory; their own visits, orders, opportunities;
               tickets they opened or on accounts of their territory; themself, their territory
               and region; their own devices
    manager    everything of their region: accounts in its territories, records of its users,
               tickets on its accounts, its territories, its users and their devices
    backoffice (API key) orders with an orders scope, tickets with a tickets scope; nothing else
    admin      everything

The catalogue (products, price lists, prices) is visible to every caller; route guards decide
who may call a resource at all. Services ask ``visible(principal, Model)`` for a WHERE clause
and ``get_visible`` to load one row, so an id outside the caller's scope is indistinguishable
from an unknown one (404, never 403).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account, Contact
from server.auth.models import Device, Role, User
from server.auth.principal import Principal
from server.catalog.models import Price, PriceList, Product
from server.errors import NotFound
from server.opportunities.models import Opportunity
from server.orders.models import Order, OrderLine
from server.org.models import Region, Territory
from server.tickets.models import Ticket, TicketComment
from server.visits.models import Visit, VisitNote

__all__ = ["get_visible", "register", "scoped_select", "visible"]

M = TypeVar("M")
Rule = Callable[[Principal], ColumnElement[bool]]

ORDER_SCOPES = frozenset({"orders:read", "orders:write"})
TICKET_SCOPES = frozenset({"tickets:read", "tickets:write"})


def _region_territory_ids(region_id: str | None) -> Any:
    return select(Territory.id).where(Territory.region_id == region_id)


def _region_user_ids(region_id: str | None) -> Any:
    return select(User.id).where(User.region_id == region_id)


def _own(column: Any, p: Principal) -> ColumnElement[bool]:
    """Rep: rows whose ``column`` is the caller; manager: rows of the region's users."""
    if p.is_admin:
        return true()
    if p.user_id is None:
        return false()
    if p.role is Role.REP:
        return column == p.user_id  # type: ignore[no-any-return]
    if p.role is Role.MANAGER and p.region_id is not None:
        return column.in_(_region_user_ids(p.region_id))  # type: ignore[no-any-return]
    return false()


def accounts(p: Principal) -> ColumnElement[bool]:
    if p.is_admin:
        return true()
    if p.user_id is None:
        return false()
    if p.role is Role.REP and p.territory_id is not None:
        return Account.territory_id == p.territory_id
    if p.role is Role.MANAGER and p.region_id is not None:
        return Account.territory_id.in_(_region_territory_ids(p.region_id))
    return false()


def _visible_account_ids(p: Principal) -> Any:
    return select(Account.id).where(accounts(p))


def contacts(p: Principal) -> ColumnElement[bool]:
    return true() if p.is_admin else Contact.account_id.in_(_visible_account_ids(p))


def visits(p: Principal) -> ColumnElement[bool]:
    return _own(Visit.rep_id, p)


def visit_notes(p: Principal) -> ColumnElement[bool]:
    if p.is_admin:
        return true()
    return VisitNote.visit_id.in_(select(Visit.id).where(visits(p)))


def orders(p: Principal) -> ColumnElement[bool]:
    if p.api_key_id is not None:
        return true() if p.scopes & ORDER_SCOPES else false()
    return _own(Order.rep_id, p)


def order_lines(p: Principal) -> ColumnElement[bool]:
    if p.is_admin:
        return true()
    return OrderLine.order_id.in_(select(Order.id).where(orders(p)))


def tickets(p: Principal) -> ColumnElement[bool]:
    if p.api_key_id is not None:
        return true() if p.scopes & TICKET_SCOPES else false()
    if p.is_admin:
        return true()
    if p.user_id is None or p.role not in (Role.REP, Role.MANAGER):
        return false()
    return or_(_own(Ticket.opened_by_id, p), Ticket.account_id.in_(_visible_account_ids(p)))


def ticket_comments(p: Principal) -> ColumnElement[bool]:
    if p.is_admin:
        return true()
    return TicketComment.ticket_id.in_(select(Ticket.id).where(tickets(p)))


def opportunities(p: Principal) -> ColumnElement[bool]:
    return _own(Opportunity.owner_id, p)


def catalogue(_: Principal) -> ColumnElement[bool]:
    return true()


def users(p: Principal) -> ColumnElement[bool]:
    if p.is_admin:
        return true()
    if p.user_id is None:
        return false()
    if p.role is Role.MANAGER and p.region_id is not None:
        return or_(User.region_id == p.region_id, User.id == p.user_id)
    return User.id == p.user_id


def devices(p: Principal) -> ColumnElement[bool]:
    if p.is_admin:
        return true()
    if p.user_id is None:
        return false()
    if p.role is Role.MANAGER and p.region_id is not None:
        return or_(Device.user_id.in_(_region_user_ids(p.region_id)), Device.user_id == p.user_id)
    return Device.user_id == p.user_id


def territories(p: Principal) -> ColumnElement[bool]:
    if p.is_admin:
        return true()
    if p.user_id is None:
        return false()
    if p.role is Role.MANAGER and p.region_id is not None:
        return Territory.region_id == p.region_id
    if p.territory_id is not None:
        return Territory.id == p.territory_id
    return false()


def regions(p: Principal) -> ColumnElement[bool]:
    if p.is_admin:
        return true()
    if p.user_id is None or p.region_id is None:
        return false()
    return Region.id == p.region_id


_RULES: dict[type[Any], Rule] = {
    Account: accounts,
    Contact: contacts,
    Visit: visits,
    VisitNote: visit_notes,
    Order: orders,
    OrderLine: order_lines,
    Ticket: tickets,
    TicketComment: ticket_comments,
    Opportunity: opportunities,
    Product: catalogue,
    PriceList: catalogue,
    Price: catalogue,
    User: users,
    Device: devices,
    Territory: territories,
    Region: regions,
}


def register(model: type[Any], rule: Rule) -> None:
    """For areas outside this module's list (e.g. leads) that want the same lookup helpers."""
    _RULES[model] = rule


def visible(principal: Principal, model: type[Any]) -> ColumnElement[bool]:
    try:
        rule = _RULES[model]
    except KeyError:
        raise LookupError(f"no scope rule for {model.__name__}") from None
    return rule(principal)


def scoped_select(principal: Principal, model: type[M]) -> Select[Any]:
    """Every live row of ``model`` the caller may see (tombstoned records are left out)."""
    stmt = select(model).where(visible(principal, model))
    if hasattr(model, "deleted_at"):
        stmt = stmt.where(model.deleted_at.is_(None))  # type: ignore[attr-defined]
    return stmt


async def get_visible(
    session: AsyncSession,
    principal: Principal,
    model: type[M],
    record_id: str,
    *,
    field: str | None = None,
    what: str | None = None,
    for_update: bool = False,
) -> M:
    """The row with ``record_id`` if the caller may see it; otherwise 404, the same answer as
    for an id that does not exist. ``field`` names the request field that carried the id."""
    stmt = scoped_select(principal, model).where(model.id == record_id)  # type: ignore[attr-defined]
    if for_update:
        stmt = stmt.with_for_update()
    found: M | None = (await session.execute(stmt)).scalar_one_or_none()
    if found is None:
        noun = what or model.__name__.lower()
        raise NotFound(f"no {noun} with id {record_id}", field=field)
    return found
