"""The region pages' figures: orders, visits and tickets of one region, filtered by territory,
rep and dates, gathered in the caller's scope. Nothing here knows about HTTP; a filter that
cannot be used is dropped with a message for the page, never an error."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import Float, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.auth.principal import Principal
from server.forecasting import reports
from server.forecasting.reports import Scope
from server.orders.models import Order, OrderLine
from server.org.models import Territory
from server.scoping import visible
from server.suggestions import service as suggestions
from server.targets.service import COUNTED_STATUSES, Member, region_members
from server.tickets.models import Ticket
from server.visits.models import Visit
from server.web.charts import MapPoint, PointMap, point_map

__all__ = [
    "AGE_BUCKETS",
    "ORDER_SERIES",
    "TICKET_SLA_HOURS",
    "Filters",
    "OrdersReport",
    "TicketsReport",
    "VisitsReport",
    "orders_report",
    "parse_filters",
    "tickets_report",
    "visits_report",
]

MAX_DAYS = 366
"""The longest period a region page reads at once."""
DEFAULT_WEEKS = 12
TICKET_SLA_HOURS = {"urgent": 8, "high": 24, "normal": 72, "low": 168}
"""How long an open ticket of each priority may wait for its resolution before it breaches."""
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("under 1 day", 1),
    ("1–3 days", 3),
    ("3–7 days", 7),
    ("1–2 weeks", 14),
    ("over 2 weeks", float("inf")),
)
ORDER_SERIES = ("submitted", "accepted", "invoiced", "rejected")
"""The order value chart's stacks: awaiting the back office, accepted (or fulfilled),
invoiced, and refused."""
_OPEN_TICKETS = ("open", "in_progress", "waiting")


@dataclass
class Filters:
    region: Scope
    zone: ZoneInfo
    start: date
    end: date
    """Inclusive, local days."""
    territory_id: str | None = None
    rep_id: str | None = None
    days: int = 30
    territories: list[tuple[str, str]] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    @property
    def rep_ids(self) -> list[str]:
        return [
            m.id
            for m in self.members
            if (self.rep_id is None or m.id == self.rep_id)
            and (self.territory_id is None or m.territory_id == self.territory_id)
        ]

    @property
    def names(self) -> dict[str, str]:
        return {m.id: m.name for m in self.members}

    @property
    def utc_start(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=self.zone).astimezone(UTC)

    @property
    def utc_end(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(), tzinfo=self.zone).astimezone(
            UTC
        )

    @property
    def weeks(self) -> list[date]:
        first = self.start - timedelta(days=self.start.weekday())
        out, day = [], first
        while day <= self.end:
            out.append(day)
            day += timedelta(days=7)
        return out

    def week_of(self, moment: datetime) -> int:
        local = moment.astimezone(self.zone).date()
        return (local - self.weeks[0]).days // 7

    def query(self, **changes: Any) -> str:
        """The page's query string with ``changes`` applied (links keep the other filters)."""
        params = {
            "territory": self.territory_id,
            "rep": self.rep_id,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "days": str(self.days),
            **changes,
        }
        return urlencode({k: v for k, v in params.items() if v})


def _day(text: str | None, label: str, messages: list[str]) -> date | None:
    if not text:
        return None
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        messages.append(f"“{text}” is not a date (YYYY-MM-DD); the {label} date was not used.")
        return None
    if not date(2000, 1, 1) <= value <= date(2100, 12, 31):
        messages.append(f"{text} is out of range (2000–2100); the {label} date was not used.")
        return None
    return value


async def parse_filters(
    session: AsyncSession,
    principal: Principal,
    region_id: str,
    *,
    zone: ZoneInfo,
    now: datetime,
    territory: str | None = None,
    rep: str | None = None,
    start: str | None = None,
    end: str | None = None,
    days: str | None = None,
) -> Filters:
    region = await reports.resolve_scope(session, principal, "region", region_id)
    today = now.astimezone(zone).date()
    messages: list[str] = []
    territories = [
        (r.id, r.name)
        for r in (
            await session.execute(
                select(Territory.id, Territory.name)
                .where(Territory.region_id == region.id)
                .order_by(Territory.name)
            )
        ).all()
    ]
    members = await region_members(session, region.id)
    first = _day(start, "from", messages)
    last = _day(end, "to", messages)
    last = last or today
    first = first or last - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1)
    if first > last:
        messages.append("The from date is after the to date; showing the 12 weeks to the to date.")
        first = last - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1)
    if (last - first).days >= MAX_DAYS:
        messages.append(f"At most {MAX_DAYS} days at once; showing the {MAX_DAYS} to the to date.")
        first = last - timedelta(days=MAX_DAYS - 1)
    territory_id = territory or None
    if territory_id and territory_id not in {t for t, _ in territories}:
        messages.append("That territory is not in this region; showing every territory.")
        territory_id = None
    rep_id = rep or None
    if rep_id and rep_id not in {m.id for m in members}:
        messages.append("That rep is not in this region; showing every rep.")
        rep_id = None
    coverage_days = 30
    if days:
        try:
            coverage_days = int(days)
            if not 1 <= coverage_days <= 365:
                raise ValueError(days)
        except ValueError:
            messages.append(f"“{days}” is not a number of days from 1 to 365; using 30.")
            coverage_days = 30
    return Filters(
        region=region,
        zone=zone,
        start=first,
        end=last,
        territory_id=territory_id,
        rep_id=rep_id,
        days=coverage_days,
        territories=territories,
        members=members,
        messages=messages,
    )


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# Orders ----------------------------------------------------------------------------------------


