"""``/api/v1/targets``: managers set quotas in their region (one at a time or from a CSV file),
and read attainment, pace and last year against them. Bad input is problem+json, never a 500."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from server.orders.models import Order
from server.settings import Settings
from tests.seed import World, auth_headers, run_db, seed_world, token_for
from tests.stores import Store


def _as(settings: Settings, world: World, username: str) -> dict[str, str]:
    token, _ = token_for(settings, world.user(username))
    return auth_headers(token)


def _this_month() -> date:
    now = datetime.now(UTC)
    return date(now.year, now.month, 1)


def _month_text(month: date) -> str:
    return f"{month:%Y-%m}"


def _orders(url: str, world: World, username: str, rows: list[tuple[str, float, datetime]]) -> None:
    async def work(session: AsyncSession) -> None:
        account = world.accounts[username.split("_")[1].upper()][0]
        for status, total, at in rows:
            session.add(
                Order(
                    account_id=account,
                    rep_id=world.user(username),
                    status=status,
                    total=Decimal(str(total)),
                    submitted_at=at,
                )
            )

    run_db(url, work)


def test_a_manager_sets_a_reps_target_and_reads_it_back(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    headers = _as(settings, world, "mgr_north")
    body = {"scope": "rep", "scope_id": "rep_n1", "month": "2026-12", "amount": 25_000}
    created = client.put("/api/v1/targets", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["scope_id"] == world.user("rep_n1")
    replaced = client.put("/api/v1/targets", json={**body, "amount": 30_000}, headers=headers)
    assert replaced.status_code == 200
    listed = client.get("/api/v1/targets?month_from=2026-12", headers=headers).json()["items"]
    assert [(t["scope"], t["month"], t["amount"]) for t in listed] == [("rep", "2026-12", 30_000)]


def test_a_manager_cannot_set_or_see_targets_of_another_region(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    south = _as(settings, world, "mgr_south")
    client.put(
        "/api/v1/targets",
        json={"scope": "rep", "scope_id": "rep_s1", "month": "2026-12", "amount": 9_000},
        headers=south,
    )
    north = _as(settings, world, "mgr_north")
    r = client.put(
        "/api/v1/targets",
        json={"scope": "rep", "scope_id": world.user("rep_s1"), "month": "2026-12", "amount": 1},
        headers=north,
    )
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/targets", headers=north).json()["items"] == []


def test_a_rep_may_not_set_targets(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    r = client.put(
        "/api/v1/targets",
        json={"scope": "rep", "scope_id": "rep_n1", "month": "2026-12", "amount": 1e9},
        headers=_as(settings, world, "rep_n1"),
    )
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"month": "2026-13"}, "month"),
        ({"month": "December"}, "month"),
        ({"amount": 1e300}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": "lots"}, "amount"),
        ({"scope": "company"}, "scope"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(
    client: TestClient[Litestar],
    store: Store,
    settings: Settings,
    change: dict[str, object],
    field: str,
) -> None:
    world = seed_world(store.url)
    body = {"scope": "rep", "scope_id": "rep_n1", "month": "2026-12", "amount": 1000, **change}
    r = client.put("/api/v1/targets", json=body, headers=_as(settings, world, "mgr_north"))
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in r.text


def test_an_unknown_rep_is_not_found(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    r = client.put(
        "/api/v1/targets",
        json={"scope": "rep", "scope_id": "nobody", "month": "2026-12", "amount": 1000},
        headers=_as(settings, world, "mgr_north"),
    )
    assert r.status_code == 404


def test_a_quota_file_sets_every_target_it_names(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    csv = (
        "scope,scope_id,month,amount\n"
        "rep,rep_n1,2027-01,20000\n"
        "rep,rep_n2,2027-01,18000.50\n"
        "territory,N1,2027-01,21000\n"
        "region,NORTH,2027-01,45000\n"
    )
    headers = {**_as(settings, world, "mgr_north"), "content-type": "text/csv"}
    r = client.put("/api/v1/targets/import", content=csv, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"created": 4, "updated": 0}
    again = client.put("/api/v1/targets/import", content=csv, headers=headers)
    assert again.json() == {"created": 0, "updated": 4}


def test_a_quota_file_with_a_bad_line_changes_nothing_and_names_each_bad_line(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    csv = (
        "scope,scope_id,month,amount\n"
        "rep,rep_n1,2027-01,20000\n"
        "rep,rep_s1,2027-01,18000\n"  # another region's rep
        "rep,rep_n2,2027-13,1000\n"
        "rep,rep_n2,2027-02,1e300\n"
    )
    headers = {**_as(settings, world, "mgr_north"), "content-type": "text/csv"}
    r = client.put("/api/v1/targets/import", content=csv, headers=headers)
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [
        (3, "scope_id"),
        (4, "month"),
        (5, "amount"),
    ]
    assert client.get("/api/v1/targets", headers=headers).json()["items"] == []


def test_attainment_counts_submitted_orders_and_compares_with_last_year(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    month = _this_month()
    start = datetime(month.year, month.month, 1, 0, 0, 1, tzinfo=UTC)
    last_year = start.replace(year=month.year - 1)
    _orders(
        store.url,
        world,
        "rep_n1",
        [
            ("submitted", 1_000, start),
            ("accepted", 500, start),
            ("rejected", 9_999, start),  # refused by the back office: no sale
            ("draft", 777, start),  # not submitted yet
            ("invoiced", 1_200, last_year),
            ("invoiced", 300, last_year - timedelta(days=2)),  # the month before: not counted
        ],
    )
    headers = _as(settings, world, "mgr_north")
    client.put(
        "/api/v1/targets",
        json={"scope": "rep", "scope_id": "rep_n1", "month": _month_text(month), "amount": 10_000},
        headers=headers,
    )
    rep = client.get(
        f"/api/v1/targets/attainment?scope=rep&scope_id={world.user('rep_n1')}", headers=headers
    ).json()
    assert rep["actual"] == 1_500
    assert rep["target"] == 10_000
    assert rep["attainment"] == pytest.approx(0.15)
    assert rep["last_year"] == 1_200
    assert rep["last_year_to_date"] == 1_200
    assert rep["yoy"] == pytest.approx(1_500 / 1_200 - 1)
    assert 0 < rep["expected_share"] <= 1
    assert rep["status"] in ("behind", "on track", "ahead")

    region = client.get("/api/v1/targets/attainment?scope=region", headers=headers).json()
    assert (region["target"], region["target_source"]) == (10_000, "sum of territories")
    assert region["actual"] == 1_500


def test_a_rep_reads_their_own_attainment_only(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    headers = _as(settings, world, "rep_n1")
    own = client.get(
        f"/api/v1/targets/attainment?scope=rep&scope_id={world.user('rep_n1')}", headers=headers
    )
    other = client.get(
        f"/api/v1/targets/attainment?scope=rep&scope_id={world.user('rep_n2')}", headers=headers
    )
    region = client.get("/api/v1/targets/attainment?scope=region", headers=headers)
    assert (own.status_code, other.status_code, region.status_code) == (200, 404, 403)
