"""``/api/v1/accounts`` and ``/api/v1/contacts``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, patch, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts import service
from server.accounts.schemas import (
    AccountCreate,
    AccountOut,
    AccountUpdate,
    ContactCreate,
    ContactOut,
    ContactUpdate,
)
from server.auth.guards import principal_of
from server.auth.models import Role
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from server.rest import IdParam, OptionalIdQuery, ResourceController, allows, to_out

__all__ = ["AccountController", "ContactController"]

Search = Annotated[str | None, Parameter(required=False, max_length=100, description="text search")]
_create = [allows(Role.REP)]


class AccountController(ResourceController):
    path = "/accounts"
    tags = ("accounts",)
    guards = (allows(Role.REP, Role.MANAGER),)

    @get("/", summary="List accounts in scope")
    async def list_accounts(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        territory_id: OptionalIdQuery = None,
        owner_id: OptionalIdQuery = None,
        segment: Annotated[str | None, Parameter(required=False, max_length=40)] = None,
        q: Search = None,
    ) -> Page[AccountOut]:
        return await service.list_accounts(
            db,
            principal_of(request),
            territory_id=territory_id,
            owner_id=owner_id,
            segment=segment,
            q=q,
            limit=limit,
            cursor=cursor,
        )

    @get("/{account_id:str}", summary="One account")
    async def get_account(
        self, request: Request[Any, Any, Any], db: AsyncSession, account_id: IdParam
    ) -> AccountOut:
        account = await service.get_account(db, principal_of(request), account_id)
        return to_out(account, AccountOut)

    @post("/", guards=_create, summary="Create an account (rep: in their territory)")
    async def create_account(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: AccountCreate
    ) -> AccountOut:
        account = await service.create_account(db, principal_of(request), data)
        return to_out(account, AccountOut)

    @patch("/{account_id:str}", summary="Change an account")
    async def update_account(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        account_id: IdParam,
        data: AccountUpdate,
    ) -> AccountOut:
        account = await service.update_account(db, principal_of(request), account_id, data)
        return to_out(account, AccountOut)


class ContactController(ResourceController):
    path = "/contacts"
    tags = ("accounts",)
    guards = (allows(Role.REP, Role.MANAGER),)

    @get("/", summary="List contacts of accounts in scope")
    async def list_contacts(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        account_id: OptionalIdQuery = None,
        q: Search = None,
    ) -> Page[ContactOut]:
        return await service.list_contacts(
            db, principal_of(request), account_id=account_id, q=q, limit=limit, cursor=cursor
        )

    @get("/{contact_id:str}", summary="One contact")
    async def get_contact(
        self, request: Request[Any, Any, Any], db: AsyncSession, contact_id: IdParam
    ) -> ContactOut:
        contact = await service.get_contact(db, principal_of(request), contact_id)
        return to_out(contact, ContactOut)

    @post("/", guards=_create, summary="Add a contact to an account in scope")
    async def create_contact(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: ContactCreate
    ) -> ContactOut:
        contact = await service.create_contact(db, principal_of(request), data)
        return to_out(contact, ContactOut)

    @patch("/{contact_id:str}", summary="Change a contact")
    async def update_contact(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        contact_id: IdParam,
        data: ContactUpdate,
    ) -> ContactOut:
        contact = await service.update_contact(db, principal_of(request), contact_id, data)
        return to_out(contact, ContactOut)
