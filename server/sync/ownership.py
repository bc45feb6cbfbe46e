"""What a caller may write through sync, and the values the server fills in on creation.

Reading scope lives in server/sync/scope.py (keys on change rows); writing is narrower: a rep
changes their territory's accounts and contacts and their own visits, orders, tickets, leads and
opportunities. Admins may write anything; managers' devices are read-only (push refuses them
before this is asked).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.auth.models import Role
from server.auth.principal import Principal
from server.catalog.models import PriceList
from server.db.base import SyncableMixin
from server.orders.models import Order
from server.org.models import Region
from server.sync.scope import PUBLIC_ENTITIES
from server.tickets.models import Ticket
from server.visits.models import Visit

__all__ = ["Known", "creation_defaults", "load_parent", "writable"]


Known = dict[tuple[str, str], SyncableMixin | None]
"""Records already loaded for a push batch, by (entity, id) — including ones created or changed
earlier in the batch and not yet flushed. None: known not to exist."""


async def load_parent(
    session: AsyncSession, model: type[Any], record_id: str | None, known: Known
) -> Any:
    if record_id is None:
        return None
    key = (model.__sync_entity__, record_id)
    if key not in known:
        known[key] = await session.get(model, record_id)
    return known[key]


async def _account_in_territory(
    session: AsyncSession, principal: Principal, account_id: str | None, known: Known
) -> bool:
    account = await load_parent(session, Account, account_id, known)
    return (
        account is not None
        and account.deleted_at is None
        and account.territory_id is not None
        and account.territory_id == principal.territory_id
    )


async def writable(
    session: AsyncSession,
    principal: Principal,
    entity: str,
    obj: Any,
    known: Known,
) -> bool:
    if principal.role is Role.ADMIN or entity in PUBLIC_ENTITIES:
        return True  # public entities are refused as read-only by the rules, with that reason
    if principal.role is not Role.REP:
        return False
    me = principal.user_id
    match entity:
        case "account":
            return obj.territory_id is not None and obj.territory_id == principal.territory_id
        case "contact":
            return await _account_in_territory(session, principal, obj.account_id, known)
        case "visit" | "order":
            return obj.rep_id == me and await _account_in_territory(
                session, principal, obj.account_id, known
            )
        case "opportunity":
            return obj.owner_id == me and await _account_in_territory(
                session, principal, obj.account_id, known
            )
        case "visit_note":
            visit = await load_parent(session, Visit, obj.visit_id, known)
            return visit is not None and visit.rep_id == me
        case "order_line":
            order = await load_parent(session, Order, obj.order_id, known)
            return order is not None and order.rep_id == me
        case "ticket":
            return obj.opened_by_id == me or await _account_in_territory(
                session, principal, obj.account_id, known
            )
        case "ticket_comment":
            ticket = await load_parent(session, Ticket, obj.ticket_id, known)
            return ticket is not None and await writable(
                session, principal, "ticket", ticket, known
            )
        case "lead":
            return obj.assignee_id == me or (obj.assignee_id is None and obj.captured_by_id == me)
    return False


async def creation_defaults(
    session: AsyncSession,
    principal: Principal,
    entity: str,
    obj: Any,
    known: Known,
) -> dict[str, Any]:
    """Values only the server sets when a device creates a record: who owns it, where it
    belongs."""
    me = principal.user_id
    values: dict[str, Any] = {}
    match entity:
        case "account":
            values = {"territory_id": principal.territory_id, "owner_id": me}
        case "visit":
            values = {"rep_id": obj.rep_id or me, "status": obj.status or "planned"}
        case "order":
            values = {"rep_id": obj.rep_id or me}
            if obj.price_list_id is None:
                values["price_list_id"] = await _price_list_for(session, principal)
            if obj.price_list_id is None and values.get("price_list_id"):
                currency = (
                    await session.execute(
                        select(PriceList.currency).where(PriceList.id == values["price_list_id"])
                    )
                ).scalar_one_or_none()
                if currency:
                    values["currency"] = currency
        case "opportunity":
            values = {"owner_id": obj.owner_id or me}
        case "visit_note" | "ticket_comment":
            values = {"author_id": me}
        case "ticket":
            values = {"opened_by_id": obj.opened_by_id or me}
        case "lead":
            values = {
                "captured_by_id": me,
                "source": "field",
                "region_id": principal.region_id,
                "status": obj.status or "new",
            }
    return values


async def _price_list_for(session: AsyncSession, principal: Principal) -> str | None:
    if principal.region_id is None:
        return None
    return (
        await session.execute(select(Region.price_list_id).where(Region.id == principal.region_id))
    ).scalar_one_or_none()
