"""Tickets: opened by reps on accounts they serve, worked by reps, managers and (with the
``tickets:write`` scope) the back office; status moves follow ``sync.machines.TICKET``.
Comments are append-only."""

from __future__ import annotations

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.auth.models import User
from server.auth.principal import Principal
from server.db.base import utcnow
from server.errors import Forbidden, NotFound
from server.pagination import Page, paginate
from server.rest import (
    apply_patch,
    check_create,
    check_initial,
    check_move,
    check_patch,
    claim_id,
    to_out,
)
from server.scoping import get_visible, scoped_select
from server.tickets.models import Ticket, TicketComment
from server.tickets.schemas import (
    TicketCommentCreate,
    TicketCommentOut,
    TicketCreate,
    TicketOut,
    TicketUpdate,
)

__all__ = [
    "add_comment",
    "create_ticket",
    "get_ticket",
    "list_comments",
    "list_tickets",
    "update_ticket",
]

_DONE = frozenset({"resolved", "closed"})


async def list_tickets(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    priority: str | None,
    account_id: str | None,
    opened_by_id: str | None,
    assignee_id: str | None,
    limit: int,
    cursor: str | None,
) -> Page[TicketOut]:
    stmt = scoped_select(principal, Ticket)
    if status:
        stmt = stmt.where(Ticket.status == status)
    if priority:
        stmt = stmt.where(Ticket.priority == priority)
    if account_id:
        stmt = stmt.where(Ticket.account_id == account_id)
    if opened_by_id:
        stmt = stmt.where(Ticket.opened_by_id == opened_by_id)
    if assignee_id:
        stmt = stmt.where(Ticket.assignee_id == assignee_id)
    return await paginate(
        session, stmt, key=Ticket.id, limit=limit, cursor=cursor, out=lambda t: to_out(t, TicketOut)
    )


async def get_ticket(session: AsyncSession, principal: Principal, ticket_id: str) -> Ticket:
    return await get_visible(session, principal, Ticket, ticket_id)


async def _check_assignee(
    session: AsyncSession, principal: Principal, assignee_id: str | None
) -> None:
    if assignee_id is None:
        return
    if principal.api_key_id is not None:
        # An API key sees no users; it may assign any active one.
        user = await session.get(User, assignee_id)
        if user is None or not user.active:
            raise NotFound(f"no user with id {assignee_id}", field="assignee_id")
        return
    await get_visible(session, principal, User, assignee_id, field="assignee_id")


async def create_ticket(session: AsyncSession, principal: Principal, data: TicketCreate) -> Ticket:
    if principal.user_id is None:
        raise Forbidden("tickets are opened by people, not API keys")
    await get_visible(session, principal, Account, data.account_id, field="account_id")
    await _check_assignee(session, principal, data.assignee_id)
    check_create("ticket", data, principal)
    check_initial("ticket", "open", principal)
    fields = msgspec.structs.asdict(data)
    fields.update(
        id=await claim_id(session, Ticket, data.id),
        opened_by_id=principal.user_id,
        status="open",
    )
    ticket = Ticket(**fields)
    session.add(ticket)
    await session.flush()
    return ticket


async def update_ticket(
    session: AsyncSession, principal: Principal, ticket_id: str, patch: TicketUpdate
) -> Ticket:
    ticket = await get_visible(session, principal, Ticket, ticket_id, for_update=True)
    check_patch(ticket, patch, principal)
    if patch.status is not msgspec.UNSET and patch.status != ticket.status:
        check_move("ticket", ticket, patch.status, principal)
    if patch.assignee_id is not msgspec.UNSET:
        await _check_assignee(session, principal, patch.assignee_id)
    apply_patch(ticket, patch, principal)
    if ticket.status in _DONE and ticket.resolved_at is None:
        ticket.resolved_at = utcnow()
    elif ticket.status not in _DONE:
        ticket.resolved_at = None
    await session.flush()
    return ticket


async def list_comments(
    session: AsyncSession, principal: Principal, ticket_id: str, *, limit: int, cursor: str | None
) -> Page[TicketCommentOut]:
    await get_visible(session, principal, Ticket, ticket_id)
    stmt = scoped_select(principal, TicketComment).where(TicketComment.ticket_id == ticket_id)
    return await paginate(
        session,
        stmt,
        key=TicketComment.id,
        limit=limit,
        cursor=cursor,
        out=lambda c: to_out(c, TicketCommentOut),
    )


async def add_comment(
    session: AsyncSession, principal: Principal, ticket_id: str, data: TicketCommentCreate
) -> TicketComment:
    if principal.user_id is None:
        raise Forbidden("comments are written by people, not API keys")
    await get_visible(session, principal, Ticket, ticket_id)
    comment = TicketComment(
        id=await claim_id(session, TicketComment, data.id),
        ticket_id=ticket_id,
        author_id=principal.user_id,
        body=data.body,
    )
    session.add(comment)
    await session.flush()
    return comment
