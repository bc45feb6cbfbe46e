"""Order and opportunity history for the seeded test world: known monthly totals per rep, so
forecasts, sums and scores can be checked against numbers written down here."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from server.forecasting.periods import add_periods
from server.opportunities.models import Opportunity
from server.orders.models import Order
from tests.seed import World, run_db

__all__ = ["NOW", "monthly", "seed_history", "seed_opportunities"]

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
"""Forecasts in these tests are made in mid-June 2025: June is the period in progress."""

REPS = ("rep_n1", "rep_n2", "rep_s1", "rep_s2")


def monthly(rep_index: int, month_index: int) -> float:
    """A rep's booked total in month ``month_index`` (0 = the first seeded month): a level per
    rep with a yearly swing and a deterministic wobble, so the series is seasonal, noisy and
    never zero."""
    level = 10_000.0 * (rep_index + 1)
    swing = (0.8, 0.9, 1.1, 1.2, 1.1, 1.0, 0.9, 0.7, 1.0, 1.2, 1.1, 0.9)[month_index % 12]
    wobble = 1.0 + 0.08 * math.sin(7.3 * rep_index + 2.1 * month_index)
    return round(level * swing * wobble, 2)


def seed_history(
    url: str,
    world: World,
    *,
    months: int = 30,
    now: datetime = NOW,
    value: Callable[[int, int], float] = monthly,
    current: float = 0.0,
) -> date:
    """One accepted order per rep per month for ``months`` complete months before ``now``'s
    month (plus ``current`` booked so far in that month). Returns the first seeded month."""
    origin = date(now.year, now.month, 1)
    first = add_periods(origin, -months, "month")

    async def work(session: AsyncSession) -> None:
        for r, username in enumerate(REPS):
            rep_id = world.user(username)
            account_id = world.accounts[username.split("_")[1].upper()][0]
            for m in range(months):
                month = add_periods(first, m, "month")
                session.add(
                    Order(
                        account_id=account_id,
                        rep_id=rep_id,
                        status="invoiced",
                        total=Decimal(str(value(r, m))),
                        submitted_at=datetime(month.year, month.month, 10, 9, tzinfo=UTC),
                    )
                )
            if current:
                session.add(
                    Order(
                        account_id=account_id,
                        rep_id=rep_id,
                        status="accepted",
                        total=Decimal(str(current)),
                        submitted_at=now - timedelta(days=1),
                    )
                )
            # Never counted: not (yet) accepted by the back office.
            session.add(
                Order(
                    account_id=account_id,
                    rep_id=rep_id,
                    status="rejected",
                    total=Decimal("99999"),
                    submitted_at=datetime(first.year, first.month, 12, tzinfo=UTC),
                )
            )

    run_db(url, work)
    return first


def seed_opportunities(
    url: str, world: World, username: str, deals: list[tuple[str, float, date, str | None]]
) -> list[str]:
    """(stage, amount, close date, called category) for one rep."""

    async def work(session: AsyncSession) -> list[str]:
        ids = []
        territory = username.split("_")[1].upper()
        for stage, amount, close, called in deals:
            opp = Opportunity(
                account_id=world.accounts[territory][0],
                owner_id=world.user(username),
                name=f"{stage} deal",
                stage=stage,
                amount=Decimal(str(amount)),
                close_date=close,
                forecast_category=called,
            )
            session.add(opp)
            await session.flush()
            ids.append(opp.id)
        return ids

    return run_db(url, work)


def seed_field_activity(url: str, world: World, username: str, *, now: datetime = NOW) -> None:
    """Checked-in visits (some verified, one flagged far from its account) and a ticket."""
    from server.tickets.models import Ticket
    from server.visits.models import Visit

    territory = username.split("_")[1].upper()

    async def work(session: AsyncSession) -> None:
        for n, account_id in enumerate(world.accounts[territory]):
            for k in range(3):
                flagged = n == 0 and k == 0
                lat_offset = 0.05 if flagged else 0.0005 * (k + 1)
                session.add(
                    Visit(
                        account_id=account_id,
                        rep_id=world.user(username),
                        status="completed",
                        check_in_at=now - timedelta(days=3 * k + n, hours=2),
                        check_in_lat=53.5511 + 0.01 * n + lat_offset,
                        check_in_lon=9.9937 + 0.01 * n + 0.0004 * k,
                        distance_m=5_500.0 if flagged else 60.0 * (k + 1),
                        verified=not flagged,
                        flags=["far_from_account"] if flagged else [],
                    )
                )
        session.add(
            Ticket(
                account_id=world.accounts[territory][0],
                opened_by_id=world.user(username),
                subject="Drill press making noise",
                priority="high",
                status="open",
            )
        )

    run_db(url, work)
