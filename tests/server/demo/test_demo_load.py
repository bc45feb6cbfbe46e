"""The demo data set, loaded at a small scale into each store: what a new user sees after
`make run` must be plausible, placed on the real map, and loaded once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account, Contact
from server.auth.models import User
from server.catalog.models import Price, PriceList, Product
from server.demo import DEMO_PASSWORD, DemoError, DemoResult, generate, load_demo
from server.demo.geo import haversine_km, inside
from server.demo.places import REGIONS
from server.leads.models import AssignmentDecision, Lead
from server.opportunities.models import Opportunity
from server.orders.models import Order, OrderLine
from server.org.models import Region, Territory
from server.targets.models import Target
from server.tickets.models import Ticket, TicketComment
from server.visits.models import Visit
from tests.seed import run_db
from tests.stores import PG_ENV, Store, StoreFactory

SEED = 7
SCALE = 0.05
NOW = datetime(2026, 6, 15, 10, 30, tzinfo=UTC)
GERMANY = (47.2, 55.1, 5.8, 15.1)  # lat min, lat max, lon min, lon max


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ],
)
def demo(
    request: pytest.FixtureRequest, store_factory: StoreFactory
) -> Iterator[tuple[Store, DemoResult]]:
    if request.param == "postgres":
        if store_factory.pg_url is None:
            pytest.skip(f"PostgreSQL run skipped: set {PG_ENV}=postgresql+asyncpg://… to run it")
        store = store_factory.postgres()
    else:
        store = store_factory.sqlite()
    result = asyncio.run(load_demo(store.url, seed=SEED, scale=SCALE, now=NOW))
    yield store, result
    store_factory.drop(store)


def _rows(store: Store, statement: Any) -> list[Any]:
    async def work(session: AsyncSession) -> list[Any]:
        return list((await session.execute(statement)).all())

    return run_db(store.url, work)


def _count(store: Store, model: Any) -> int:
    return int(_rows(store, select(func.count()).select_from(model))[0][0])


def test_four_regions_of_five_city_territories(demo: tuple[Store, DemoResult]) -> None:
    store, _ = demo
    rows = _rows(
        store, select(Region.name, func.count(Territory.id)).join(Territory).group_by(Region.name)
    )
    assert dict(rows) == {"North": 5, "West": 5, "South": 5, "East": 5}


def test_each_region_has_a_manager_and_ten_reps_plus_an_admin_and_a_back_office_user(
    demo: tuple[Store, DemoResult],
) -> None:
    store, _ = demo
    rows = _rows(
        store, select(User.role, Region.name).outerjoin(Region, Region.id == User.region_id)
    )
    assert Counter(rows) == {
        ("admin", None): 1,
        ("backoffice", None): 1,
        **{("manager", name): 1 for name in ("North", "West", "South", "East")},
        **{("rep", name): 10 for name in ("North", "West", "South", "East")},
    }


def test_reps_have_skills_languages_capacity_and_a_territory(
    demo: tuple[Store, DemoResult],
) -> None:
    store, _ = demo
    reps = _rows(store, select(User).where(User.role == "rep"))
    for (rep,) in reps:
        assert rep.territory_id and rep.skills and "de" in rep.languages and rep.capacity > 0
    assert sum(1 for (rep,) in reps if rep.on_leave_until is not None) == 1


def test_accounts_scale_with_the_scale_factor_and_have_contacts(
    demo: tuple[Store, DemoResult],
) -> None:
    store, result = demo
    assert _count(store, Account) == round(4000 * SCALE) == result.counts["accounts"]
    assert _count(store, Contact) >= _count(store, Account)


def test_catalogue_has_150_products_and_cheaper_key_account_prices(
    demo: tuple[Store, DemoResult],
) -> None:
    store, _ = demo
    assert _count(store, Product) == 150
    prices = _rows(
        store, select(PriceList.name, Price.product_id, Price.unit_price).join(PriceList)
    )
    by_list: dict[str, dict[str, Decimal]] = {}
    for name, product_id, unit_price in prices:
        by_list.setdefault(name, {})[product_id] = unit_price
    assert set(by_list) == {"Standard EUR", "Key accounts EUR"}
    assert len(by_list["Standard EUR"]) == len(by_list["Key accounts EUR"]) == 150
    assert all(
        by_list["Key accounts EUR"][p] < by_list["Standard EUR"][p] for p in by_list["Standard EUR"]
    )


def test_regions_sell_from_the_standard_price_list(demo: tuple[Store, DemoResult]) -> None:
    store, _ = demo
    rows = _rows(store, select(PriceList.name).join(Region, Region.price_list_id == PriceList.id))
    assert [name for (name,) in rows] == ["Standard EUR"] * 4


def test_order_totals_are_the_sum_of_their_priced_lines(demo: tuple[Store, DemoResult]) -> None:
    store, _ = demo
    orders = {o.id: o for (o,) in _rows(store, select(Order))}
    lines: dict[str, list[OrderLine]] = {}
    for (line,) in _rows(store, select(OrderLine)):
        lines.setdefault(line.order_id, []).append(line)
    assert orders and set(lines) == set(orders)
    for order_id, order in orders.items():
        assert order.total == sum(line.line_total for line in lines[order_id])
        assert order.subtotal == sum(line.unit_price * line.quantity for line in lines[order_id])
        assert order.subtotal - order.discount_total == order.total > 0


def test_order_history_spans_four_years_in_every_status(demo: tuple[Store, DemoResult]) -> None:
    store, _ = demo
    rows = _rows(store, select(Order.status, Order.created_at))
    statuses = Counter(status for status, _ in rows)
    assert {"accepted", "fulfilled", "invoiced", "submitted", "draft"} <= set(statuses)
    assert statuses["invoiced"] > sum(statuses.values()) / 2
    months = {(at.year, at.month) for _, at in rows}
    assert len(months) == 48 and max(at for _, at in rows) <= NOW


def test_order_history_peaks_in_december_and_dips_in_august(demo: tuple[Store, DemoResult]) -> None:
    store, _ = demo
    per_month = Counter(at.month for (at,) in _rows(store, select(Order.created_at)))
    assert per_month[12] > 1.4 * per_month[8]
    assert per_month[11] > per_month[8] and per_month[10] > per_month[8]


def test_opportunities_hold_an_open_pipeline_and_a_won_lost_history(
    demo: tuple[Store, DemoResult],
) -> None:
    store, _ = demo
    rows = _rows(store, select(Opportunity.stage, Opportunity.close_date, Opportunity.closed_at))
    stages = Counter(stage for stage, _, _ in rows)
    assert set(stages) == {
        "prospecting",
        "qualification",
        "proposal",
        "negotiation",
        "closed_won",
        "closed_lost",
    }
    for stage, close_date, closed_at in rows:
        closed = stage.startswith("closed")
        assert (closed_at is not None) == closed
        assert (close_date <= NOW.date()) == closed


def test_tickets_exist_in_every_state_with_comments(demo: tuple[Store, DemoResult]) -> None:
    store, _ = demo
    statuses = Counter(s for (s,) in _rows(store, select(Ticket.status)))
    assert set(statuses) == {"open", "in_progress", "waiting", "resolved", "closed"}
    resolved = _rows(store, select(Ticket.status, Ticket.resolved_at))
    assert all((at is not None) == (s in ("resolved", "closed")) for s, at in resolved)
    assert _count(store, TicketComment) > 0


def test_every_rep_has_a_planned_route_for_today(demo: tuple[Store, DemoResult]) -> None:
    store, _ = demo
    rows = _rows(
        store,
        select(Visit.rep_id, Visit.route_position).where(
            Visit.status == "planned", Visit.planned_for == NOW.date()
        ),
    )
    routes: dict[str, list[int]] = {}
    for rep_id, position in rows:
        routes.setdefault(rep_id, []).append(position)
    assert len(routes) == 40
    assert all(sorted(p) == list(range(1, len(p) + 1)) for p in routes.values())


def test_completed_visits_carry_a_check_in_fix_near_the_account(
    demo: tuple[Store, DemoResult],
) -> None:
    store, _ = demo
    rows = _rows(
        store,
        select(Visit, Account.lat, Account.lon, Account.visit_radius_m)
        .join(Account, Account.id == Visit.account_id)
        .where(Visit.status == "completed"),
    )
    assert rows
    for visit, lat, lon, radius_m in rows:
        assert visit.check_in_at is not None and visit.check_in_at.date() < NOW.date()
        distance_m = haversine_km(lat, lon, visit.check_in_lat, visit.check_in_lon) * 1000
        # Haversine here, geodesic in the verifier: they agree within 0.5 %.
        assert distance_m <= 3100 and visit.distance_m == pytest.approx(distance_m, rel=0.005)
        assert visit.verification_score is not None
        if visit.verified:
            assert visit.distance_m <= radius_m + min(visit.check_in_accuracy_m, radius_m)
        if visit.distance_m > 2 * radius_m:
            assert not visit.verified and "outside_radius" in visit.flags
    assert any(visit.verified for visit, *_ in rows)


def test_leads_wait_both_unassigned_and_assigned(demo: tuple[Store, DemoResult]) -> None:
    store, _ = demo
    rows = _rows(store, select(Lead.status, Lead.assignee_id))
    assert any(status == "new" and assignee is None for status, assignee in rows)
    assert any(status != "new" and assignee is not None for status, assignee in rows)


def test_accounts_lie_in_their_territory_within_30_km_of_its_city(
    demo: tuple[Store, DemoResult],
) -> None:
    store, _ = demo
    rows = _rows(
        store,
        select(
            Account.lat, Account.lon, Territory.boundary, Territory.center_lat, Territory.center_lon
        ).join(Territory, Territory.id == Account.territory_id),
    )
    for lat, lon, boundary, c_lat, c_lon in rows:
        assert GERMANY[0] < lat < GERMANY[1] and GERMANY[2] < lon < GERMANY[3]
        assert inside(lat, lon, boundary)
        assert haversine_km(lat, lon, c_lat, c_lon) <= 30.0


def test_territories_sit_on_the_real_city_centres(demo: tuple[Store, DemoResult]) -> None:
    store, _ = demo
    centres = {t.name: (t.center_lat, t.center_lon) for (t,) in _rows(store, select(Territory))}
    expected = {c.name: (c.lat, c.lon) for r in REGIONS for c in r.cities}
    assert centres == expected
    assert haversine_km(*centres["Hamburg"], 53.5511, 9.9937) < 1
    assert haversine_km(*centres["Berlin"], *centres["Munich"]) == pytest.approx(504, abs=10)


def test_territory_polygons_do_not_overlap(demo: tuple[Store, DemoResult]) -> None:
    store, _ = demo
    territories = [t for (t,) in _rows(store, select(Territory))]
    for t in territories:
        owners = [o.name for o in territories if inside(t.center_lat, t.center_lon, o.boundary)]
        assert owners == [t.name]


def test_rep_home_bases_are_in_their_territory(demo: tuple[Store, DemoResult]) -> None:
    store, _ = demo
    rows = _rows(
        store,
        select(User.home_lat, User.home_lon, Territory.boundary).join(
            Territory, Territory.id == User.territory_id
        ),
    )
    assert len(rows) == 40
    assert all(inside(lat, lon, boundary) for lat, lon, boundary in rows)


def test_the_same_seed_gives_the_same_accounts(demo: tuple[Store, DemoResult]) -> None:
    store, _ = demo
    loaded = sorted(_rows(store, select(Account.name, Account.city, Account.lat, Account.lon)))
    again = generate(SEED, SCALE, NOW, "not-a-hash").tables["accounts"]
    assert loaded == sorted((a["name"], a["city"], a["lat"], a["lon"]) for a in again)


def test_another_seed_gives_other_accounts() -> None:
    one = {a["name"] for a in generate(1, SCALE, NOW, "x").tables["accounts"]}
    two = {a["name"] for a in generate(2, SCALE, NOW, "x").tables["accounts"]}
    assert len(one & two) < len(one) / 4


def test_if_empty_leaves_a_loaded_database_alone_and_still_names_the_logins(
    demo: tuple[Store, DemoResult],
) -> None:
    store, first = demo
    before = {model.__name__: _count(store, model) for model in (User, Account, Order, Visit)}
    again = asyncio.run(load_demo(store.url, seed=SEED, scale=SCALE, now=NOW, if_empty=True))
    after = {model.__name__: _count(store, model) for model in (User, Account, Order, Visit)}
    assert not again.loaded and after == before
    assert again.logins == first.logins


def test_loading_into_a_database_with_users_is_refused_without_if_empty(
    demo: tuple[Store, DemoResult],
) -> None:
    store, _ = demo
    with pytest.raises(DemoError, match="already holds users"):
        asyncio.run(load_demo(store.url, seed=SEED, scale=SCALE, now=NOW))


def test_logins_name_every_role_with_the_demo_password(demo: tuple[Store, DemoResult]) -> None:
    _, result = demo
    assert Counter(login.role for login in result.logins) == {
        "admin": 1,
        "backoffice": 1,
        "manager": 4,
        "rep": 4,
    }
    assert {login.password for login in result.logins} == {DEMO_PASSWORD}
    assert sum(len(names) for names in result.other_reps.values()) == 36


def test_every_rep_and_region_has_a_target_for_this_month_near_last_years_sales(
    demo: tuple[Store, DemoResult],
) -> None:
    store, _ = demo
    this_month = NOW.date().replace(day=1)
    rows = _rows(
        store,
        select(Target.scope_type, Target.amount).where(Target.month == this_month),
    )
    kinds = Counter(kind for kind, _ in rows)
    reps = _count(store, select(User).where(User.role == "rep").subquery())
    assert kinds["rep"] == reps
    assert kinds["region"] == 4
    assert all(amount > 0 and amount % 500 == 0 for _, amount in rows)
    months = {m for (m,) in _rows(store, select(Target.month).distinct())}
    assert len(months) == 15  # the last twelve months, this one and the next two


def test_every_assigned_demo_lead_has_the_engines_decision_behind_it(
    demo: tuple[Store, DemoResult],
) -> None:
    store, _ = demo
    leads = _rows(store, select(Lead.id, Lead.assignee_id).where(Lead.assignee_id.is_not(None)))
    assert leads
    decided = dict(_rows(store, select(AssignmentDecision.lead_id, AssignmentDecision.winner_id)))
    assert all(decided.get(lead_id) == assignee for lead_id, assignee in leads)
