"""Reading what the engine needs from the database: a region's active rules, its reps as plain
profiles, their current load, account owners by company name, the region's local day."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.auth.models import Role, User
from server.catalog.models import Product
from server.leads.engine import RepLoad, RepProfile
from server.leads.models import AssignmentRuleSet, Lead
from server.leads.rules import DEFAULT_RULES, OPEN_STATUSES, AssignmentRules
from server.org.models import Region, Territory

__all__ = [
    "ActiveRules",
    "account_owners",
    "active_rules",
    "day_bounds",
    "known_skill_names",
    "load_profiles",
    "load_reps",
    "local_day",
    "region_zone",
    "rep_loads",
]


@dataclass(frozen=True, slots=True)
class ActiveRules:
    rules: AssignmentRules
    rule_set_id: str | None
    version: int
    """0 for the built-in defaults."""


async def active_rules(session: AsyncSession, region_id: str | None) -> ActiveRules:
    if region_id is None:
        return ActiveRules(DEFAULT_RULES, None, 0)
    row = (
        await session.execute(
            select(AssignmentRuleSet).where(
                AssignmentRuleSet.region_id == region_id, AssignmentRuleSet.active.is_(True)
            )
        )
    ).scalar_one_or_none()
    if row is None:
        return ActiveRules(DEFAULT_RULES, None, 0)
    return ActiveRules(row.parsed(), row.id, row.version)


def _polygon(boundary: Any) -> tuple[tuple[float, float], ...] | None:
    if not isinstance(boundary, list) or len(boundary) < 3:
        return None
    try:
        return tuple((float(p[0]), float(p[1])) for p in boundary)
    except (TypeError, ValueError, IndexError):
        return None


def _profile(user: User, boundary: Any) -> RepProfile:
    return RepProfile(
        id=user.id,
        name=user.full_name,
        region_id=user.region_id,
        active=user.active,
        on_leave_until=user.on_leave_until,
        working_days=frozenset(int(d) for d in (user.working_days or [])),
        home_lat=user.home_lat,
        home_lon=user.home_lon,
        service_radius_km=float(user.service_radius_km),
        territory=_polygon(boundary),
        skills=frozenset(str(s) for s in (user.skills or [])),
        languages=frozenset(str(lang).lower() for lang in (user.languages or [])),
        capacity=int(user.capacity),
        daily_quota=int(user.daily_quota),
        weight=float(user.weight),
    )


async def _profiles(session: AsyncSession, users: Sequence[User]) -> list[RepProfile]:
    territory_ids = {u.territory_id for u in users if u.territory_id}
    boundaries: dict[str, Any] = {}
    if territory_ids:
        rows = await session.execute(
            select(Territory.id, Territory.boundary).where(Territory.id.in_(territory_ids))
        )
        boundaries = {tid: boundary for tid, boundary in rows}
    return [_profile(u, boundaries.get(u.territory_id or "")) for u in users]


async def load_reps(session: AsyncSession, region_id: str | None) -> list[RepProfile]:
    """The reps a lead of ``region_id`` can go to (every rep when the lead has no region)."""
    query = select(User).where(User.role == Role.REP.value)
    if region_id is not None:
        query = query.where(User.region_id == region_id)
    users = (await session.execute(query.order_by(User.id))).scalars().all()
    return await _profiles(session, users)


async def load_profiles(session: AsyncSession, user_ids: Iterable[str]) -> dict[str, RepProfile]:
    """Profiles of the given users that are reps (others cannot be assigned leads)."""
    ids = set(user_ids)
    if not ids:
        return {}
    users = (
        (await session.execute(select(User).where(User.id.in_(ids), User.role == Role.REP.value)))
        .scalars()
        .all()
    )
    return {p.id: p for p in await _profiles(session, users)}


async def rep_loads(
    session: AsyncSession,
    rep_ids: Iterable[str],
    *,
    now: datetime,
    day_start: datetime,
    window_days: int,
) -> dict[str, RepLoad]:
    ids = sorted(set(rep_ids))
    loads = {rid: RepLoad() for rid in ids}
    if not ids:
        return loads
    window_start = now - timedelta(days=window_days)
    query = (
        select(
            Lead.assignee_id,
            func.sum(case((Lead.status.in_(sorted(OPEN_STATUSES)), 1), else_=0)),
            func.sum(case((Lead.assigned_at >= day_start, 1), else_=0)),
            func.sum(case((Lead.assigned_at >= window_start, 1), else_=0)),
        )
        .where(Lead.assignee_id.in_(ids), Lead.deleted_at.is_(None))
        .group_by(Lead.assignee_id)
    )
    for rep_id, open_count, today_count, window_count in await session.execute(query):
        loads[rep_id] = RepLoad(int(open_count or 0), int(today_count or 0), int(window_count or 0))
    return loads


async def account_owners(session: AsyncSession, companies: Iterable[str]) -> dict[str, str]:
    """Company name (case-folded) → the owner of the account of that name. A name shared by
    accounts of different owners is ambiguous and left out."""
    wanted = {c.strip().casefold() for c in companies if c and c.strip()}
    if not wanted:
        return {}
    rows = await session.execute(
        select(Account.name, Account.owner_id).where(
            func.lower(Account.name).in_(sorted({w.lower() for w in wanted})),
            Account.deleted_at.is_(None),
            Account.owner_id.is_not(None),
        )
    )
    owners: dict[str, set[str]] = {}
    for name, owner_id in rows:
        key = name.strip().casefold()
        if key in wanted and owner_id is not None:
            owners.setdefault(key, set()).add(owner_id)
    return {k: next(iter(v)) for k, v in owners.items() if len(v) == 1}


async def region_zone(session: AsyncSession, region_id: str | None) -> tzinfo:
    if region_id is None:
        return UTC
    name = (
        await session.execute(select(Region.timezone).where(Region.id == region_id))
    ).scalar_one_or_none()
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def day_bounds(zone: tzinfo, moment: datetime) -> tuple[date, datetime]:
    """The local day ``moment`` falls on, and when that day began (UTC)."""
    today = moment.astimezone(zone).date()
    return today, datetime.combine(today, time(0), tzinfo=zone).astimezone(UTC)


async def local_day(
    session: AsyncSession, region_id: str | None, now: datetime
) -> tuple[date, datetime]:
    return day_bounds(await region_zone(session, region_id), now)


async def known_skill_names(session: AsyncSession) -> set[str]:
    """Skill names a rule set may mention: the catalogue's product lines and every user's
    skills."""
    names = set((await session.execute(select(Product.product_line).distinct())).scalars().all())
    for skills in (await session.execute(select(User.skills))).scalars():
        names.update(str(s) for s in skills or [])
    return names