@dataclass
class RepOrders:
    id: str
    name: str
    counts: Counter[str] = field(default_factory=Counter)
    value: float = 0.0
    """Counted sales: submitted, accepted, fulfilled, invoiced."""
    suggested: float = 0.0
    """Of those, the lines taken from a cross-sell suggestion."""


@dataclass
class Uptake:
    """Cross-sell suggestions in the selection: how many were offered to its accounts in the
    period, how many an order line was taken from, and what those lines sold
    (docs/suggestions.md)."""

    offered: int
    accepted: int
    lines: int
    revenue: float
    by_week: list[float]
    """Line totals of suggested lines, by week of their order's submission."""

    @property
    def rate(self) -> float | None:
        return self.accepted / self.offered if self.offered else None


@dataclass
class OrdersReport:
    filters: Filters
    counts: Counter[str]
    values: dict[str, float]
    by_week: dict[str, list[float]]
    answer_hours: list[float]
    waiting: int
    oldest_waiting: datetime | None
    by_rep: list[RepOrders]
    recent: list[tuple[Order, str, str]]
    uptake: Uptake

    @property
    def suggested_share(self) -> float | None:
        """The share of counted sales that came from suggested lines."""
        return self.uptake.revenue / self.sold if self.sold else None

    @property
    def sold(self) -> float:
        return sum(v for s, v in self.values.items() if s in COUNTED_STATUSES)

    @property
    def answer_median_h(self) -> float | None:
        return statistics.median(self.answer_hours) if self.answer_hours else None

    @property
    def answer_p90_h(self) -> float | None:
        return _percentile(self.answer_hours, 0.9)


def _series(status: str) -> str | None:
    return {
        "submitted": "submitted",
        "accepted": "accepted",
        "fulfilled": "accepted",
        "invoiced": "invoiced",
        "rejected": "rejected",
    }.get(status)


async def orders_report(
    session: AsyncSession, principal: Principal, f: Filters, now: datetime
) -> OrdersReport:
    rep_ids = f.rep_ids
    rows = (
        await session.execute(
            select(
                Order.id,
                Order.rep_id,
                Order.status,
                cast(Order.total, Float),
                Order.submitted_at,
                Order.status_changed_at,
            ).where(
                Order.rep_id.in_(rep_ids),
                visible(principal, Order),
                Order.deleted_at.is_(None),
                Order.submitted_at >= f.utc_start,
                Order.submitted_at < f.utc_end,
            )
        )
    ).all()
    counts: Counter[str] = Counter()
    values: dict[str, float] = defaultdict(float)
    weeks = len(f.weeks)
    by_week = {name: [0.0] * weeks for name in ORDER_SERIES}
    answers: list[float] = []
    by_rep = {rid: RepOrders(rid, f.names.get(rid, "?")) for rid in rep_ids}
    waiting, oldest = 0, None
    for _, rep_id, status, total, submitted, changed in rows:
        total = total or 0.0
        counts[status] += 1
        values[status] += total
        series = _series(status)
        index = f.week_of(submitted)
        if series is not None and 0 <= index < weeks:
            by_week[series][index] += total
        if status in ("accepted", "rejected") and changed is not None and changed >= submitted:
            # The back office's answer: the move out of "submitted" (later moves such as
            # fulfilled and invoiced restamp status_changed_at, so only these two tell it).
            answers.append((changed - submitted).total_seconds() / 3600)
        if status == "submitted":
            waiting += 1
            oldest = submitted if oldest is None or submitted < oldest else oldest
        line = by_rep[rep_id]
        line.counts[status] += 1
        if status in COUNTED_STATUSES:
            line.value += total
    recent_rows = (
        await session.execute(
            select(Order, Account.name)
            .join(Account, Account.id == Order.account_id)
            .where(
                Order.rep_id.in_(rep_ids),
                visible(principal, Order),
                Order.deleted_at.is_(None),
                Order.submitted_at >= f.utc_start,
                Order.submitted_at < f.utc_end,
            )
            .order_by(Order.submitted_at.desc())
            .limit(30)
        )
    ).all()
    uptake = await _uptake(session, principal, f, by_rep)
    return OrdersReport(
        filters=f,
        uptake=uptake,
        counts=counts,
        values=dict(values),
        by_week=by_week,
        answer_hours=answers,
        waiting=waiting,
        oldest_waiting=oldest,
        by_rep=sorted(by_rep.values(), key=lambda r: -r.value),
        recent=[(o, account, f.names.get(o.rep_id, "?")) for o, account in recent_rows],
    )


