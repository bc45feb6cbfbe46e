"""What each manager page shows, gathered in scope: the region overview, a rep's drill-down and
sync health. Controllers render these; nothing here knows about HTTP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.auth.models import Device, Role, User
from server.auth.principal import Principal
from server.errors import NotFound
from server.forecasting import reports
from server.forecasting.accuracy import Metrics
from server.forecasting.models import Forecast, ForecastAdjustment
from server.forecasting.pipeline import STAGE_PRIOR, category_of
from server.forecasting.reports import Scope
from server.opportunities.models import Opportunity
from server.orders.models import Order
from server.org.models import Region, Territory
from server.scoping import visible
from server.sync.models import ConflictRecord, DeviceSyncState, QuarantinedMutation
from server.targets import service as targets
from server.targets.pace import PaceStatus, day_weights, month_days
from server.targets.service import RegionPace, ScopePace
from server.tickets.models import Ticket
from server.visits.models import Visit
from server.web.charts import (
    MapPoint,
    PointMap,
    SeriesPoint,
    point_map,
)
from server.web.formatting import Formatter

__all__ = [
    "REP_SORTS",
    "Overview",
    "RepPage",
    "SyncPage",
    "expected_curve",
    "month_days",
    "region_choices",
    "region_overview",
    "rep_page",
    "sync_page",
]

_OPEN_STAGES = tuple(STAGE_PRIOR)


async def region_choices(session: AsyncSession) -> list[tuple[str, str]]:
    rows = await session.execute(select(Region.id, Region.name).order_by(Region.name))
    return [(r.id, r.name) for r in rows.all()]


async def pick_region(session: AsyncSession, principal: Principal, wanted: str | None) -> str:
    """A manager's own region; for an admin the one asked for, or the first."""
    if principal.role is Role.MANAGER:
        if principal.region_id is None:
            raise NotFound("this manager has no region")
        return principal.region_id
    choices = await region_choices(session)
    ids = [c[0] for c in choices]
    if wanted in ids:
        return wanted
    if wanted:
        raise NotFound(f"no region {wanted}")
    if not ids:
        raise NotFound("there are no regions yet")
    return ids[0]


def _latest(history: list[ForecastAdjustment]) -> float | None:
    return history[0].adjusted_value if history else None


def _chart(
    history: list[reports.ChartPoint], forecasts: list[Forecast], adjusted: dict[date, float]
) -> list[SeriesPoint]:
    points = [
        SeriesPoint(p.period_start, actual=p.actual, past_forecast=p.forecast) for p in history
    ]
    points += [
        SeriesPoint(
            f.period_start,
            forecast=f.blend,
            lower=f.lower,
            upper=f.upper,
            adjusted=adjusted.get(f.period_start),
            closed=f.closed or None,
        )
        for f in forecasts
    ]
    return points


def expected_curve(figures: RegionPace, target: float | None) -> list[float] | None:
    """The expected running total for every day of the month, climbing to ``target``."""
    if not target:
        return None
    weights = day_weights(figures.month, figures.shape, figures.holidays)
    total = sum(weights.values()) or 1.0
    running, out = 0.0, []
    for day in month_days(figures.month):
        running += weights[day]
        out.append(target * running / total)
    return out


@dataclass
class RepRow:
    id: str
    name: str
    territory: str
    forecast: Forecast | None
    adjusted: float | None
    attainment: float | None
    accuracy: Metrics | None
    target: ScopePace | None = None


_STATUS_ORDER = {
    PaceStatus.BEHIND: 0,
    PaceStatus.ON_TRACK: 1,
    PaceStatus.AHEAD: 2,
    PaceStatus.NO_TARGET: 3,
}


REP_SORTS: dict[str, Callable[[RepRow], Any]] = {
    "name": lambda r: r.name.lower(),
    "territory": lambda r: (r.territory.lower(), r.name.lower()),
    "target": lambda r: r.target.pace.target if r.target else None,
    "sold": lambda r: r.target.pace.actual if r.target else None,
    "attainment": lambda r: r.target.pace.attainment if r.target else None,
    "pace": lambda r: r.target.pace.pace if r.target else None,
    "status": lambda r: (
        (_STATUS_ORDER[r.target.pace.status], r.target.pace.pace or 0.0) if r.target else (9, 0.0)
    ),
    "yoy": lambda r: r.target.yoy if r.target else None,
    "forecast": lambda r: r.forecast.blend if r.forecast else None,
}
"""The reps table's sortable columns. Default: status, the furthest behind first."""


