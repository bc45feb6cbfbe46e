"""What a recompute reads from the database: the sales hierarchy, booked order totals per rep
and period, open and closed opportunities, and the stages open deals have been seen in."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy import Float, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role, User
from server.forecasting.models import COMPANY_ID, StageObservation
from server.forecasting.periods import add_periods, periods_between
from server.forecasting.pipeline import OPEN_STAGES, ClosedOutcome, OpenOpportunity, category_of
from server.opportunities.models import Opportunity
from server.orders.models import Order
from server.org.models import Region, Territory

__all__ = [
    "BOOKED_STATUSES",
    "COMPANY",
    "Hierarchy",
    "Key",
    "Opportunities",
    "Sales",
    "load_hierarchy",
    "load_opportunities",
    "load_sales",
]

Key = tuple[str, str]
"""(scope type, scope id) of a node of the hierarchy."""
COMPANY: Key = ("company", COMPANY_ID)

BOOKED_STATUSES = ("accepted", "fulfilled", "invoiced")
"""An order counts as sold once the back office accepted it (and stays sold afterwards)."""


@dataclass
class Hierarchy:
    parents: dict[Key, Key | None] = field(default_factory=dict)
    names: dict[Key, str] = field(default_factory=dict)
    region_of: dict[Key, str | None] = field(default_factory=dict)

    def add(self, key: Key, parent: Key | None, name: str, region_id: str | None) -> None:
        self.parents[key] = parent
        self.names[key] = name
        self.region_of[key] = region_id

    @property
    def leaves(self) -> list[Key]:
        has_children = {p for p in self.parents.values() if p is not None}
        return [k for k in self.parents if k not in has_children]


async def load_hierarchy(
    session: AsyncSession, extra_user_ids: set[str] | None = None
) -> Hierarchy:
    """Company → regions → territories → reps. A rep sits under their territory, or their region
    when they have none; anyone else who sold (``extra_user_ids``) sits where their own
    territory or region puts them."""
    tree = Hierarchy()
    tree.add(COMPANY, None, "Company", None)
    for region_id, name in (await session.execute(select(Region.id, Region.name))).all():
        tree.add(("region", region_id), COMPANY, name, region_id)
    territory_region: dict[str, str] = {}
    for territory_id, name, region_id in (
        await session.execute(select(Territory.id, Territory.name, Territory.region_id))
    ).all():
        territory_region[territory_id] = region_id
        tree.add(("territory", territory_id), ("region", region_id), name, region_id)
    wanted = extra_user_ids or set()
    users = await session.execute(
        select(User.id, User.full_name, User.role, User.region_id, User.territory_id)
    )
    for user_id, name, role, user_region_id, user_territory_id in users.all():
        if role != Role.REP and user_id not in wanted:
            continue
        rep_region_id: str | None = user_region_id
        if user_territory_id in territory_region:
            rep_region_id = territory_region[user_territory_id]
            parent: Key = ("territory", user_territory_id)
        elif user_region_id is not None and ("region", user_region_id) in tree.parents:
            parent = ("region", user_region_id)
        else:
            parent, rep_region_id = COMPANY, None
        tree.add(("rep", user_id), parent, name, rep_region_id)
    return tree


@dataclass
class Sales:
    """Booked order totals per rep: ``history`` for the complete periods before the origin,
    ``current`` for the origin period and later (closed so far)."""

    origin: date
    start: date
    history: dict[str, np.ndarray]
    current: dict[str, np.ndarray]


def _period_key(column: Any, granularity: str, dialect: str) -> Any:
    """The first day of the UTC month or ISO week of a timestamp column, as 'YYYY-MM-DD' text,
    computed by the database so only one row per rep and period comes back."""
    if dialect == "postgresql":
        utc = func.timezone("UTC", column)
        return func.to_char(func.date_trunc(granularity, utc), "YYYY-MM-DD")
    if granularity == "month":
        return func.strftime("%Y-%m-01", column)
    return func.date(column, "weekday 0", "-6 days")  # the Monday on or before


async def load_sales(
    session: AsyncSession,
    *,
    origins: dict[str, date],
    lengths: dict[str, int],
    horizon: int,
) -> dict[str, Sales]:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    out: dict[str, Sales] = {}
    for granularity, origin in origins.items():
        length = lengths[granularity]
        start = add_periods(origin, -length, granularity)
        key = _period_key(Order.submitted_at, granularity, dialect).label("period")
        rows = await session.execute(
            select(Order.rep_id, key, func.sum(cast(Order.total, Float)))
            .where(
                Order.status.in_(BOOKED_STATUSES),
                Order.submitted_at >= datetime.combine(start, time(), tzinfo=UTC),
                Order.deleted_at.is_(None),
            )
            .group_by(Order.rep_id, key)
        )
        history: dict[str, np.ndarray] = defaultdict(partial(np.zeros, length))
        current: dict[str, np.ndarray] = defaultdict(partial(np.zeros, horizon))
        index_of: dict[str, int] = {}
        for rep_id, period, total in rows.all():
            index = index_of.get(period)
            if index is None:
                index = index_of[period] = periods_between(
                    start, date.fromisoformat(period), granularity
                )
            if 0 <= index < length:
                history[rep_id][index] += total
            elif length <= index < length + horizon:
                current[rep_id][index - length] += total
        out[granularity] = Sales(
            origin=origin, start=start, history=dict(history), current=dict(current)
        )
    return out


@dataclass
class Opportunities:
    open_by_owner: dict[str, list[OpenOpportunity]]
    open_ids: dict[str, str]
    """Open opportunity id → its stage (recorded as a stage observation)."""
    closed_by_owner: dict[str, list[ClosedOutcome]]
    observed: set[tuple[str, str]]
    """(opportunity id, stage) pairs already recorded."""


async def load_opportunities(session: AsyncSession) -> Opportunities:
    open_by_owner: dict[str, list[OpenOpportunity]] = defaultdict(list)
    closed_by_owner: dict[str, list[ClosedOutcome]] = defaultdict(list)
    open_ids: dict[str, str] = {}
    seen: dict[str, set[str]] = defaultdict(set)
    observed: set[tuple[str, str]] = set()
    for opp_id, stage in (
        await session.execute(select(StageObservation.opportunity_id, StageObservation.stage))
    ).all():
        seen[opp_id].add(stage)
        observed.add((opp_id, stage))
    rows = await session.execute(
        select(
            Opportunity.id,
            Opportunity.owner_id,
            Opportunity.stage,
            cast(Opportunity.amount, Float),
            Opportunity.close_date,
            Opportunity.forecast_category,
        ).where(Opportunity.deleted_at.is_(None))
    )
    for opp_id, owner_id, stage, amount, close_date, called in rows.all():
        if stage in OPEN_STAGES:
            open_ids[opp_id] = stage
            open_by_owner[owner_id].append(
                OpenOpportunity(
                    amount=amount,
                    close_date=close_date,
                    stage=stage,
                    category=category_of(stage, called),
                )
            )
        elif stage in ("closed_won", "closed_lost"):
            closed_by_owner[owner_id].append(
                ClosedOutcome(
                    won=stage == "closed_won",
                    stages_seen=frozenset(seen.get(opp_id, ())),
                    amount=amount or 0.0,
                    closed_on=close_date,
                )
            )
    return Opportunities(dict(open_by_owner), open_ids, dict(closed_by_owner), observed)
