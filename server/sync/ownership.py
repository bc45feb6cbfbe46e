"""The values the server fills in when a device creates a record: who owns it, where it
belongs, what it costs. Whether the caller may write the record at all is
``server.access.may_write``, derived from the entity's declaration in ``sync.rules``; it is
asked after these defaults are in, so a device cannot name someone else as the owner.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.access import Known, load_parent
from server.auth.principal import Principal
from server.org.models import Region

__all__ = ["creation_defaults"]


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
            values = {"rep_id": obj.rep_id or me, "status": obj.status or "draft"}
            price_list_id = obj.price_list_id or await _price_list_for(session, principal)
            values["price_list_id"] = price_list_id
            # The currency is the price list's: an order's amounts are in the prices' currency.
            price_list = await load_parent(session, "price_list", price_list_id, known)
            if price_list is not None:
                values["currency"] = price_list.currency
        case "opportunity":
            values = {"owner_id": obj.owner_id or me}
        case "visit_note" | "ticket_comment" | "attachment":
            values = {"author_id": me}
        case "contact_consent" | "lead_consent":
            values = {"recorded_by_id": me, "source": "device"}
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