def sort_reps(rows: list[RepRow], key: str, descending: bool) -> list[RepRow]:
    """Rows without the figure (no target, no forecast) go last whichever way the sort runs."""
    by = REP_SORTS.get(key, REP_SORTS["status"])
    known = [r for r in rows if by(r) is not None]
    unknown = [r for r in rows if by(r) is None]
    return sorted(known, key=by, reverse=descending) + sorted(unknown, key=lambda r: r.name.lower())


@dataclass
class Overview:
    scope: Scope
    regions: list[tuple[str, str]]
    forecasts: list[Forecast]
    adjustments: dict[Any, list[ForecastAdjustment]]
    chart_points: list[SeriesPoint]
    reps: list[RepRow]
    accuracy: reports.AccuracyReport
    history: list[tuple[ForecastAdjustment, str, str]]
    """(adjustment, scope name, who) newest first, for the region and everything in it."""
    users: dict[str, str] = field(default_factory=dict)
    targets: RegionPace | None = None

    @property
    def current(self) -> Forecast | None:
        return self.forecasts[0] if self.forecasts else None

    def adjusted(self, f: Forecast) -> float | None:
        return _latest(
            self.adjustments.get((f.scope_type, f.scope_id, f.granularity, f.period_start), [])
        )


async def region_overview(
    session: AsyncSession,
    principal: Principal,
    region_id: str,
    *,
    month: date,
    now: datetime,
    zone: ZoneInfo,
    sort: str = "status",
    descending: bool = False,
    holidays: str = "",
) -> Overview:
    scope = await reports.resolve_scope(session, principal, "region", region_id)
    pace = await targets.region_pace(
        session,
        scope.id,
        month=month,
        now=now,
        tz=zone,
        tz_name=zone.key,
        holiday_calendar=holidays,
    )
    forecasts = await reports.current_forecasts(session, scope)
    adjustments = await reports.adjustments_for(session, forecasts)
    adjusted = {
        f.period_start: v
        for f in forecasts
        if (
            v := _latest(
                adjustments.get((f.scope_type, f.scope_id, f.granularity, f.period_start), [])
            )
        )
        is not None
    }
    chart_points = _chart(await reports.chart_history(session, scope), forecasts, adjusted)

    territories = dict(
        (
            await session.execute(
                select(Territory.id, Territory.name).where(Territory.region_id == scope.id)
            )
        ).all()
    )
    reps = (
        await session.execute(
            select(User.id, User.full_name, User.territory_id)
            .where(
                User.role == Role.REP,
                or_(
                    User.territory_id.in_(territories),
                    and_(User.territory_id.is_(None), User.region_id == scope.id),
                ),
            )
            .order_by(User.full_name)
        )
    ).all()
    rep_forecasts = await reports.forecasts_for_scopes(session, "rep", [r.id for r in reps])
    current = {rid: rows[0] for rid, rows in rep_forecasts.items() if rows}
    rep_adjustments = await reports.adjustments_for(session, current.values())
    accuracy = await reports.accuracy_report(session, principal, region_id=scope.id)
    rows = []
    for r in reps:
        f = current.get(r.id)
        adj = (
            _latest(
                rep_adjustments.get((f.scope_type, f.scope_id, f.granularity, f.period_start), [])
            )
            if f
            else None
        )
        target = adj if adj is not None else (f.blend if f else None)
        rows.append(
            RepRow(
                id=r.id,
                name=r.full_name,
                territory=territories.get(r.territory_id, "—"),
                forecast=f,
                adjusted=adj,
                attainment=(f.closed / target) if f and target else None,
                accuracy=accuracy.by_rep.get(r.id),
                target=pace.reps.get(r.id),
            )
        )
    rows = sort_reps(rows, sort, descending)

    history_rows = (
        await session.execute(
            select(ForecastAdjustment)
            .where(ForecastAdjustment.region_id == scope.id)
            .order_by(ForecastAdjustment.created_at.desc(), ForecastAdjustment.id.desc())
            .limit(25)
        )
    ).scalars()
    history_list = list(history_rows)
    names = await _user_names(session, {a.user_id for a in history_list} | {r.id for r in reps})
    scope_names = {scope.id: scope.name, **territories, **{r.id: r.full_name for r in reps}}
    history = [
        (a, scope_names.get(a.scope_id, a.scope_type), names.get(a.user_id, "?"))
        for a in history_list
    ]
    return Overview(
        scope=scope,
        regions=await region_choices(session) if principal.role is Role.ADMIN else [],
        forecasts=forecasts,
        adjustments=adjustments,
        chart_points=chart_points,
        reps=rows,
        accuracy=accuracy,
        history=history,
        users=names,
        targets=pace,
    )


