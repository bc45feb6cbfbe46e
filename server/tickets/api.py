"""``/api/v1/tickets`` and their comments. The back office reads with ``tickets:read`` and
works tickets with ``tickets:write``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, patch, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import principal_of
from server.auth.models import Role
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from server.rest import IdParam, OptionalIdQuery, ResourceController, allows, to_out
from server.tickets import service
from server.tickets.schemas import (
    Priority,
    TicketCommentCreate,
    TicketCommentOut,
    TicketCreate,
    TicketOut,
    TicketStatus,
    TicketUpdate,
)

__all__ = ["TicketController"]

_read = [allows(Role.REP, Role.MANAGER, scopes=("tickets:read", "tickets:write"))]
_work = [allows(Role.REP, Role.MANAGER, scopes=("tickets:write",))]
_people = [allows(Role.REP, Role.MANAGER)]


class TicketController(ResourceController):
    path = "/tickets"
    tags = ("tickets",)

    @get("/", guards=_read, summary="List tickets in scope")
    async def list_tickets(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        status: Annotated[TicketStatus | None, Parameter(required=False)] = None,
        priority: Annotated[Priority | None, Parameter(required=False)] = None,
        account_id: OptionalIdQuery = None,
        opened_by_id: OptionalIdQuery = None,
        assignee_id: OptionalIdQuery = None,
    ) -> Page[TicketOut]:
        return await service.list_tickets(
            db,
            principal_of(request),
            status=status,
            priority=priority,
            account_id=account_id,
            opened_by_id=opened_by_id,
            assignee_id=assignee_id,
            limit=limit,
            cursor=cursor,
        )

    @get("/{ticket_id:str}", guards=_read, summary="One ticket")
    async def get_ticket(
        self, request: Request[Any, Any, Any], db: AsyncSession, ticket_id: IdParam
    ) -> TicketOut:
        return to_out(await service.get_ticket(db, principal_of(request), ticket_id), TicketOut)

    @post("/", guards=[allows(Role.REP)], summary="Open a ticket on an account in scope")
    async def create_ticket(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: TicketCreate
    ) -> TicketOut:
        ticket = await service.create_ticket(db, principal_of(request), data)
        return to_out(ticket, TicketOut)

    @patch("/{ticket_id:str}", guards=_work, summary="Work a ticket: status, priority, assignee")
    async def update_ticket(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ticket_id: IdParam,
        data: TicketUpdate,
    ) -> TicketOut:
        ticket = await service.update_ticket(db, principal_of(request), ticket_id, data)
        return to_out(ticket, TicketOut)

    @get("/{ticket_id:str}/comments", guards=_read, summary="A ticket's comments")
    async def list_comments(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ticket_id: IdParam,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[TicketCommentOut]:
        return await service.list_comments(
            db, principal_of(request), ticket_id, limit=limit, cursor=cursor
        )

    @post("/{ticket_id:str}/comments", guards=_people, summary="Comment on a ticket")
    async def add_comment(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ticket_id: IdParam,
        data: TicketCommentCreate,
    ) -> TicketCommentOut:
        comment = await service.add_comment(db, principal_of(request), ticket_id, data)
        return to_out(comment, TicketCommentOut)
