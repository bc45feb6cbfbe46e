"""Accounts and contacts: listing within scope, creating and editing.

A rep creates accounts in their own territory and edits those of it; a manager edits (and may
move between their territories) the accounts of their region; admins do anything. Every id a
body refers to (territory, owner, account) must be in the caller's scope too, or it is 404.
"""

from __future__ import annotations

import msgspec
from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account, Contact
from server.accounts.schemas import (
    AccountCreate,
    AccountOut,
    AccountUpdate,
    ContactCreate,
    ContactOut,
    ContactUpdate,
)
from server.auth.models import Role, User
from server.auth.principal import Principal
from server.errors import BadRequest
from server.org.models import Territory
from server.pagination import Page, paginate
from server.rest import apply_patch, check_create, check_patch, claim_id, to_out
from server.scoping import get_visible, scoped_select

__all__ = [
    "create_account",
    "create_contact",
    "get_account",
    "get_contact",
    "list_accounts",
    "list_contacts",
    "update_account",
    "update_contact",
]


async def list_accounts(
    session: AsyncSession,
    principal: Principal,
    *,
    territory_id: str | None,
    owner_id: str | None,
    segment: str | None,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> Page[AccountOut]:
    stmt = scoped_select(principal, Account)
    if territory_id:
        stmt = stmt.where(Account.territory_id == territory_id)
    if owner_id:
        stmt = stmt.where(Account.owner_id == owner_id)
    if segment:
        stmt = stmt.where(Account.segment == segment)
    if q:
        stmt = stmt.where(
            or_(
                Account.name.icontains(q, autoescape=True),
                Account.city.icontains(q, autoescape=True),
            )
        )
    return await paginate(
        session,
        stmt,
        key=Account.id,
        limit=limit,
        cursor=cursor,
        out=lambda a: to_out(a, AccountOut),
    )


async def get_account(session: AsyncSession, principal: Principal, account_id: str) -> Account:
    return await get_visible(session, principal, Account, account_id)


async def _check_refs(
    session: AsyncSession, principal: Principal, territory_id: str | None, owner_id: str | None
) -> None:
    if territory_id is not None:
        await get_visible(session, principal, Territory, territory_id, field="territory_id")
    if owner_id is not None:
        await get_visible(session, principal, User, owner_id, field="owner_id")


async def create_account(
    session: AsyncSession, principal: Principal, data: AccountCreate
) -> Account:
    territory_id = data.territory_id
    owner_id = data.owner_id
    if principal.role is Role.REP:
        territory_id = territory_id or principal.territory_id
        owner_id = owner_id or principal.user_id
    await _check_refs(session, principal, territory_id, owner_id)
    check_create(
        "account", data, principal, territory_id=principal.territory_id, owner_id=principal.user_id
    )
    fields = msgspec.structs.asdict(data)
    fields.update(
        id=await claim_id(session, Account, data.id),
        territory_id=territory_id,
        owner_id=owner_id,
    )
    account = Account(**fields)
    session.add(account)
    await session.flush()
    return account


async def update_account(
    session: AsyncSession, principal: Principal, account_id: str, patch: AccountUpdate
) -> Account:
    account = await get_visible(session, principal, Account, account_id, for_update=True)
    check_patch(account, patch, principal)
    territory_id = None if patch.territory_id is msgspec.UNSET else patch.territory_id
    owner_id = None if patch.owner_id is msgspec.UNSET else patch.owner_id
    if patch.territory_id is None and not principal.is_admin:
        raise BadRequest(
            "only an admin may take an account out of every territory", field="territory_id"
        )
    await _check_refs(session, principal, territory_id, owner_id)
    apply_patch(account, patch, principal)
    await session.flush()
    return account


async def list_contacts(
    session: AsyncSession,
    principal: Principal,
    *,
    account_id: str | None,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> Page[ContactOut]:
    stmt = scoped_select(principal, Contact)
    if account_id:
        stmt = stmt.where(Contact.account_id == account_id)
    if q:
        stmt = stmt.where(
            or_(
                Contact.first_name.icontains(q, autoescape=True),
                Contact.last_name.icontains(q, autoescape=True),
                Contact.email.icontains(q, autoescape=True),
            )
        )
    return await paginate(
        session,
        stmt,
        key=Contact.id,
        limit=limit,
        cursor=cursor,
        out=lambda c: to_out(c, ContactOut),
    )


async def get_contact(session: AsyncSession, principal: Principal, contact_id: str) -> Contact:
    return await get_visible(session, principal, Contact, contact_id)


async def create_contact(
    session: AsyncSession, principal: Principal, data: ContactCreate
) -> Contact:
    await get_visible(session, principal, Account, data.account_id, field="account_id")
    fields = msgspec.structs.asdict(data)
    fields["id"] = await claim_id(session, Contact, data.id)
    contact = Contact(**fields)
    session.add(contact)
    await session.flush()
    return contact


async def update_contact(
    session: AsyncSession, principal: Principal, contact_id: str, patch: ContactUpdate
) -> Contact:
    contact = await get_visible(session, principal, Contact, contact_id, for_update=True)
    check_patch(contact, patch, principal)
    if patch.account_id is not msgspec.UNSET:
        await get_visible(session, principal, Account, patch.account_id, field="account_id")
    apply_patch(contact, patch, principal)
    await session.flush()
    return contact