async def _user_names(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.full_name).where(User.id.in_(ids)))
    return dict(rows.all())


@dataclass
class OpportunityRow:
    name: str
    account: str
    stage: str
    category: str
    amount: float
    close_date: date
    win_rate: float


@dataclass
class RepPage:
    scope: Scope
    user: User
    territory: str
    forecasts: list[Forecast]
    adjustments: dict[Any, list[ForecastAdjustment]]
    chart_points: list[SeriesPoint]
    opportunities: list[OpportunityRow]
    visits: list[tuple[Visit, str]]
    map: PointMap
    orders: list[tuple[Order, str]]
    tickets: list[tuple[Ticket, str]]
    accuracy: Metrics | None
    users: dict[str, str]
    target: ScopePace | None = None
    targets: RegionPace | None = None

    def adjusted(self, f: Forecast) -> float | None:
        return _latest(
            self.adjustments.get((f.scope_type, f.scope_id, f.granularity, f.period_start), [])
        )


async def rep_page(
    session: AsyncSession,
    principal: Principal,
    rep_id: str,
    *,
    month: date,
    now: datetime,
    zone: ZoneInfo,
    fmt: Formatter,
    holidays: str = "",
) -> RepPage:
    scope = await reports.resolve_scope(session, principal, "rep", rep_id)
    pace = (
        await targets.region_pace(
            session,
            scope.region_id,
            month=month,
            now=now,
            tz=zone,
            tz_name=zone.key,
            holiday_calendar=holidays,
        )
        if scope.region_id
        else None
    )
    user = await session.get(User, rep_id)
    assert user is not None
    territory = await session.get(Territory, user.territory_id) if user.territory_id else None
    forecasts = await reports.current_forecasts(session, scope)
    adjustments = await reports.adjustments_for(session, forecasts)
    # The walrus binds in the function's scope: ``v`` is taken by the visit loop below.
    adjusted = {
        f.period_start: latest
        for f in forecasts
        if (
            latest := _latest(
                adjustments.get((f.scope_type, f.scope_id, f.granularity, f.period_start), [])
            )
        )
        is not None
    }
    chart_points = _chart(await reports.chart_history(session, scope), forecasts, adjusted)
    win_rates = await _region_win_rates(session, scope.region_id)

    account_names: dict[str, str] = {}

    async def names_of(ids: set[str]) -> None:
        missing = ids - set(account_names)
        if missing:
            rows = await session.execute(
                select(Account.id, Account.name).where(Account.id.in_(missing))
            )
            account_names.update(dict(rows.all()))

    opps = list(
        (
            await session.execute(
                select(Opportunity)
                .where(
                    Opportunity.owner_id == rep_id,
                    visible(principal, Opportunity),
                    Opportunity.stage.in_(_OPEN_STAGES),
                    Opportunity.deleted_at.is_(None),
                )
                .order_by(Opportunity.close_date)
                .limit(50)
            )
        ).scalars()
    )
    visits = list(
        (
            await session.execute(
                select(Visit)
                .where(
                    Visit.rep_id == rep_id,
                    visible(principal, Visit),
                    Visit.deleted_at.is_(None),
                    Visit.check_in_at.is_not(None),
                )
                .order_by(Visit.check_in_at.desc())
                .limit(40)
            )
        ).scalars()
    )
    orders = list(
        (
            await session.execute(
                select(Order)
                .where(
                    Order.rep_id == rep_id, visible(principal, Order), Order.deleted_at.is_(None)
                )
                .order_by(Order.submitted_at.desc().nulls_last(), Order.created_at.desc())
                .limit(20)
            )
        ).scalars()
    )
    tickets = list(
        (
            await session.execute(
                select(Ticket)
                .where(
                    or_(Ticket.opened_by_id == rep_id, Ticket.assignee_id == rep_id),
                    visible(principal, Ticket),
                    Ticket.deleted_at.is_(None),
                )
                .order_by(Ticket.created_at.desc())
                .limit(20)
            )
        ).scalars()
    )
    await names_of(
        {o.account_id for o in opps}
        | {v.account_id for v in visits}
        | {o.account_id for o in orders}
        | {t.account_id for t in tickets}
    )
    accounts = {
        a.id: a
        for a in (
            await session.execute(
                select(Account).where(Account.id.in_({v.account_id for v in visits}))
            )
        ).scalars()
    }
    points: list[MapPoint] = []
    for a in accounts.values():
        if a.lat is not None and a.lon is not None:
            points.append(MapPoint(a.lat, a.lon, "account", a.name))
    for v in visits:
        if v.check_in_lat is None or v.check_in_lon is None:
            continue
        kind = "flagged" if v.flags else "verified" if v.verified else "unverified"
        label = f"{account_names.get(v.account_id, '?')} · {fmt.when(v.check_in_at)}"
        if v.distance_m is not None:
            label += f" · {fmt.distance(v.distance_m)} from the account"
        if v.flags:
            label += " · " + ", ".join(v.flags)
        points.append(MapPoint(v.check_in_lat, v.check_in_lon, kind, label))
    accuracy = await reports.accuracy_report(
        session,
        principal,
        region_id=scope.region_id if principal.role is not Role.REP else None,
        rep_ids=[rep_id],
    )
    return RepPage(
        scope=scope,
        user=user,
        territory=territory.name if territory else "—",
        forecasts=forecasts,
        adjustments=adjustments,
        chart_points=chart_points,
        opportunities=[
            OpportunityRow(
                name=o.name,
                account=account_names.get(o.account_id, "?"),
                stage=o.stage,
                category=category_of(o.stage, o.forecast_category),
                amount=float(o.amount),
                close_date=o.close_date,
                win_rate=win_rates.get(o.stage, STAGE_PRIOR.get(o.stage, 0.0)),
            )
            for o in opps
        ],
        visits=[(v, account_names.get(v.account_id, "?")) for v in visits],
        map=point_map(points),
        orders=[(o, account_names.get(o.account_id, "?")) for o in orders],
        tickets=[(t, account_names.get(t.account_id, "?")) for t in tickets],
        accuracy=accuracy.by_rep.get(rep_id),
        users=await _user_names(
            session, {a.user_id for rows in adjustments.values() for a in rows}
        ),
        target=pace.reps.get(rep_id) if pace else None,
        targets=pace,
    )


