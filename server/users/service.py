"""Users: who may list and see whom (server.scoping), and the admin's create and update."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.service import record as audit
from server.auth.models import Role, User
from server.auth.passwords import hash_password, hashing
from server.auth.principal import Principal
from server.errors import BadRequest, Conflict, NotFound
from server.org.models import Region, Territory
from server.pagination import Page, paginate
from server.rest import apply_patch, to_out
from server.scoping import get_visible, scoped_select
from server.users.schemas import UserCreate, UserOut, UserUpdate

__all__ = ["create_user", "get_user", "list_users", "placement", "update_user"]


async def list_users(
    session: AsyncSession,
    principal: Principal,
    *,
    role: str | None,
    region_id: str | None,
    territory_id: str | None,
    q: str | None,
    active: bool | None,
    limit: int,
    cursor: str | None,
) -> Page[UserOut]:
    stmt = scoped_select(principal, User)
    if role:
        stmt = stmt.where(User.role == role)
    if region_id:
        stmt = stmt.where(User.region_id == region_id)
    if territory_id:
        stmt = stmt.where(User.territory_id == territory_id)
    if active is not None:
        stmt = stmt.where(User.active.is_(active))
    if q:
        stmt = stmt.where(
            or_(
                User.username.icontains(q, autoescape=True),
                User.full_name.icontains(q, autoescape=True),
            )
        )
    return await paginate(
        session, stmt, key=User.id, limit=limit, cursor=cursor, out=lambda u: to_out(u, UserOut)
    )


async def get_user(session: AsyncSession, principal: Principal, user_id: str) -> User:
    return await get_visible(session, principal, User, user_id)


async def placement(
    session: AsyncSession, *, role: str, region_id: str | None, territory_id: str | None
) -> tuple[str | None, str | None]:
    """The (region, territory) a user of ``role`` sits in: a rep needs a territory (its region
    follows from it), a manager a region; both must exist and agree."""
    if territory_id is not None:
        territory = await session.get(Territory, territory_id)
        if territory is None:
            raise NotFound(f"no territory with id {territory_id}", field="territory_id")
        if region_id is not None and region_id != territory.region_id:
            raise BadRequest(
                f"territory {territory.code} is not in region {region_id}", field="territory_id"
            )
        region_id = territory.region_id
    elif region_id is not None and await session.get(Region, region_id) is None:
        raise NotFound(f"no region with id {region_id}", field="region_id")
    if role == Role.REP and territory_id is None:
        raise BadRequest("a rep needs a territory", field="territory_id")
    if role == Role.MANAGER and region_id is None:
        raise BadRequest("a manager needs a region", field="region_id")
    return region_id, territory_id


async def create_user(
    session: AsyncSession, data: UserCreate, *, actor: Principal | None = None
) -> User:
    if await session.scalar(select(User.id).where(User.username == data.username)):
        raise Conflict(f"username {data.username!r} is taken", field="username")
    region_id, territory_id = await placement(
        session, role=data.role, region_id=data.region_id, territory_id=data.territory_id
    )
    fields: dict[str, Any] = msgspec.structs.asdict(data)
    fields.pop("password")
    fields.update(region_id=region_id, territory_id=territory_id)
    user = User(**fields, password_hash=await hashing(hash_password, data.password))
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(f"username {data.username!r} is taken", field="username") from None
    await audit(
        session,
        "user.created",
        actor=actor,
        target_type="user",
        target_id=user.id,
        region_id=region_id,
        details={"username": user.username, "role": user.role},
    )
    return user


async def update_user(
    session: AsyncSession, principal: Principal, user_id: str, patch: UserUpdate
) -> User:
    user = await get_visible(session, principal, User, user_id)
    role = patch.role if patch.role is not msgspec.UNSET else user.role
    region_id = patch.region_id if patch.region_id is not msgspec.UNSET else user.region_id
    territory_id = (
        patch.territory_id if patch.territory_id is not msgspec.UNSET else user.territory_id
    )
    if patch.territory_id is not msgspec.UNSET and patch.region_id is msgspec.UNSET:
        region_id = None  # follows from the new territory
    region_id, territory_id = await placement(
        session, role=role, region_id=region_id, territory_id=territory_id
    )
    changed = apply_patch(user, patch)
    user.region_id, user.territory_id = region_id, territory_id
    if changed:
        await audit(
            session,
            "user.updated",
            actor=principal,
            target_type="user",
            target_id=user.id,
            region_id=user.region_id,
            details={"fields": sorted(changed)},
        )
    return user
