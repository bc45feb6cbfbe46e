"""Four years of activity for the demo world: orders with seasonality, growth and rep-to-rep
variation; the opportunity pipeline with its won/lost history; tickets in every state with their
comment threads; completed visits with GPS check-ins and today's planned routes."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate

from server.demo import catalogue
from server.demo.geo import haversine_km, offset
from server.demo.records import Row, stochastic_round, syncable
from server.demo.world import Rep, World
from sync.domain.pricing import LineInput, price_order
from sync.domain.visits import Fix, verify_visit

__all__ = ["SEASONALITY", "build_history"]

HISTORY_MONTHS = 48
"""Four years: the 48 months a monthly forecast fits on, so every model runs on the demo."""
ORDERS_PER_REP_MONTH = 12.0
ANNUAL_GROWTH = 0.09
SEASONALITY = {
    1: 0.85, 2: 0.9, 3: 1.05, 4: 1.0, 5: 1.0, 6: 0.95,
    7: 0.9, 8: 0.65, 9: 1.05, 10: 1.1, 11: 1.25, 12: 1.3,
}  # fmt: skip
"""Month → demand factor: a Q4 peak (year-end budgets) and the August holiday dip."""
OPEN_OPPORTUNITIES_PER_REP = 8.0
CLOSED_OPPORTUNITIES_PER_REP = 24.0
TICKETS_PER_REP = 10.0
VISITS_PER_REP_DAY = 2.5
VISIT_HISTORY_DAYS = 30
MIN_VISIT_MINUTES = 5.0
MAX_TRAVEL_KMH = 130.0
"""The defaults of FIELDLINE_MIN_VISIT_MINUTES and FIELDLINE_MAX_TRAVEL_KMH."""
TICKET_STATES = ("open", "in_progress", "waiting", "resolved", "closed")
_LINE_COUNTS = (1, 2, 3, 4, 5, 6)
_LINE_COUNT_WEIGHTS = tuple(accumulate((20, 25, 22, 15, 10, 8)))
_PRODUCT_LINES = tuple(catalogue.LINES)
_ACCOUNT_WEIGHT = {"key_account": 5.0, "standard": 1.5, "small_business": 0.6}


def build_history(seed: int, scale: float, now: datetime, world: World) -> dict[str, list[Row]]:
    tables: dict[str, list[Row]] = {}
    tables["orders"], tables["order_lines"] = _orders(_rng(seed, "orders"), world, scale, now)
    tables["opportunities"] = _opportunities(_rng(seed, "opportunities"), world, scale, now)
    tables["tickets"], tables["ticket_comments"] = _tickets(
        _rng(seed, "tickets"), world, scale, now
    )
    tables["visits"], tables["visit_notes"] = _visits(_rng(seed, "visits"), world, scale, now)
    return tables


def _rng(seed: int, part: str) -> random.Random:
    return random.Random(f"fieldline-demo:{seed}:{part}")


def _accounts_of(rep: Rep, world: World) -> list[Row]:
    if rep.accounts:
        return rep.accounts
    return next(t.accounts for t in world.territories if t.id == rep.territory_id)


def _month_starts(now: datetime) -> list[date]:
    year, month = now.year, now.month
    starts = []
    for _ in range(HISTORY_MONTHS):
        starts.append(date(year, month, 1))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return starts[::-1]


def _working_moment(
    rng: random.Random, day: date, start_h: float = 7.0, end_h: float = 17.0
) -> datetime:
    # Office hours in Germany, stored in UTC (one hour behind CET is close enough for a demo).
    seconds = rng.uniform(start_h, end_h) * 3600 - 3600
    return datetime.combine(day, time(0), tzinfo=UTC) + timedelta(seconds=seconds)


# Orders ------------------------------------------------------------------------------------


def _orders(
    rng: random.Random, world: World, scale: float, now: datetime
) -> tuple[list[Row], list[Row]]:
    orders: list[Row] = []
    lines: list[Row] = []
    by_line: dict[str, list[Row]] = {}
    for product in world.products:
        by_line.setdefault(product["product_line"], []).append(product)
    months = _month_starts(now)
    erp_seq = 0
    base = rng.random()
    for number, rep in enumerate(world.reps):
        accounts = _accounts_of(rep, world)
        weights = list(accumulate(_ACCOUNT_WEIGHT[a["segment"]] for a in accounts))
        for index, start in enumerate(months):
            # One stream per rep and month: a month's orders do not change with how many months
            # of history come before it.
            rng = random.Random(f"{base}:{number}:{start.isoformat()}")
            growth = 1.0 + ANNUAL_GROWTH * (index - HISTORY_MONTHS + 1) / 12
            expected = ORDERS_PER_REP_MONTH * scale * rep.performance * growth
            expected *= SEASONALITY[start.month] * rng.uniform(0.85, 1.15)
            days = _days_in_month(start, now)
            if start.year == now.year and start.month == now.month:
                expected *= len(days) / _month_length(start)
            for _ in range(stochastic_round(rng, expected)):
                day = rng.choice(days)
                at = min(_working_moment(rng, day), now - timedelta(minutes=rng.uniform(5, 600)))
                account = rng.choices(accounts, cum_weights=weights)[0]
                order, order_lines = _order(rng, world, rep, account, at, now, by_line)
                if order["erp_ref"] is not None:
                    erp_seq += 1
                    order["erp_ref"] = f"SO-{order['submitted_at'].year}-{erp_seq:06d}"
                orders.append(order)
                lines.extend(order_lines)
        # Work in progress on the rep's tablet: a draft started today.
        if rng.random() < 0.5:
            at = now - timedelta(minutes=rng.uniform(5, 240))
            account = rng.choices(accounts, cum_weights=weights)[0]
            order, order_lines = _order(rng, world, rep, account, at, now, by_line, draft=True)
            orders.append(order)
            lines.extend(order_lines)
    return orders, lines


def _days_in_month(start: date, now: datetime) -> list[date]:
    days = []
    day = start
    while day.month == start.month and day <= now.date():
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days or [min(start, now.date())]


def _month_length(start: date) -> int:
    following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return sum(1 for n in range((following - start).days) if (start + timedelta(n)).weekday() < 5)


def _order(
    rng: random.Random,
    world: World,
    rep: Rep,
    account: Row,
    at: datetime,
    now: datetime,
    by_line: dict[str, list[Row]],
    *,
    draft: bool = False,
) -> tuple[Row, list[Row]]:
    key = account["segment"] == "key_account"
    price_list = world.key_list_id if key else world.standard_list_id
    chosen: dict[str, int] = {}
    for _ in range(rng.choices(_LINE_COUNTS, cum_weights=_LINE_COUNT_WEIGHTS)[0]):
        line = rng.choice(rep.skills) if rng.random() < 0.75 else rng.choice(_PRODUCT_LINES)
        product = rng.choice(by_line[line])
        chosen[product["id"]] = _quantity(rng, product["list_price"]) * (2 if key else 1)
    inputs: list[LineInput] = []
    for line_no, (product_id, quantity) in enumerate(chosen.items(), 1):
        discount = Decimal(0)
        if rng.random() < 0.15 or quantity >= 40:
            discount = Decimal(rng.choice((2, 3, 5, 5, 10)))
        inputs.append(LineInput(product_id, quantity, discount, line_no))
    totals = price_order(inputs, world.unit_prices[price_list])
    status, submitted, changed = ("draft", None, None) if draft else _order_status(rng, at, now)
    order = syncable(
        at,
        changed or at,
        account_id=account["id"],
        rep_id=rep.id,
        price_list_id=price_list,
        status=status,
        currency="EUR",
        subtotal=totals.subtotal,
        discount_total=totals.discount_total,
        total=totals.total,
        client_total=None if draft else totals.total,
        repricing=None,
        notes=None,
        submitted_at=submitted,
        status_changed_at=changed,
        status_reason=None,
        erp_ref="pending" if status in ("accepted", "fulfilled", "invoiced") else None,
    )
    lines = [
        syncable(
            at,
            order_id=order["id"],
            product_id=line.product_id,
            line_no=line.line_no,
            quantity=line.quantity,
            unit_price=line.unit_price,
            discount_pct=line.discount_pct,
            line_total=line.line_total,
        )
        for line in totals.lines
    ]
    return order, lines


def _quantity(rng: random.Random, list_price: Decimal) -> int:
    if list_price >= 500:
        return rng.randint(1, 2)
    if list_price >= 100:
        return rng.randint(1, 4)
    if list_price >= 20:
        return rng.randint(2, 12)
    return rng.choice((5, 10, 10, 20, 25, 50))


def _order_status(
    rng: random.Random, at: datetime, now: datetime
) -> tuple[str, datetime, datetime | None]:
    submitted = min(now, at + timedelta(minutes=rng.uniform(1, 20)))
    age_days = (now - at).total_seconds() / 86400
    if age_days < 1:
        status = rng.choices(("submitted", "accepted"), (70, 30))[0]
    elif age_days < 3:
        status = rng.choices(("submitted", "accepted"), (35, 65))[0]
    elif age_days < 14:
        status = rng.choices(("accepted", "fulfilled"), (50, 50))[0]
    elif age_days < 45:
        status = rng.choices(("fulfilled", "invoiced"), (40, 60))[0]
    else:
        status = "invoiced"
    step = {"submitted": 0, "accepted": 1, "fulfilled": 2, "invoiced": 3}[status]
    changed = submitted
    for hours in (rng.uniform(1, 8), rng.uniform(24, 120), rng.uniform(120, 336))[:step]:
        changed += timedelta(hours=hours)
    return status, submitted, min(changed, now) if step else submitted


# Opportunities ---------------------------------------------------------------------------

_OPEN_STAGES = (
    # stage, share, days until the expected close (min, max)
    ("prospecting", 30, (60, 180)),
    ("qualification", 25, (45, 150)),
    ("proposal", 25, (20, 90)),
    ("negotiation", 20, (5, 45)),
)
_DEALS = (
    "tool fleet renewal",
    "annual supply agreement",
    "workshop fit-out",
    "safety equipment rollout",
    "framework contract",
    "new site equipment",
    "consumables subscription",
)


def _opportunities(rng: random.Random, world: World, scale: float, now: datetime) -> list[Row]:
    rows: list[Row] = []
    today = now.date()
    for rep in world.reps:
        accounts = _accounts_of(rep, world)

        for _ in range(stochastic_round(rng, OPEN_OPPORTUNITIES_PER_REP * max(scale, 0.25))):
            stage, _, (low, high) = rng.choices(_OPEN_STAGES, [s[1] for s in _OPEN_STAGES])[0]
            row = _deal(
                rng,
                rep,
                rng.choice(accounts),
                stage,
                today + timedelta(days=rng.randint(low, high)),
                now - timedelta(days=rng.uniform(3, 120)),
            )
            if stage == "negotiation" and rng.random() < 0.5:
                row["forecast_category"] = "commit"
            elif stage == "proposal" and rng.random() < 0.3:
                row["forecast_category"] = "best_case"
            rows.append(row)
        for _ in range(stochastic_round(rng, CLOSED_OPPORTUNITIES_PER_REP * max(scale, 0.25))):
            close = today - timedelta(days=rng.randint(3, 540))
            created = datetime.combine(close, time(9), tzinfo=UTC) - timedelta(
                days=rng.uniform(20, 150)
            )
            row = _deal(rng, rep, rng.choice(accounts), "closed_won", close, created)
            size = 1.15 if row["amount"] < 10000 else 0.8 if row["amount"] > 50000 else 1.0
            if rng.random() >= rep.win_rate * size:
                row["stage"] = "closed_lost"
            closed_at = datetime.combine(close, time(14), tzinfo=UTC) + timedelta(
                minutes=rng.uniform(0, 180)
            )
            row.update(closed_at=closed_at, updated_at=closed_at)
            rows.append(row)
    return rows


def _deal(
    rng: random.Random, rep: Rep, account: Row, stage: str, close: date, created: datetime
) -> Row:
    amount = math.exp(rng.gauss(math.log(12000), 0.8))
    if account["segment"] == "key_account":
        amount *= 3
    amount = min(max(amount, 1500), 250000)
    line = catalogue.NAMES[rng.choice(rep.skills)]
    return syncable(
        created,
        account_id=account["id"],
        owner_id=rep.id,
        name=f"{account['name'].split(' ')[0]} – {line} {rng.choice(_DEALS)}",
        stage=stage,
        amount=Decimal(round(amount, -2)),
        close_date=close,
        forecast_category=None,
        closed_at=None,
    )


# Tickets -----------------------------------------------------------------------------------

_TICKET_KINDS = (
    ("service", "Repair request: {product}"),
    ("service", "{product} stopped working"),
    ("warranty", "Warranty claim for {product}"),
    ("complaint", "Late delivery of last order"),
    ("complaint", "Wrong quantity delivered"),
    ("installation", "Help needed setting up {product}"),
    ("billing", "Question about invoice"),
)
_COMMENTS = (
    "Called the customer, waiting for photos of the damage.",
    "Spare part ordered from the warehouse.",
    "Customer confirmed the issue is reproducible.",
    "Technician visit scheduled for next week.",
    "Replacement shipped, tracking number sent by email.",
    "Credit note requested from accounting.",
    "Customer is happy with the solution.",
    "Asked the customer for the delivery note number.",
)


def _tickets(
    rng: random.Random, world: World, scale: float, now: datetime
) -> tuple[list[Row], list[Row]]:
    tickets: list[Row] = []
    comments: list[Row] = []
    state_cycle = iter(TICKET_STATES * 2)
    for rep in world.reps:
        accounts = _accounts_of(rep, world)
        for _ in range(stochastic_round(rng, TICKETS_PER_REP * max(scale, 0.1))):
            # The first tickets walk through every state, whatever the scale.
            status = next(state_cycle, None) or rng.choices(TICKET_STATES, (20, 20, 15, 20, 25))[0]
            age = (
                rng.uniform(0.2, 20)
                if status in ("open", "in_progress", "waiting")
                else (rng.uniform(5, 200))
            )
            created = now - timedelta(days=age)
            category, subject = rng.choice(_TICKET_KINDS)
            product = rng.choice(world.products)["name"]
            resolved = (
                min(now, created + timedelta(days=rng.uniform(0.5, 4)))
                if status in ("resolved", "closed")
                else None
            )
            ticket = syncable(
                created,
                resolved or created,
                account_id=rng.choice(accounts)["id"],
                opened_by_id=rep.id,
                assignee_id=world.backoffice_id if category == "billing" else rep.id,
                subject=subject.format(product=product),
                description=f"Reported by the customer during a visit. Product: {product}.",
                category=category,
                priority=rng.choices(("low", "normal", "high", "urgent"), (20, 55, 20, 5))[0],
                status=status,
                resolved_at=resolved,
            )
            tickets.append(ticket)
            count = rng.randint(0, 3) + (1 if status != "open" else 0)
            moment = created
            for _ in range(count):
                moment = min(now, moment + timedelta(hours=rng.uniform(1, 30)))
                author = rep.id if rng.random() < 0.6 else world.backoffice_id
                comments.append(
                    syncable(
                        moment, ticket_id=ticket["id"], author_id=author, body=rng.choice(_COMMENTS)
                    )
                )
    return tickets, comments


# Visits --------------------------------------------------------------------------------------

_OUTCOMES = ("order_taken", "follow_up", "demo_given", "no_decision", "not_available")
_PURPOSES = (
    "Quarterly review",
    "Product demo",
    "Order follow-up",
    "New catalogue",
    "Service check",
)
_VISIT_NOTES = (
    "Interested in the new cordless range, send a quote.",
    "Stock of consumables runs low; reorder expected next month.",
    "Decision maker on holiday until the end of the month.",
    "Competitor offered 5 % below our price on fasteners.",
    "Showed the safety catalogue; samples requested.",
)


def _visits(
    rng: random.Random, world: World, scale: float, now: datetime
) -> tuple[list[Row], list[Row]]:
    visits: list[Row] = []
    notes: list[Row] = []
    today = now.date()
    for rep in world.reps:
        accounts = _accounts_of(rep, world)
        for back in range(VISIT_HISTORY_DAYS, 0, -1):
            day = today - timedelta(days=back)
            if day.weekday() >= 5:
                continue
            count = stochastic_round(rng, VISITS_PER_REP_DAY * scale * rng.uniform(0.5, 1.5))
            previous: Fix | None = None
            for position, account in enumerate(rng.sample(accounts, min(count, len(accounts))), 1):
                visit, fix = _past_visit(rng, rep, account, day, position, previous, notes)
                visits.append(visit)
                previous = fix or previous
        # Today's route: the nearest accounts to home, in nearest-neighbour order.
        nearest = sorted(accounts, key=_distance_from(rep.home))[:12]
        stops = rng.sample(nearest, min(rng.randint(4, 6), len(nearest)))
        position_at = rep.home
        for position in range(1, len(stops) + 1):
            stop = min(stops, key=_distance_from(position_at))
            stops.remove(stop)
            position_at = (stop["lat"], stop["lon"])
            visits.append(
                syncable(
                    now - timedelta(days=rng.uniform(1, 5)),
                    account_id=stop["id"],
                    rep_id=rep.id,
                    status="planned",
                    planned_for=today,
                    route_position=position,
                    purpose=rng.choice(_PURPOSES),
                )
            )
    return visits, notes


def _distance_from(point: tuple[float, float]) -> Callable[[Row], float]:
    return lambda account: haversine_km(point[0], point[1], account["lat"], account["lon"])


def _past_visit(
    rng: random.Random,
    rep: Rep,
    account: Row,
    day: date,
    position: int,
    previous: Fix | None,
    notes: list[Row],
) -> tuple[Row, Fix | None]:
    planned_at = datetime.combine(day, time(6), tzinfo=UTC) - timedelta(days=rng.uniform(1, 7))
    if rng.random() < 0.05:
        cancelled = syncable(
            planned_at,
            account_id=account["id"],
            rep_id=rep.id,
            status="cancelled",
            planned_for=day,
            route_position=position,
            purpose=rng.choice(_PURPOSES),
        )
        return cancelled, None
    check_in = _working_moment(rng, day, 8.0 + 1.8 * (position - 1), 9.5 + 1.8 * (position - 1))
    duration = timedelta(minutes=rng.uniform(15, 90))
    # Most fixes land at the customer's door; a few are far off (a check-in from the car park
    # down the road, or from somewhere else entirely) and come out unverified.
    metres = rng.uniform(5, 120) if rng.random() < 0.95 else rng.uniform(300, 3000)
    bearing = rng.uniform(0, 2 * math.pi)
    lat, lon = offset(
        account["lat"],
        account["lon"],
        metres / 1000 * math.cos(bearing),
        metres / 1000 * math.sin(bearing),
    )
    fix = Fix(round(lat, 6), round(lon, 6), round(rng.uniform(4, 30), 1), check_in)
    # Verified exactly as the server verifies a pushed check-in.
    verdict = verify_visit(
        check_in=fix,
        account_lat=account["lat"],
        account_lon=account["lon"],
        radius_m=account["visit_radius_m"],
        check_out_at=check_in + duration,
        previous_check_in=previous,
        overlapping=False,
        min_minutes=MIN_VISIT_MINUTES,
        max_speed_kmh=MAX_TRAVEL_KMH,
    )
    visit = syncable(
        planned_at,
        check_in + duration,
        account_id=account["id"],
        rep_id=rep.id,
        status="completed",
        planned_for=day,
        route_position=position,
        purpose=rng.choice(_PURPOSES),
        check_in_at=check_in,
        check_in_lat=fix.lat,
        check_in_lon=fix.lon,
        check_in_accuracy_m=fix.accuracy_m,
        check_out_at=check_in + duration,
        outcome=rng.choice(_OUTCOMES),
        notes=None,
        duration_s=int(duration.total_seconds()),
        distance_m=verdict.distance_m,
        verified=verdict.verified,
        verification_score=verdict.score,
        flags=list(verdict.flags),
    )
    if rng.random() < 0.3:
        notes.append(
            syncable(
                check_in + duration / 2,
                visit_id=visit["id"],
                author_id=rep.id,
                body=rng.choice(_VISIT_NOTES),
            )
        )
    return visit, fix