async def _region_win_rates(session: AsyncSession, region_id: str | None) -> dict[str, float]:
    if region_id is None:
        return {}
    row = (
        await session.execute(
            select(Forecast.components)
            .where(
                Forecast.scope_type == "region",
                Forecast.scope_id == region_id,
                Forecast.granularity == "month",
                Forecast.horizon == 1,
            )
            .order_by(Forecast.origin.desc())
            .limit(1)
        )
    ).scalar()
    stages = (row or {}).get("win_rates", {}).get("stages", {})
    return {stage: float(v["rate"]) for stage, v in stages.items()}


@dataclass
class DeviceRow:
    device_id: str
    device: str
    user: str
    user_id: str
    is_rep: bool
    last_sync: datetime | None
    """The device's last push or pull (its last sign-in when it never synced)."""
    pending: int | None
    """Unsent changes it reported at its last sync; None when it never said."""
    oldest_pending_at: datetime | None
    rejected: int
    offline_s: float | None
    flagged: bool


@dataclass
class OfflineRep:
    id: str
    name: str
    last_sync: datetime | None
    offline_s: float | None
    devices: int


@dataclass
class SyncPage:
    region: Scope | None
    regions: list[tuple[str, str]]
    devices: list[DeviceRow]
    quarantined: list[tuple[QuarantinedMutation, str]]
    conflicts: list[tuple[ConflictRecord, str]]
    offline_reps: list[OfflineRep] = field(default_factory=list)
    threshold_h: int = 48

    @property
    def unsent(self) -> int:
        """Mutations the listed devices said they still held. A push need not say (``pending``
        is optional), so a device may have no count: it adds nothing."""
        return sum(row.pending or 0 for row in self.devices)

    @property
    def rejected(self) -> int:
        return sum(row.rejected for row in self.devices)


_WEB_DEVICE = "manager-web"
"""Browsers signed in to these pages: devices of a kind, but they never sync."""


def _newest(*stamps: datetime | None) -> datetime | None:
    present = [s for s in stamps if s is not None]
    return max(present) if present else None


