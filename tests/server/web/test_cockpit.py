"""The manager's cockpit over the real app: targets, pace and last year on the overview and rep
pages, the sortable reps table, the viewer's locale and time zone, and forms and filters that
answer bad input with a message on the page, never a 500."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.forecasting.models import ForecastAdjustment
from server.orders.models import Order
from server.org.models import Region
from server.targets.models import Target
from tests.seed import PASSWORD, World, run_db
from tests.server.forecasting.world import forecast_world
from tests.stores import Store


def _sign_in(client: TestClient[Litestar], username: str) -> None:
    r = client.post(
        "/manager/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 303, r.text


def _this_month() -> date:
    now = datetime.now(UTC)
    return date(now.year, now.month, 1)


def _seed_month(url: str, world: World) -> None:
    """This month: rep_n1 has a 10,000 target and sold nothing yet (behind once any working
    time has passed); rep_n2 has a 1,000 target and has already sold 2,000 (ahead), partly in
    orders the back office has not answered yet."""
    month = _this_month()
    start = datetime(month.year, month.month, 1, 0, 0, 1, tzinfo=UTC)

    async def work(session: AsyncSession) -> None:
        region = world.regions["NORTH"]
        for username, amount in (("rep_n1", 10_000.0), ("rep_n2", 1_000.0)):
            session.add(
                Target(
                    scope_type="rep",
                    scope_id=world.user(username),
                    region_id=region,
                    month=month,
                    amount=amount,
                )
            )
        for status in ("submitted", "accepted"):
            session.add(
                Order(
                    account_id=world.accounts["N2"][0],
                    rep_id=world.user("rep_n2"),
                    status=status,
                    total=Decimal("1000"),
                    submitted_at=start,
                )
            )

    run_db(url, work)


def _rep_order(page: str) -> list[str]:
    return re.findall(r'<tr data-rep="([^"]+)"', page)


def test_the_overview_shows_the_regions_target_pace_and_last_year(
    client: TestClient[Litestar], store: Store
) -> None:
    world = forecast_world(store.url)
    _seed_month(store.url, world)
    _sign_in(client, "mgr_north")
    page = client.get("/manager").text
    assert 'data-testid="region-target">€11,000<' in page  # the sum of its reps' targets
    assert 'data-testid="region-sold">€2,000<' in page  # submitted orders count
    assert 'data-testid="region-pace"' in page and 'data-testid="region-yoy"' in page
    assert 'class="chart pace wide"' in page and 'class="chart pace narrow"' in page
    assert 'data-testid="territories"' in page


def test_the_reps_table_puts_the_furthest_behind_first_and_sorts_by_any_column(
    client: TestClient[Litestar], store: Store
) -> None:
    world = forecast_world(store.url)
    _seed_month(store.url, world)
    _sign_in(client, "mgr_north")
    page = client.get("/manager").text
    rows = re.findall(r'<tr data-rep="([^"]+)" data-status="([^"]+)"', page)
    assert rows[0][0] == "Rep Hamburg"
    assert dict(rows)["Rep Bremen"] == "ahead"
    assert dict(rows)["Rep Hamburg"] in ("behind", "on track")  # on track only at 00:00 on day 1
    by_sold = _rep_order(client.get("/manager?sort=sold&order=desc").text)
    assert by_sold == ["Rep Bremen", "Rep Hamburg"]
    by_name = _rep_order(client.get("/manager?sort=name&order=asc").text)
    assert by_name == ["Rep Bremen", "Rep Hamburg"]
    assert 'aria-sort="ascending"' in client.get("/manager?sort=name").text


def test_the_rep_page_shows_the_reps_target_and_pace(
    client: TestClient[Litestar], store: Store
) -> None:
    world = forecast_world(store.url)
    _seed_month(store.url, world)
    _sign_in(client, "mgr_north")
    page = client.get(f"/manager/reps/{world.user('rep_n2')}").text
    assert 'data-testid="rep-target">€1,000<' in page
    assert 'data-testid="rep-sold">€2,000<' in page
    assert 'data-status="ahead"' in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("month=2025-13", "is not a month"),
        ("month=1999-01", "is not a month"),
        ("month=%27;drop", "is not a month"),
        ("sort=salary", "cannot be sorted by"),
    ],
)
def test_a_bad_filter_is_a_message_on_the_page_not_an_error(
    client: TestClient[Litestar], store: Store, query: str, message: str
) -> None:
    forecast_world(store.url)
    _sign_in(client, "mgr_north")
    r = client.get(f"/manager?{query}")
    assert r.status_code == 200
    assert message in r.text and 'data-testid="notice"' in r.text


def test_a_past_month_can_be_chosen(client: TestClient[Litestar], store: Store) -> None:
    forecast_world(store.url)
    _sign_in(client, "mgr_north")
    page = client.get("/manager?month=2025-05").text
    assert "May 2025" in page
    # The seeded history books one order per rep per month: May 2025 has sales to show.
    assert 'data-testid="region-sold">€0<' not in page


def _german(client: TestClient[Litestar]) -> None:
    r = client.get("/manager/locale?to=de-DE&next=/manager", follow_redirects=False)
    assert r.status_code in (302, 303)
    assert "fieldline_locale=de-DE" in r.headers["set-cookie"]


def test_a_german_page_writes_numbers_money_and_months_the_german_way(
    client: TestClient[Litestar], store: Store
) -> None:
    world = forecast_world(store.url)
    _seed_month(store.url, world)
    _sign_in(client, "mgr_north")
    _german(client)
    page = client.get("/manager").text
    assert 'data-testid="region-target">11.000\xa0€<' in page
    assert '<html lang="de">' in page
    assert "Juni 2025" in page or "Jun. 2025" in page or "Juli 2025" in page


def test_the_time_zone_setting_decides_the_pages_clock(
    client: TestClient[Litestar], app: Litestar, store: Store
) -> None:
    world = forecast_world(store.url)

    async def berlin(session: AsyncSession) -> None:
        region = await session.get(Region, world.regions["NORTH"])
        assert region is not None
        region.timezone = "Europe/Berlin"

    run_db(store.url, berlin)
    _sign_in(client, "mgr_north")
    assert "times in Europe/Berlin" in client.get("/manager").text
    app.state.settings = app.state.settings.replace(timezone="America/New_York")
    assert "times in America/New_York" in client.get("/manager").text


def _adjust(client: TestClient[Litestar], value: str) -> str:
    page = client.get("/manager").text
    forecast_id = re.findall(r'<option value="([0-9a-f-]{36})"', page)[0]
    r = client.post(
        "/manager/forecasts/adjust",
        data={"forecast_id": forecast_id, "value": value, "back": "/manager", "reason": "Fair"},
        follow_redirects=False,
    )
    return str(r.headers["location"])


def _adjusted_values(url: str) -> list[float]:
    async def read(session: AsyncSession) -> list[float]:
        rows = await session.execute(
            select(ForecastAdjustment.adjusted_value).order_by(ForecastAdjustment.created_at)
        )
        return list(rows.scalars())

    return run_db(url, read)


def test_a_german_adjustment_is_read_the_german_way(
    client: TestClient[Litestar], store: Store
) -> None:
    forecast_world(store.url)
    _sign_in(client, "mgr_north")
    _german(client)
    assert _adjust(client, "125.000") == "/manager?saved=1"
    assert _adjust(client, "1.234,56") == "/manager?saved=1"
    assert _adjusted_values(store.url) == [125_000.0, 1_234.56]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1e300", "not a plausible amount"),
        ("lots", "is not a number"),
        ("12.34.5", "is not a number"),
        ("-5", "cannot be negative"),
        ("", "Enter an amount"),
    ],
)
def test_an_implausible_or_malformed_adjustment_is_refused_with_a_clear_message(
    client: TestClient[Litestar], store: Store, value: str, message: str
) -> None:
    forecast_world(store.url)
    _sign_in(client, "mgr_north")
    _german(client)
    location = _adjust(client, value)
    assert "error=" in location
    page = client.get(location).text
    assert message in page
    assert _adjusted_values(store.url) == []


def test_an_unknown_language_is_a_message_not_an_error(
    client: TestClient[Litestar], store: Store
) -> None:
    forecast_world(store.url)
    _sign_in(client, "mgr_north")
    r = client.get("/manager/locale?to=xx&next=/manager")
    assert r.status_code == 200
    assert "No language" in r.text


def _stored_targets(url: str) -> list[tuple[str, float]]:
    async def read(session: AsyncSession) -> list[tuple[str, float]]:
        rows = await session.execute(select(Target.scope_type, Target.amount))
        return [(kind, amount) for kind, amount in rows.all()]

    return run_db(url, read)


def test_a_manager_sets_a_target_on_the_page_in_their_own_locale(
    client: TestClient[Litestar], store: Store
) -> None:
    world = forecast_world(store.url)
    _sign_in(client, "mgr_north")
    _german(client)
    month = f"{_this_month():%Y-%m}"
    r = client.post(
        "/manager/targets",
        data={
            "scope": f"rep:{world.user('rep_n1')}",
            "month": month,
            "amount": "12.500",
            "back": "/manager",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/manager?target_saved=1"
    assert _stored_targets(store.url) == [("rep", 12_500.0)]
    page = client.get(f"/manager/reps/{world.user('rep_n1')}").text
    assert 'data-testid="rep-target">12.500\xa0€<' in page


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scope": "rep:{south}"}, "not in your region"),
        ({"scope": "rep:nobody"}, "not in your region"),
        ({"scope": "company:all"}, "Choose the rep, territory or region"),
        ({"month": "2026-13"}, "Choose a month"),
        ({"amount": "1e300"}, "not a plausible amount"),
        ({"amount": "viel"}, "is not a number"),
    ],
)
def test_a_target_the_page_cannot_take_is_refused_with_a_message(
    client: TestClient[Litestar], store: Store, change: dict[str, str], message: str
) -> None:
    world = forecast_world(store.url)
    _sign_in(client, "mgr_north")
    _german(client)
    form = {
        "scope": f"rep:{world.user('rep_n1')}",
        "month": f"{_this_month():%Y-%m}",
        "amount": "12.500",
        "back": "/manager",
        **{k: v.format(south=world.user("rep_s1")) for k, v in change.items()},
    }
    r = client.post("/manager/targets", data=form, follow_redirects=False)
    assert "error=" in r.headers["location"]
    assert message in client.get(r.headers["location"]).text
    assert _stored_targets(store.url) == []


@pytest.mark.parametrize("month", ["2025-00", "next", "2101-01"])
def test_a_bad_month_on_the_rep_page_is_a_message_not_an_error(
    client: TestClient[Litestar], store: Store, month: str
) -> None:
    world = forecast_world(store.url)
    _sign_in(client, "mgr_north")
    r = client.get(f"/manager/reps/{world.user('rep_n1')}?month={month}")
    assert r.status_code == 200
    assert "is not a month" in r.text


def test_an_unknown_rep_is_the_not_found_page(client: TestClient[Litestar], store: Store) -> None:
    forecast_world(store.url)
    _sign_in(client, "mgr_north")
    r = client.get("/manager/reps/no-such-rep")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "outside your region" in r.text
