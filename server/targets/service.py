"""Targets: set, listed and imported in the caller's scope; and held against sales to give
attainment, pace, last year and year on year.

Sales here are the orders a rep has submitted and the back office has not refused: submitted,
accepted, fulfilled and invoiced. A submitted order is a sale the rep made (the back office
answers within a day or two); leaving it out showed a rep with 206 submitted orders at €0."""

from __future__ import annotations

import csv
import io
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import Float, and_, cast, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role, User
from server.auth.principal import Principal
from server.errors import BadRequest, Forbidden, NotFound
from server.forecasting.reports import Scope, resolve_scope
from server.orders.models import Order
from server.org.models import Region, Territory
from server.targets import pace as pacing
from server.targets.calendar import public_holidays
from server.targets.models import Target

__all__ = [
    "COUNTED_STATUSES",
    "MAX_AMOUNT",
    "TARGET_SCOPES",
    "ImportError_",
    "Member",
    "RegionPace",
    "ScopePace",
    "delete_target",
    "import_csv",
    "list_targets",
    "parse_month",
    "region_members",
    "region_pace",
    "set_target",
]

COUNTED_STATUSES = ("submitted", "accepted", "fulfilled", "invoiced")
TARGET_SCOPES = ("rep", "territory", "region")
MAX_AMOUNT = 1e12
"""No monthly quota is a trillion: a larger figure is a typo (or 1e300), refused, not charted."""
_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")


def parse_month(text: str, field: str = "month") -> date:
    """``YYYY-MM`` between 2000 and 2100; anything else is a 400 naming the field."""
    m = _MONTH.match(text or "")
    if not m or not (2000 <= int(m[1]) <= 2100) or not (1 <= int(m[2]) <= 12):
        raise BadRequest(
            f"{field} must be a month as YYYY-MM (2000–2100), not {text!r}", field=field
        )
    return date(int(m[1]), int(m[2]), 1)


def check_amount(amount: float, field: str = "amount") -> float:
    if not math.isfinite(amount) or amount < 0 or amount > MAX_AMOUNT:
        raise BadRequest(f"{field} must be a number from 0 to {MAX_AMOUNT:,.0f}", field=field)
    return float(amount)


def _check_writer(principal: Principal) -> None:
    if principal.role not in (Role.MANAGER, Role.ADMIN):
        raise Forbidden("targets are set by managers and admins")


async def _target_scope(
    session: AsyncSession, principal: Principal, scope_type: str, scope_id: str | None
) -> Scope:
    if scope_type not in TARGET_SCOPES:
        raise BadRequest(f"scope must be one of {', '.join(TARGET_SCOPES)}", field="scope")
    found = await resolve_scope(session, principal, scope_type, scope_id)
    if found.region_id is None:
        raise BadRequest(f"{scope_type} {found.name} belongs to no region", field="scope_id")
    return found


async def set_target(
    session: AsyncSession,
    principal: Principal,
    *,
    scope_type: str,
    scope_id: str | None,
    month: date,
    amount: float,
) -> tuple[Target, bool]:
    """Create or replace the target of a scope and month; True when it was new."""
    _check_writer(principal)
    scope = await _target_scope(session, principal, scope_type, scope_id)
    amount = check_amount(amount)
    existing = (
        await session.execute(
            select(Target).where(
                Target.scope_type == scope.type,
                Target.scope_id == scope.id,
                Target.month == month,
            )
        )
    ).scalar_one_or_none()
    if existing is None:
        existing = Target(
            scope_type=scope.type,
            scope_id=scope.id,
            region_id=scope.region_id,
            month=month,
            amount=amount,
        )
        session.add(existing)
        created = True
    else:
        existing.amount = amount
        created = False
    existing.set_by_id = principal.user_id
    await session.flush()
    return existing, created


async def delete_target(session: AsyncSession, principal: Principal, target_id: str) -> None:
    _check_writer(principal)
    target = await session.get(Target, target_id)
    if target is None or (
        principal.role is Role.MANAGER and target.region_id != principal.region_id
    ):
        raise NotFound(f"no target {target_id}")
    await session.execute(delete(Target).where(Target.id == target_id))