async def sync_page(
    session: AsyncSession,
    principal: Principal,
    region_id: str | None,
    *,
    now: datetime,
    threshold_h: int,
) -> SyncPage:
    """Every device of a region with its last sync, unsent and refused changes and how long it
    has been offline; the reps offline past ``threshold_h`` (also those whose devices never
    reported anything, or who have none); quarantined mutations and the conflict log (an admin
    may ask for all regions with no ``region_id``)."""
    scope: Scope | None = None
    if principal.role is Role.MANAGER or region_id:
        scope = await reports.resolve_scope(
            session, principal, "region", region_id or principal.region_id
        )
    user_filter: Any = True
    if scope is not None:
        territory_ids = select(Territory.id).where(Territory.region_id == scope.id)
        user_filter = or_(User.region_id == scope.id, User.territory_id.in_(territory_ids))
    users = {
        u.id: u
        for u in (
            await session.execute(
                select(User.id, User.full_name, User.role).where(user_filter, User.active)
            )
        ).all()
    }
    states = {
        st.device_id: st
        for st in (
            await session.execute(
                select(DeviceSyncState).where(DeviceSyncState.user_id.in_(list(users)))
            )
        ).scalars()
    }
    devices = {
        d.id: d
        for d in (
            await session.execute(
                select(Device).where(
                    Device.user_id.in_(list(users)),
                    Device.revoked_at.is_(None),
                    Device.name != _WEB_DEVICE,
                )
            )
        ).scalars()
    }
    threshold_s = threshold_h * 3600
    rows: list[DeviceRow] = []
    for device_id in set(devices) | set(states):
        device, state = devices.get(device_id), states.get(device_id)
        user_id = device.user_id if device else state.user_id if state else ""
        user = users.get(user_id)
        if user is None:
            continue
        last = _newest(state.last_push_at, state.last_pull_at) if state else None
        if last is None and device is not None:
            last = device.last_seen_at
        offline = (now - last).total_seconds() if last else None
        rows.append(
            DeviceRow(
                device_id=device_id,
                device=device.name if device else device_id[:8],
                user=user.full_name,
                user_id=user_id,
                is_rep=user.role == Role.REP,
                last_sync=last,
                pending=state.pending if state else None,
                oldest_pending_at=state.oldest_pending_at if state else None,
                rejected=state.rejected if state else 0,
                offline_s=offline,
                flagged=offline is None or offline > threshold_s,
            )
        )
    # Longest offline first; a device that never synced heads the list.
    rows.sort(key=lambda r: (-(r.offline_s if r.offline_s is not None else float("inf")), r.user))
    by_rep: dict[str, list[DeviceRow]] = {}
    for row in rows:
        by_rep.setdefault(row.user_id, []).append(row)
    offline_reps: list[OfflineRep] = []
    for uid, u in users.items():
        if u.role != Role.REP:
            continue
        own = by_rep.get(uid, [])
        last = _newest(*(r.last_sync for r in own))
        offline = (now - last).total_seconds() if last else None
        if offline is None or offline > threshold_s:
            offline_reps.append(OfflineRep(uid, u.full_name, last, offline, len(own)))
    offline_reps.sort(
        key=lambda r: (-(r.offline_s if r.offline_s is not None else float("inf")), r.name)
    )
    quarantine_q = select(QuarantinedMutation).where(QuarantinedMutation.resolved_at.is_(None))
    conflicts_q = select(ConflictRecord)
    if scope is not None:
        quarantine_q = quarantine_q.where(QuarantinedMutation.region_id == scope.id)
        conflicts_q = conflicts_q.where(ConflictRecord.region_id == scope.id)
    quarantined = list(
        (
            await session.execute(quarantine_q.order_by(QuarantinedMutation.at.desc()).limit(100))
        ).scalars()
    )
    conflicts = list(
        (await session.execute(conflicts_q.order_by(ConflictRecord.at.desc()).limit(100))).scalars()
    )
    names = await _user_names(
        session,
        {q.user_id for q in quarantined} | {c.loser_user_id for c in conflicts if c.loser_user_id},
    )
    return SyncPage(
        region=scope,
        regions=await region_choices(session) if principal.role is Role.ADMIN else [],
        devices=rows[:500],
        quarantined=[(q, names.get(q.user_id, "?")) for q in quarantined],
        conflicts=[(c, names.get(c.loser_user_id or "", "—")) for c in conflicts],
        offline_reps=offline_reps,
        threshold_h=threshold_h,
    )