async def _uptake(
    session: AsyncSession, principal: Principal, f: Filters, by_rep: dict[str, RepOrders]
) -> Uptake:
    """Suggestions offered to the selection's territories in the period, and the counted lines
    of the selected reps' orders that were taken from one (each rep's share added to
    ``by_rep``)."""
    if f.territory_id is not None:
        territories = [f.territory_id]
    elif f.rep_id is not None:
        territories = [m.territory_id for m in f.members if m.id == f.rep_id and m.territory_id]
    else:
        territories = [tid for tid, _ in f.territories]
    made = await suggestions.acceptance(
        session, principal, since=f.utc_start, until=f.utc_end, territory_ids=territories
    )
    lines = (
        await session.execute(
            select(Order.rep_id, Order.submitted_at, cast(OrderLine.line_total, Float))
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                OrderLine.suggestion_id.is_not(None),
                OrderLine.deleted_at.is_(None),
                Order.rep_id.in_(f.rep_ids),
                visible(principal, Order),
                Order.deleted_at.is_(None),
                Order.status.in_(COUNTED_STATUSES),
                Order.submitted_at >= f.utc_start,
                Order.submitted_at < f.utc_end,
            )
        )
    ).all()
    by_week = [0.0] * len(f.weeks)
    revenue = 0.0
    for rep_id, submitted, total in lines:
        total = total or 0.0
        revenue += total
        by_rep[rep_id].suggested += total
        index = f.week_of(submitted)
        if 0 <= index < len(by_week):
            by_week[index] += total
    return Uptake(
        offered=made.offered,
        accepted=made.accepted,
        lines=len(lines),
        revenue=revenue,
        by_week=by_week,
    )


# Visits ----------------------------------------------------------------------------------------


@dataclass
class RepVisits:
    id: str
    name: str
    visits: int = 0
    verified: int = 0
    flagged: int = 0


@dataclass
class VisitsReport:
    filters: Filters
    visits: int
    verification: Counter[str]
    """verified, unverified, flagged."""
    flags: Counter[str]
    by_week: dict[str, list[float]]
    by_rep: list[RepVisits]
    accounts: int
    stale: list[tuple[str, str, str, datetime | None]]
    """Accounts not visited in ``days``: (id, name, city, last visit), longest first, capped."""
    stale_count: int
    map: PointMap

    @property
    def coverage(self) -> float | None:
        return 1 - self.stale_count / self.accounts if self.accounts else None

    @property
    def weeks(self) -> int:
        return max(1, len(self.filters.weeks))


