"""Who may see which rows: the one place a ``Principal`` becomes a query filter.

Synced records (accounts, contacts, visits, orders, tickets, leads, opportunities, the
catalogue…) follow their entity's declaration in ``sync.rules`` (``EntityRules.access``),
turned into a WHERE clause by ``server.access.visible_clause`` — the same declaration the sync
push checks writes against and sync scope keys follow, so REST lists what a device receives.
The records that are not synced (users, devices, territories, regions) have their rules here:

    rep        themself, their territory and region, their own devices
    manager    their region, its territories, its users and their devices
    admin      everything

Route guards decide who may call a resource at all. Services ask ``visible(principal, Model)``
for a WHERE clause and ``get_visible`` to load one row, so an id outside the caller's scope is
indistinguishable from an unknown one (404, never 403).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from server.access import visible_clause
from server.auth.models import Device, Role, User
from server.auth.principal import Principal
from server.errors import NotFound
from server.org.models import Region, Territory
from server.sync.entities import syncable_models

__all__ = ["get_visible", "register", "scoped_select", "visible"]

M = TypeVar("M")
Rule = Callable[[Principal], ColumnElement[bool]]


def _region_user_ids(region_id: str | None) -> Any:
    return select(User.id).where(User.region_id == region_id)


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
    User: users,
    Device: devices,
    Territory: territories,
    Region: regions,
}


def _rule(model: type[Any]) -> Rule:
    found = _RULES.get(model)
    if found is None:
        entity = getattr(model, "__sync_entity__", None)
        if entity not in syncable_models():
            raise LookupError(f"no scope rule for {model.__name__}")
        found = _RULES[model] = partial(visible_clause, entity)
    return found


def register(model: type[Any], rule: Rule) -> None:
    """For areas outside this module's list (e.g. leads) that want the same lookup helpers."""
    _RULES[model] = rule


def visible(principal: Principal, model: type[Any]) -> ColumnElement[bool]:
    return _rule(model)(principal)


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
