"""Opportunities: a rep's own pipeline, their manager's region; stage moves follow
``sync.machines.OPPORTUNITY`` and closing stamps ``closed_at``."""

from __future__ import annotations

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.auth.models import Role, User
from server.auth.principal import Principal
from server.db.base import utcnow
from server.errors import BadRequest
from server.opportunities.models import Opportunity
from server.opportunities.schemas import OpportunityCreate, OpportunityOut, OpportunityUpdate
from server.pagination import Page, paginate
from server.rest import (
    apply_patch,
    check_initial,
    check_move,
    check_patch,
    claim_id,
    to_decimal,
    to_out,
)
from server.scoping import get_visible, scoped_select

__all__ = ["create_opportunity", "get_opportunity", "list_opportunities", "update_opportunity"]

_CLOSED = frozenset({"closed_won", "closed_lost"})


async def list_opportunities(
    session: AsyncSession,
    principal: Principal,
    *,
    stage: str | None,
    owner_id: str | None,
    account_id: str | None,
    limit: int,
    cursor: str | None,
) -> Page[OpportunityOut]:
    stmt = scoped_select(principal, Opportunity)
    if stage:
        stmt = stmt.where(Opportunity.stage == stage)
    if owner_id:
        stmt = stmt.where(Opportunity.owner_id == owner_id)
    if account_id:
        stmt = stmt.where(Opportunity.account_id == account_id)
    return await paginate(
        session,
        stmt,
        key=Opportunity.id,
        limit=limit,
        cursor=cursor,
        out=lambda o: to_out(o, OpportunityOut),
    )


async def get_opportunity(
    session: AsyncSession, principal: Principal, opportunity_id: str
) -> Opportunity:
    return await get_visible(session, principal, Opportunity, opportunity_id)


async def create_opportunity(
    session: AsyncSession, principal: Principal, data: OpportunityCreate
) -> Opportunity:
    await get_visible(session, principal, Account, data.account_id, field="account_id")
    owner_id = data.owner_id
    if owner_id is None:
        if principal.role is not Role.REP or principal.user_id is None:
            raise BadRequest("say whose opportunity this is", field="owner_id")
        owner_id = principal.user_id
    await get_visible(session, principal, User, owner_id, field="owner_id")
    check_initial("opportunity", data.stage, principal)
    fields = msgspec.structs.asdict(data)
    fields.update(
        id=await claim_id(session, Opportunity, data.id),
        owner_id=owner_id,
        amount=to_decimal(data.amount),
    )
    opportunity = Opportunity(**fields)
    session.add(opportunity)
    await session.flush()
    return opportunity


async def update_opportunity(
    session: AsyncSession, principal: Principal, opportunity_id: str, patch: OpportunityUpdate
) -> Opportunity:
    opportunity = await get_visible(
        session, principal, Opportunity, opportunity_id, for_update=True
    )
    check_patch(opportunity, patch, principal)
    if patch.stage is not msgspec.UNSET and patch.stage != opportunity.stage:
        check_move("opportunity", opportunity, patch.stage, principal)
    if patch.owner_id is not msgspec.UNSET:
        await get_visible(session, principal, User, patch.owner_id, field="owner_id")
    if patch.amount is not msgspec.UNSET:
        patch = msgspec.structs.replace(patch, amount=to_decimal(patch.amount))
    apply_patch(opportunity, patch, principal)
    if opportunity.stage in _CLOSED and opportunity.closed_at is None:
        opportunity.closed_at = utcnow()
    elif opportunity.stage not in _CLOSED:
        opportunity.closed_at = None
    await session.flush()
    return opportunity