async def list_targets(
    session: AsyncSession,
    principal: Principal,
    *,
    region_id: str | None = None,
    scope_type: str | None = None,
    scope_id: str | None = None,
    month_from: date | None = None,
    month_to: date | None = None,
    limit: int = 500,
) -> list[Target]:
    """Targets the caller may see: a manager their region's, a rep their own, an admin any."""
    query = select(Target)
    if principal.role is Role.MANAGER:
        if region_id is not None and region_id != principal.region_id:
            raise NotFound(f"no region {region_id}")
        query = query.where(Target.region_id == principal.region_id)
    elif principal.role is Role.REP:
        query = query.where(Target.scope_type == "rep", Target.scope_id == principal.user_id)
    elif principal.role is not Role.ADMIN:
        raise Forbidden("targets are for reps, managers and admins")
    if region_id is not None:
        query = query.where(Target.region_id == region_id)
    if scope_type is not None:
        if scope_type not in TARGET_SCOPES:
            raise BadRequest(f"scope must be one of {', '.join(TARGET_SCOPES)}", field="scope")
        query = query.where(Target.scope_type == scope_type)
    if scope_id is not None:
        query = query.where(Target.scope_id == scope_id)
    if month_from is not None:
        query = query.where(Target.month >= month_from)
    if month_to is not None:
        query = query.where(Target.month <= month_to)
    rows = await session.execute(
        query.order_by(Target.month, Target.scope_type, Target.scope_id).limit(limit)
    )
    return list(rows.scalars())


@dataclass(frozen=True)
class ImportError_:
    line: int
    field: str | None
    message: str


_CSV_COLUMNS = ("scope", "scope_id", "month", "amount")


async def import_csv(
    session: AsyncSession, principal: Principal, text: str
) -> tuple[int, int, list[ImportError_]]:
    """A quota file: ``scope,scope_id,month,amount`` per line (scope_id may be a rep's username
    or a territory's or region's code). All or nothing: a file with any bad line changes no
    target, and every bad line is reported (a half-applied quota plan is worse than none).
    Returns (created, updated, errors)."""
    _check_writer(principal)
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return 0, 0, [ImportError_(1, None, "the file is empty: expected a header line")]
    except csv.Error as exc:
        return 0, 0, [ImportError_(1, None, f"unreadable header: {exc}")]
    missing = [c for c in _CSV_COLUMNS if c not in header]
    if missing:
        return (
            0,
            0,
            [
                ImportError_(
                    1,
                    None,
                    f"the header lacks {', '.join(missing)} (needs scope,scope_id,month,amount)",
                )
            ],
        )
    index = {c: header.index(c) for c in _CSV_COLUMNS}
    parsed: list[tuple[int, str, str, date, float]] = []
    errors: list[ImportError_] = []
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                errors.append(
                    ImportError_(line, None, f"expected {len(header)} cells, got {len(row)}")
                )
                continue
            cells = {c: row[i].strip() for c, i in index.items()}
            scope_type = cells["scope"].lower()
            if scope_type not in TARGET_SCOPES:
                errors.append(
                    ImportError_(
                        line,
                        "scope",
                        f"scope must be rep, territory or region, not {cells['scope']!r}",
                    )
                )
                continue
            try:
                month = parse_month(cells["month"])
                amount = check_amount(float(cells["amount"]))
            except BadRequest as exc:
                errors.append(ImportError_(line, exc.field, exc.detail))
                continue
            except ValueError:
                errors.append(
                    ImportError_(
                        line,
                        "amount",
                        f"amount must be a plain number like 125000.50, not {cells['amount']!r}",
                    )
                )
                continue
            parsed.append((line, scope_type, cells["scope_id"], month, amount))
            if len(parsed) > 10_000:
                return 0, 0, [ImportError_(line, None, "at most 10,000 targets per file")]
    except csv.Error as exc:
        errors.append(ImportError_(reader.line_num, None, f"unreadable line: {exc}"))
    ids = await resolve_names(session, {(s, i) for _, s, i, _, _ in parsed})
    resolved: list[tuple[int, str, str, date, float]] = []
    in_scope: dict[tuple[str, str], bool] = {}
    for line, scope_type, key, month, amount in parsed:
        scope_id = ids.get((scope_type, key))
        if scope_id is not None and (scope_type, scope_id) not in in_scope:
            try:
                await _target_scope(session, principal, scope_type, scope_id)
                in_scope[(scope_type, scope_id)] = True
            except (NotFound, BadRequest):
                in_scope[(scope_type, scope_id)] = False
        if scope_id is None or not in_scope[(scope_type, scope_id)]:
            errors.append(ImportError_(line, "scope_id", f"no {scope_type} {key!r} in your region"))
            continue
        resolved.append((line, scope_type, scope_id, month, amount))
    if errors:
        return 0, 0, sorted(errors, key=lambda e: e.line)
    created = updated = 0
    for line, scope_type, scope_id, month, amount in resolved:
        try:
            async with session.begin_nested():
                _, new = await set_target(
                    session,
                    principal,
                    scope_type=scope_type,
                    scope_id=scope_id,
                    month=month,
                    amount=amount,
                )
        except NotFound:
            errors.append(
                ImportError_(line, "scope_id", f"no {scope_type} {scope_id!r} in your region")
            )
            continue
        created += new
        updated += not new
    if errors:
        await session.rollback()
        return 0, 0, errors
    return created, updated, []


