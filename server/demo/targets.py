"""The demo's sales targets: every rep gets a quota for each month of the last year and the next
two, set the way a sales team would — last year's same month plus growth — so the cockpit has
attainment, pace and year-on-year to show on the first visit. Regions get a target of their own,
a little above the sum of their reps' (the usual management stretch)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Float, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role, User
from server.orders.models import Order
from server.org.models import Region, Territory
from server.targets.models import Target
from server.targets.service import COUNTED_STATUSES

__all__ = ["GROWTH", "set_demo_targets"]

GROWTH = 1.08
"""This year's quota: last year's month plus 8 %."""
STRETCH = 1.03


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _round_up(value: float, step: float) -> float:
    return math.ceil(value / step) * step


async def set_demo_targets(session: AsyncSession, now: datetime) -> int:
    """Targets for months ``now``-12 … ``now``+2 for every rep and region; returns how many."""
    regions = {r.id: r for r in (await session.execute(select(Region))).scalars()}
    territory_region = dict(
        (await session.execute(select(Territory.id, Territory.region_id))).all()
    )
    reps = (
        await session.execute(
            select(User.id, User.region_id, User.territory_id).where(User.role == Role.REP)
        )
    ).all()
    region_of = {
        r.id: territory_region.get(r.territory_id) or r.region_id
        for r in reps
        if territory_region.get(r.territory_id) or r.region_id
    }
    monthly: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    rows = await session.execute(
        select(Order.rep_id, Order.submitted_at, cast(Order.total, Float)).where(
            Order.status.in_(COUNTED_STATUSES), Order.deleted_at.is_(None)
        )
    )
    for rep_id, at, total in rows.all():
        if at is None or rep_id not in region_of:
            continue
        zone = ZoneInfo(regions[region_of[rep_id]].timezone or "UTC")
        monthly[rep_id][_month_index(at.astimezone(zone).date())] += total or 0.0
    current = _month_index(now.date())
    targets: list[Target] = []
    region_sums: dict[tuple[str, int], float] = defaultdict(float)
    for rep_id, region_id in region_of.items():
        sales = monthly.get(rep_id, {})
        typical = sorted(v for v in sales.values() if v > 0)
        fallback = typical[len(typical) // 2] if typical else 0.0
        for index in range(current - 12, current + 3):
            base = sales.get(index - 12) or fallback
            if base <= 0:
                continue
            amount = _round_up(base * GROWTH, 500)
            targets.append(
                Target(
                    scope_type="rep",
                    scope_id=rep_id,
                    region_id=region_id,
                    month=_month(index),
                    amount=amount,
                )
            )
            region_sums[(region_id, index)] += amount
    for (region_id, index), total in region_sums.items():
        targets.append(
            Target(
                scope_type="region",
                scope_id=region_id,
                region_id=region_id,
                month=_month(index),
                amount=_round_up(total * STRETCH, 5000),
            )
        )
    session.add_all(targets)
    await session.flush()
    return len(targets)