async def visits_report(
    session: AsyncSession, principal: Principal, f: Filters, now: datetime
) -> VisitsReport:
    rep_ids = f.rep_ids
    rows = (
        await session.execute(
            select(
                Visit.rep_id,
                Visit.check_in_at,
                Visit.check_in_lat,
                Visit.check_in_lon,
                Visit.verified,
                Visit.flags,
            ).where(
                Visit.rep_id.in_(rep_ids),
                visible(principal, Visit),
                Visit.deleted_at.is_(None),
                Visit.check_in_at >= f.utc_start,
                Visit.check_in_at < f.utc_end,
            )
        )
    ).all()
    weeks = len(f.weeks)
    by_week = {name: [0.0] * weeks for name in ("verified", "unverified", "flagged")}
    verification: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    by_rep = {rid: RepVisits(rid, f.names.get(rid, "?")) for rid in rep_ids}
    points: list[MapPoint] = []
    for rep_id, at, lat, lon, verified, visit_flags in rows:
        if at is None:
            continue
        kind = "flagged" if visit_flags else "verified" if verified else "unverified"
        verification[kind] += 1
        flags.update(visit_flags or [])
        index = f.week_of(at)
        if 0 <= index < weeks:
            by_week[kind][index] += 1
        line = by_rep[rep_id]
        line.visits += 1
        line.verified += kind == "verified"
        line.flagged += kind == "flagged"
        if lat is not None and lon is not None:
            points.append(MapPoint(lat, lon, "visit", f"{f.names.get(rep_id, '?')}"))

    # Coverage: the scope's accounts and the last check-in at each, at any time.
    account_filter: Any = Account.territory_id.in_(
        [f.territory_id] if f.territory_id else [t for t, _ in f.territories]
    )
    if f.rep_id:
        account_filter = Account.owner_id == f.rep_id
    accounts = (
        await session.execute(
            select(Account.id, Account.name, Account.city, Account.lat, Account.lon).where(
                account_filter, visible(principal, Account), Account.deleted_at.is_(None)
            )
        )
    ).all()
    last_visit = dict(
        (
            await session.execute(
                select(Visit.account_id, func.max(Visit.check_in_at))
                .where(
                    Visit.account_id.in_(select(Account.id).where(account_filter)),
                    Visit.deleted_at.is_(None),
                    Visit.check_in_at.is_not(None),
                )
                .group_by(Visit.account_id)
            )
        ).all()
    )
    cutoff = now - timedelta(days=f.days)
    stale: list[tuple[str, str, str, datetime | None]] = []
    for a in accounts:
        seen = last_visit.get(a.id)
        if seen is None or seen < cutoff:
            stale.append((a.id, a.name, a.city or "", seen))
    stale.sort(key=lambda s: (s[3] is not None, s[3] or now, s[1]))
    stale_ids = {s[0] for s in stale}
    account_points = [
        MapPoint(
            a.lat,
            a.lon,
            "stale" if a.id in stale_ids else "account",
            f"{a.name} ({a.city or ''})",
        )
        for a in accounts
        if a.lat is not None and a.lon is not None
    ]
    return VisitsReport(
        filters=f,
        visits=len(rows),
        verification=verification,
        flags=flags,
        by_week=by_week,
        by_rep=sorted(by_rep.values(), key=lambda r: -r.visits),
        accounts=len(accounts),
        stale=stale[:25],
        stale_count=len(stale),
        map=point_map(account_points + points, width=520, height=420),
    )


# Tickets ---------------------------------------------------------------------------------------


@dataclass
class TicketsReport:
    filters: Filters
    open: int
    by_age: dict[str, list[float]]
    """Priority → open tickets per age bucket."""
    breaches: list[tuple[Ticket, str, str, float]]
    """(ticket, account, assignee, hours over its SLA), worst first."""
    breach_count: int
    opened: int
    resolved: int
    resolve_median_h: float | None


async def tickets_report(
    session: AsyncSession, principal: Principal, f: Filters, now: datetime
) -> TicketsReport:
    rep_ids = f.rep_ids
    territory_ids = [f.territory_id] if f.territory_id else [t for t, _ in f.territories]
    scope: Any = Account.territory_id.in_(territory_ids)
    if f.rep_id:
        scope = or_(Ticket.assignee_id == f.rep_id, Ticket.opened_by_id == f.rep_id)
    elif f.territory_id:
        scope = or_(scope, Ticket.assignee_id.in_(rep_ids))
    base = (
        select(Ticket, Account.name)
        .join(Account, Account.id == Ticket.account_id)
        .where(scope, visible(principal, Ticket), Ticket.deleted_at.is_(None))
    )
    open_rows = (await session.execute(base.where(Ticket.status.in_(_OPEN_TICKETS)))).all()
    priorities = tuple(TICKET_SLA_HOURS)
    by_age = {p: [0.0] * len(AGE_BUCKETS) for p in priorities}
    breaches: list[tuple[Ticket, str, str, float]] = []
    names = f.names
    for ticket, account in open_rows:
        age_h = (now - ticket.created_at).total_seconds() / 3600
        bucket = next(i for i, (_, limit) in enumerate(AGE_BUCKETS) if age_h / 24 < limit)
        priority = ticket.priority if ticket.priority in by_age else "normal"
        by_age[priority][bucket] += 1
        over = age_h - TICKET_SLA_HOURS[priority]
        if over > 0:
            breaches.append((ticket, account, names.get(ticket.assignee_id or "", "—"), over))
    rank = {p: i for i, p in enumerate(priorities)}
    breaches.sort(key=lambda b: (rank.get(b[0].priority, len(rank)), -b[3]))
    period = (
        await session.execute(
            base.where(Ticket.created_at >= f.utc_start, Ticket.created_at < f.utc_end)
        )
    ).all()
    resolved_h = [
        (t.resolved_at - t.created_at).total_seconds() / 3600
        for t, _ in period
        if t.resolved_at is not None
    ]
    return TicketsReport(
        filters=f,
        open=len(open_rows),
        by_age=by_age,
        breaches=breaches[:50],
        breach_count=len(breaches),
        opened=len(period),
        resolved=len(resolved_h),
        resolve_median_h=statistics.median(resolved_h) if resolved_h else None,
    )