async def resolve_names(
    session: AsyncSession, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """A scope_id cell may hold the id itself, a rep's username or a territory's/region's code."""
    out: dict[tuple[str, str], str] = {}
    by_type: dict[str, set[str]] = defaultdict(set)
    for scope_type, key in keys:
        by_type[scope_type].add(key)
    for scope_type, values in by_type.items():
        model: Any
        if scope_type == "rep":
            model, alias = User, User.username
        elif scope_type == "territory":
            model, alias = Territory, Territory.code
        else:
            model, alias = Region, Region.code
        rows = await session.execute(
            select(model.id, alias).where(or_(model.id.in_(values), alias.in_(values)))
        )
        for row_id, name in rows.all():
            for key in (row_id, name):
                if key in values:
                    out[(scope_type, key)] = row_id
    return out


# ---------------------------------------------------------------------------------------------
# Attainment and pace


@dataclass(frozen=True)
class Member:
    id: str
    name: str
    territory_id: str | None


async def region_members(session: AsyncSession, region_id: str) -> list[Member]:
    """The region's reps: in one of its territories, or in the region without a territory."""
    territories = select(Territory.id).where(Territory.region_id == region_id)
    rows = await session.execute(
        select(User.id, User.full_name, User.territory_id)
        .where(
            User.role == Role.REP,
            or_(
                User.territory_id.in_(territories),
                and_(User.territory_id.is_(None), User.region_id == region_id),
            ),
        )
        .order_by(User.full_name)
    )
    return [Member(r.id, r.full_name, r.territory_id) for r in rows.all()]


def _utc_bounds(first: date, last_exclusive: date, tz: tzinfo) -> tuple[datetime, datetime]:
    return (
        datetime.combine(first, time(), tzinfo=tz).astimezone(UTC),
        datetime.combine(last_exclusive, time(), tzinfo=tz).astimezone(UTC),
    )


async def daily_sales(
    session: AsyncSession, rep_ids: Iterable[str], first: date, last_exclusive: date, tz: tzinfo
) -> dict[str, dict[date, float]]:
    """Each rep's counted sales per local day."""
    ids = list(rep_ids)
    out: dict[str, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    if not ids:
        return out
    start, end = _utc_bounds(first, last_exclusive, tz)
    for chunk in range(0, len(ids), 500):
        rows = await session.execute(
            select(Order.rep_id, Order.submitted_at, cast(Order.total, Float)).where(
                Order.rep_id.in_(ids[chunk : chunk + 500]),
                Order.status.in_(COUNTED_STATUSES),
                Order.deleted_at.is_(None),
                Order.submitted_at >= start,
                Order.submitted_at < end,
            )
        )
        for rep_id, at, total in rows.all():
            out[rep_id][at.astimezone(tz).date()] += total or 0.0
    return out


def _add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


@dataclass
class ScopePace:
    scope_type: str
    id: str
    name: str
    pace: pacing.Pace
    target_source: str
    """"set" (its own target), "sum of reps"/"sum of territories", or "none"."""
    last_year: float
    """The same month last year, whole."""
    last_year_to_date: float
    """Last year's month up to the same day and hour."""
    territory_id: str | None = None
    territory: str = ""
    cumulative: list[tuple[date, float, float | None]] = field(default_factory=list)
    """Per day of the month so far: (day, actual to date, expected to date)."""

    @property
    def yoy(self) -> float | None:
        """Sales to date against last year's to the same day: +0.12 is 12 % more."""
        if self.last_year_to_date <= 0:
            return None
        return self.pace.actual / self.last_year_to_date - 1.0


@dataclass
class RegionPace:
    month: date
    now_local: datetime
    timezone: str
    shape: pacing.Shape
    region: ScopePace
    territories: list[ScopePace]
    reps: dict[str, ScopePace]
    months: list[date]
    """Months a manager may pick (13 back to 3 ahead)."""
    holidays: frozenset[date] = frozenset()


async def region_pace(
    session: AsyncSession,
    region_id: str,
    *,
    month: date,
    now: datetime,
    tz: tzinfo,
    tz_name: str,
    holiday_calendar: str = "",
) -> RegionPace:
    """Every figure of one region for one month. The caller has checked the region is theirs
    to see (a rep's own line is picked out of it by the caller)."""
    region_row = await session.get(Region, region_id)
    if region_row is None:
        raise NotFound(f"no region {region_id}")
    region_scope = Scope("region", region_row.id, region_row.name, region_row.id)
    members = await region_members(session, region_scope.id)
    territory_rows = (
        await session.execute(
            select(Territory.id, Territory.name)
            .where(Territory.region_id == region_scope.id)
            .order_by(Territory.name)
        )
    ).all()
    territory_names = dict(territory_rows)
    now_local = now.astimezone(tz)
    ly_month = _add_months(month, -12)
    # One read covers the shape's year, last year's month and this month.
    sales = await daily_sales(session, [m.id for m in members], ly_month, _add_months(month, 1), tz)
    region_daily: dict[date, float] = defaultdict(float)
    for days in sales.values():
        for day, value in days.items():
            region_daily[day] += value
    history = {d: v for d, v in region_daily.items() if d < month}
    if history:
        # Days with no sale inside the learning window count as zero, from its first day.
        history.setdefault(ly_month, 0.0)
        history.setdefault(month - timedelta(days=1), 0.0)
    off = public_holidays(holiday_calendar, range(ly_month.year, month.year + 1))
    shape = pacing.learn_shape(history, off)
    share = pacing.expected_share(month, now_local, shape, off)
    weights = pacing.day_weights(month, shape, off)
    weight_total = sum(weights.values()) or 1.0
    ly_cut = _same_moment_last_year(now_local, month)

    explicit = {
        (t.scope_type, t.scope_id): t.amount
        for t in (
            await session.execute(
                select(Target).where(Target.region_id == region_scope.id, Target.month == month)
            )
        ).scalars()
    }

    def figures(
        scope_type: str,
        scope_id: str,
        name: str,
        rep_ids: list[str],
        target: float | None,
        source: str,
    ) -> ScopePace:
        this: dict[date, float] = defaultdict(float)
        last_year = last_year_to_date = 0.0
        for rid in rep_ids:
            for day, value in sales.get(rid, {}).items():
                if day >= month:
                    this[day] += value
                elif ly_month <= day < _add_months(ly_month, 1):
                    last_year += value
                    if ly_cut is not None and day <= ly_cut:
                        last_year_to_date += value
        actual = sum(this.values())
        result = ScopePace(
            scope_type,
            scope_id,
            name,
            pacing.assess(target, actual, share),
            source,
            last_year,
            last_year if ly_cut is None else last_year_to_date,
        )
        running = expected_running = 0.0
        for day in pacing.month_days(month):
            if day > now_local.date():
                break
            running += this.get(day, 0.0)
            expected_running += weights[day] / weight_total
            result.cumulative.append((day, running, target * expected_running if target else None))
        return result

    reps: dict[str, ScopePace] = {}
    for m in members:
        amount = explicit.get(("rep", m.id))
        sp = figures("rep", m.id, m.name, [m.id], amount, "set" if amount is not None else "none")
        sp.territory_id = m.territory_id
        sp.territory = territory_names.get(m.territory_id or "", "—")
        reps[m.id] = sp
    territories: list[ScopePace] = []
    for tid, tname in territory_rows:
        in_t = [m.id for m in members if m.territory_id == tid]
        amount = explicit.get(("territory", tid))
        source = "set"
        if amount is None:
            parts = [reps[r].pace.target for r in in_t if reps[r].pace.target is not None]
            amount, source = (
                (sum(p or 0.0 for p in parts), "sum of reps") if parts else (None, "none")
            )
        territories.append(figures("territory", tid, tname, in_t, amount, source))
    amount = explicit.get(("region", region_scope.id))
    source = "set"
    if amount is None:
        parts = [t.pace.target for t in territories if t.pace.target is not None]
        loose = [r.pace.target for r in reps.values() if r.territory_id is None and r.pace.target]
        if parts or loose:
            amount = sum(p or 0.0 for p in [*parts, *loose])
            source = "sum of territories" if parts else "sum of reps"
        else:
            source = "none"
    region = figures(
        "region", region_scope.id, region_scope.name, [m.id for m in members], amount, source
    )
    this_month = date(now_local.year, now_local.month, 1)
    return RegionPace(
        month=month,
        now_local=now_local,
        timezone=tz_name,
        shape=shape,
        holidays=off,
        region=region,
        territories=territories,
        reps=reps,
        months=[_add_months(this_month, n) for n in range(3, -14, -1)],
    )


def _same_moment_last_year(now_local: datetime, month: date) -> date | None:
    """The last day of last year's month to count for "to date": the same day of the month as
    today (clamped to the month's length); None when the month is over (count all of it)."""
    if now_local.date() > pacing.month_end(month):
        return None
    if now_local.date() < month:
        return date(month.year - 1, month.month, 1) - timedelta(days=1)
    ly = date(month.year - 1, month.month, 1)
    return ly.replace(day=min(now_local.day, pacing.month_end(ly).day))
