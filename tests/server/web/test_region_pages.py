"""The region pages over the real app: orders (submitted orders counted, the back office's answer
time), visits (coverage, verification, a map drawn from the data) and tickets (age, priority,
SLA breaches), each scoped to the manager's region, filtered by territory, rep and dates, and
answering a filter it cannot use with a message on the page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from server.orders.models import Order, OrderLine
from server.suggestions.models import Suggestion
from server.tickets.models import Ticket
from server.visits.models import Visit
from tests.seed import PASSWORD, World, run_db, seed_world
from tests.stores import Store


def _sign_in(client: TestClient[Litestar], username: str) -> None:
    r = client.post(
        "/manager/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 303, r.text


def _seed(url: str, world: World) -> None:
    now = datetime.now(UTC)

    async def work(session: AsyncSession) -> None:
        def order(username: str, status: str, total: str, days: int, answer_h: float) -> None:
            submitted = now - timedelta(days=days)
            territory = username.split("_")[1].upper()
            session.add(
                Order(
                    account_id=world.accounts[territory][0],
                    rep_id=world.user(username),
                    status=status,
                    total=Decimal(total),
                    submitted_at=submitted,
                    status_changed_at=submitted + timedelta(hours=answer_h),
                )
            )

        order("rep_n1", "submitted", "1000", 2, 0)
        order("rep_n1", "accepted", "500", 5, 4)
        order("rep_n1", "rejected", "300", 5, 10)
        order("rep_n1", "invoiced", "2000", 9, 100)
        order("rep_s1", "accepted", "9999", 3, 1)  # another region
        for username, territory, verified, flags, days in (
            ("rep_n1", "N1", True, [], 1),
            ("rep_n2", "N2", False, ["far_from_account"], 3),
            ("rep_s1", "S1", True, [], 1),
        ):
            session.add(
                Visit(
                    account_id=world.accounts[territory][0],
                    rep_id=world.user(username),
                    status="completed",
                    check_in_at=now - timedelta(days=days),
                    check_in_lat=53.55,
                    check_in_lon=9.99,
                    verified=verified,
                    flags=flags,
                )
            )
        for territory, username, priority, hours, subject in (
            ("N1", "rep_n1", "urgent", 30, "Line stopped"),
            ("N2", "rep_n2", "low", 20, "Leaflets"),
            ("S1", "rep_s1", "urgent", 90, "Southern trouble"),
        ):
            ticket = Ticket(
                account_id=world.accounts[territory][0],
                opened_by_id=world.user(username),
                assignee_id=world.user(username),
                subject=subject,
                priority=priority,
                status="open",
            )
            ticket.created_at = now - timedelta(hours=hours)
            session.add(ticket)

    run_db(url, work)


def _value(page: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}">([^<]*)<', page)
    assert match, testid
    return match.group(1)


def test_the_orders_page_counts_submitted_orders_and_times_the_back_offices_answer(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    _seed(store.url, world)
    _sign_in(client, "mgr_north")
    page = client.get("/manager/orders").text
    assert _value(page, "orders-sold") == "€3,500"  # submitted + accepted + invoiced
    assert _value(page, "orders-submitted") == "1"
    assert _value(page, "orders-statuses") == "1 / 1 / 1"
    assert _value(page, "orders-answer") == "7.0 h"  # median of 4 h and 10 h
    assert "€9,999" not in page  # the South's order
    assert 'class="chart bars wide"' in page and 'class="bar n-submitted"' in page
    assert f'href="/manager/reps/{world.user("rep_n1")}"' in page


def test_the_orders_page_filters_by_rep_and_territory(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    _seed(store.url, world)
    _sign_in(client, "mgr_north")
    by_rep = client.get(f"/manager/orders?rep={world.user('rep_n2')}").text
    assert _value(by_rep, "orders-sold") == "€0"
    by_territory = client.get(f"/manager/orders?territory={world.territories['N1']}").text
    assert _value(by_territory, "orders-sold") == "€3,500"
    old = client.get("/manager/orders?from=2020-01-01&to=2020-03-01").text
    assert _value(old, "orders-sold") == "€0"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("rep=nobody", "That rep is not in this region"),
        ("rep={south_rep}", "That rep is not in this region"),
        ("territory={south_territory}", "That territory is not in this region"),
        ("from=2026-02-30", "is not a date"),
        ("from=1999-01-01", "out of range"),
        ("from=2026-05-01&to=2026-04-01", "from date is after the to date"),
        ("from=2020-01-01&to=2026-01-01", "At most 366 days"),
        ("days=0", "is not a number of days"),
        ("days=many", "is not a number of days"),
    ],
)
def test_a_filter_that_cannot_be_used_is_a_message_on_the_page(
    client: TestClient[Litestar], store: Store, query: str, message: str
) -> None:
    world = seed_world(store.url)
    _sign_in(client, "mgr_north")
    query = query.format(south_rep=world.user("rep_s1"), south_territory=world.territories["S1"])
    for page in ("orders", "visits", "tickets"):
        r = client.get(f"/manager/{page}?{query}")
        assert r.status_code == 200, (page, r.text[-500:])
        assert message in r.text, page
        assert "Southern trouble" not in r.text


def test_the_visits_page_shows_coverage_flags_and_a_map_of_the_region(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    _seed(store.url, world)
    _sign_in(client, "mgr_north")
    page = client.get("/manager/visits").text
    assert _value(page, "visits-count") == "2"  # the South's visit is not counted
    assert _value(page, "visits-stale") == "4"  # of six accounts, two visited in 30 days
    assert _value(page, "visits-coverage") == "33.3%"
    assert _value(page, "visits-flagged") == "1"
    assert 'class="map"' in page and 'class="pt-stale"' in page and 'class="pt-visit"' in page
    assert "far from account" in page
    narrower = client.get("/manager/visits?days=2").text
    assert _value(narrower, "visits-stale") == "5"


def test_the_tickets_page_shows_open_tickets_by_age_and_sla_breaches(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    _seed(store.url, world)
    _sign_in(client, "mgr_north")
    page = client.get("/manager/tickets").text
    assert _value(page, "tickets-open") == "2"
    assert _value(page, "tickets-breaches") == "1"
    breaches = page.split('data-testid="tickets-breach-list"')[1].split("</table>")[0]
    assert "Line stopped" in breaches and "Leaflets" not in breaches
    assert "Southern trouble" not in page
    assert 'class="bar n-urgent"' in page
    only_n2 = client.get(f"/manager/tickets?rep={world.user('rep_n2')}").text
    assert _value(only_n2, "tickets-open") == "1"


def test_an_admin_picks_the_region_of_a_region_page(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    _seed(store.url, world)
    _sign_in(client, "admin")
    page = client.get(f"/manager/tickets?region={world.regions['SOUTH']}").text
    assert "Southern trouble" in page and "Line stopped" not in page
    assert client.get("/manager/tickets?region=nowhere").status_code == 404


def test_a_count_chart_steps_by_whole_numbers(client: TestClient[Litestar], store: Store) -> None:
    """One open ticket: the axis reads 0 and 1, not "0, 0, 1, 1, 1" in quarter steps."""
    world = seed_world(store.url)
    _seed(store.url, world)
    _sign_in(client, "mgr_north")
    page = client.get(f"/manager/tickets?rep={world.user('rep_n2')}").text
    wide = page.split('class="chart bars wide"')[1].split("</svg>")[0]
    ticks = re.findall(r'class="axis-label"[^>]*text-anchor="end">([^<]*)<', wide)
    assert ticks == ["0", "1"]


def test_the_orders_page_shows_how_many_suggestions_reps_took_up_and_what_they_sold(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    now = datetime.now(UTC)

    async def work(session: AsyncSession) -> None:
        offered = [
            Suggestion(
                account_id=world.accounts[territory][0],
                product_id=world.products[n],
                kind="cross_sell",
                rank=n + 1,
                reason="bought by accounts like this one",
                score=0.5,
                computed_at=now,
            )
            for territory in ("N1", "S1")
            for n in range(2)
        ]
        session.add_all(offered)
        await session.flush()
        for username, territory, suggestion, status in (
            ("rep_n1", "N1", offered[0], "accepted"),
            ("rep_n1", "N1", offered[1], "draft"),  # not sold: does not count
            ("rep_s1", "S1", offered[2], "accepted"),  # another region
        ):
            order = Order(
                account_id=world.accounts[territory][0],
                rep_id=world.user(username),
                status=status,
                total=Decimal("300"),
                submitted_at=now - timedelta(days=1),
            )
            session.add(order)
            await session.flush()
            for line_no, suggested in ((1, suggestion.id), (2, None)):
                session.add(
                    OrderLine(
                        order_id=order.id,
                        product_id=world.products[line_no],
                        line_no=line_no,
                        quantity=1,
                        unit_price=Decimal("100") * line_no,
                        line_total=Decimal("100") * line_no,
                        suggestion_id=suggested,
                    )
                )

    run_db(store.url, work)
    _sign_in(client, "mgr_north")
    page = client.get("/manager/orders").text
    assert _value(page, "uptake-counts") == "1 of 2 suggestions"  # the North's two
    assert _value(page, "uptake-rate") == "50.0%"
    assert _value(page, "uptake-revenue") == "€100"  # the suggested line of the sold order
    assert 'class="bar n-suggested"' in page
    south = client.get(f"/manager/orders?territory={world.territories['N2']}").text
    assert _value(south, "uptake-counts") == "0 of 0 suggestions"
    assert _value(south, "uptake-rate") == "–"
    rows = re.findall(r"<tr><td><a [^>]*>([^<]*)</a></td><td class=\"num\">([^<]*)</td>", page)
    assert ("Rep Hamburg", "€100") in rows
