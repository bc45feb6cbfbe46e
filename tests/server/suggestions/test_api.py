"""Suggestions through the doors: REST answers what the caller's scope holds, a rep's device
receives its territory's suggestions and no other's and drops withdrawn ones on its pull, and an
order taken from one is counted as an acceptance in the managers' view."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from client_sdk import FieldClient, MemoryTokenStore, RetryPolicy
from client_sdk.errors import LocalRuleViolation
from server.orders.models import OrderLine
from server.settings import Settings
from server.suggestions.models import Suggestion
from sync.ids import new_id
from sync.messages import Rejected
from tests.client_sdk.helpers import rows
from tests.seed import PASSWORD, World, auth_headers, seed_world, token_for
from tests.server.suggestions.history import buy, seed_history, targets
from tests.server.suggestions.test_relearn import learn_now
from tests.server.sync.device import Device
from tests.stores import Store


@pytest.fixture
def world(store: Store) -> World:
    world = seed_world(store.url)
    seed_history(store.url, world)
    learn_now(store.url)
    return world


def _as(settings: Settings, world: World, username: str) -> dict[str, str]:
    return auth_headers(token_for(settings, world.user(username))[0])


def _device(client: TestClient[Litestar], tmp_path: Path, username: str) -> FieldClient:
    device = FieldClient(
        tmp_path / f"{username}.db",
        client,
        token_store=MemoryTokenStore(),
        retry=RetryPolicy(attempts=2, base_s=0.0, cap_s=0.0),
    )
    device.login(username, PASSWORD, device_name="tablet")
    device.sync()
    return device


@pytest.fixture
def rep(client: TestClient[Litestar], world: World, tmp_path: Path) -> Iterator[FieldClient]:
    device = _device(client, tmp_path, "rep_n1")
    yield device
    device.close()


def test_a_rep_reads_the_suggestions_of_an_account_of_their_territory(
    client: TestClient[Litestar], world: World, settings: Settings
) -> None:
    north, _ = targets(world)
    answer = client.get(
        f"/api/v1/accounts/{north}/suggestions", headers=_as(settings, world, "rep_n1")
    )
    assert answer.status_code == 200, answer.text
    [item] = answer.json()["items"]
    assert (item["sku"], item["kind"], item["rank"], item["score"]) == (
        "SKU-002",
        "cross_sell",
        1,
        0.7778,
    )
    assert item["reason"] == "bought by 78 % of accounts that buy Product 1"
    assert item["because_product_id"] == world.products[0]


def test_another_territorys_account_is_not_found(
    client: TestClient[Litestar], world: World, settings: Settings
) -> None:
    _, south = targets(world)
    answer = client.get(
        f"/api/v1/accounts/{south}/suggestions", headers=_as(settings, world, "rep_n1")
    )
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_malformed_account_id_is_a_problem_naming_it(
    client: TestClient[Litestar], world: World, settings: Settings
) -> None:
    answer = client.get(
        "/api/v1/accounts/not-an-id/suggestions", headers=_as(settings, world, "rep_n1")
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "account_id" in answer.text


def test_a_managers_view_is_their_region(
    client: TestClient[Litestar], world: World, settings: Settings
) -> None:
    north, south = targets(world)
    headers = _as(settings, world, "mgr_north")
    assert (
        len(client.get(f"/api/v1/accounts/{north}/suggestions", headers=headers).json()["items"])
        == 1
    )
    assert client.get(f"/api/v1/accounts/{south}/suggestions", headers=headers).status_code == 404


def test_a_device_receives_its_territorys_suggestions_and_no_other(
    rep: FieldClient, world: World
) -> None:
    north, _ = targets(world)
    held = rep.records.all("suggestion")
    assert [s.get("account_id") for s in held] == [north]
    assert {s.get("account_id") for s in held} <= set(world.accounts["N1"])


def test_a_withdrawn_suggestion_leaves_the_device_on_its_pull(
    rep: FieldClient, world: World, store: Store
) -> None:
    north, _ = targets(world)
    assert len(rep.suggestions(north)) == 1
    buy(store.url, world, north, [2], days_ago=1)
    learn_now(store.url)
    rep.sync()
    assert rep.records.all("suggestion") == []
    assert rep.suggestions(north) == []


def test_the_device_prices_a_suggestion_from_its_price_list(rep: FieldClient, world: World) -> None:
    north, _ = targets(world)
    [view] = rep.suggestions(north)
    # Product 2 lists at 20.00; the seeded price list sells product i at 9 × i + 0.50.
    assert (view.product["sku"], view.unit_price, view.currency) == (
        "SKU-002",
        Decimal("18.50"),
        "EUR",
    )
    assert view.reason == "bought by 78 % of accounts that buy Product 1"


def test_an_order_taken_from_a_suggestion_is_counted_as_accepted(
    client: TestClient[Litestar], rep: FieldClient, world: World, settings: Settings, store: Store
) -> None:
    north, _ = targets(world)
    [view] = rep.suggestions(north)
    order = rep.take_order(north, [(view.product.id, 2, view.id), (world.products[0], 1)])
    report = rep.sync()
    assert report.rejected == 0
    lines = {line.product_id: line for line in rows(store.url, OrderLine, order_id=order.id)}
    assert lines[view.product.id].suggestion_id == view.id
    assert lines[world.products[0]].suggestion_id is None

    north_view = client.get(
        "/api/v1/suggestions/acceptance", headers=_as(settings, world, "mgr_north")
    ).json()
    assert (north_view["offered"], north_view["accepted"], north_view["rate"]) == (1, 1, 1.0)
    assert (north_view["lines"], north_view["revenue"]) == (1, "37.00")  # 2 × 18.50
    south_view = client.get(
        "/api/v1/suggestions/acceptance", headers=_as(settings, world, "mgr_south")
    ).json()
    assert (south_view["offered"], south_view["accepted"], south_view["rate"]) == (1, 0, 0.0)


def test_a_line_naming_another_products_suggestion_is_refused_on_the_device(
    rep: FieldClient, world: World
) -> None:
    north, _ = targets(world)
    [view] = rep.suggestions(north)
    with pytest.raises(LocalRuleViolation) as refused:
        rep.take_order(north, [(world.products[0], 1, view.id)])
    assert refused.value.field == "suggestion_id"
    assert rep.status().unsent == 0


def test_the_acceptance_view_refuses_reps_and_a_backwards_period(
    client: TestClient[Litestar], world: World, settings: Settings
) -> None:
    as_rep = client.get("/api/v1/suggestions/acceptance", headers=_as(settings, world, "rep_n1"))
    assert as_rep.status_code == 403
    backwards = client.get(
        "/api/v1/suggestions/acceptance",
        params={"since": "2026-06-01T00:00:00Z", "until": "2026-05-01T00:00:00Z"},
        headers=_as(settings, world, "mgr_north"),
    )
    assert backwards.status_code == 400
    assert backwards.headers["content-type"].startswith("application/problem+json")
    assert backwards.json()["field"] == "since"
    garbled = client.get(
        "/api/v1/suggestions/acceptance",
        params={"since": "last tuesday"},
        headers=_as(settings, world, "mgr_north"),
    )
    assert garbled.status_code == 400 and "since" in garbled.text


def test_an_account_moved_to_another_territory_takes_its_suggestions_along(
    client: TestClient[Litestar],
    rep: FieldClient,
    world: World,
    settings: Settings,
    tmp_path: Path,
) -> None:
    north, _ = targets(world)
    other = _device(client, tmp_path, "rep_n2")
    try:
        assert other.records.all("suggestion") == []
        moved = client.patch(
            f"/api/v1/accounts/{north}",
            json={"territory_id": world.territories["N2"]},
            headers=_as(settings, world, "mgr_north"),
        )
        assert moved.status_code == 200, moved.text
        rep.sync()
        other.sync()
        assert rep.records.all("suggestion") == []
        assert [s.get("account_id") for s in other.records.all("suggestion")] == [north]
    finally:
        other.close()


def test_an_order_taken_offline_from_a_suggestion_withdrawn_meanwhile_still_lands(
    rep: FieldClient, world: World, store: Store
) -> None:
    north, _ = targets(world)
    [view] = rep.suggestions(north)
    order = rep.take_order(north, [(view.product.id, 2, view.id)])
    # Overnight, before the tablet syncs, another order buys the product and the job withdraws
    # the suggestion.
    buy(store.url, world, north, [2], days_ago=1)
    learn_now(store.url)
    [withdrawn] = rows(store.url, Suggestion, id=view.id)
    assert withdrawn.deleted_at is not None
    report = rep.sync()
    assert report.rejected == 0, rep.rejected()
    [line] = rows(store.url, OrderLine, order_id=order.id)
    assert line.suggestion_id == view.id


def _suggested(client: TestClient[Litestar], settings: Settings, world: World) -> dict:
    north, _ = targets(world)
    [item] = client.get(
        f"/api/v1/accounts/{north}/suggestions", headers=_as(settings, world, "rep_n1")
    ).json()["items"]
    return item


def _rest_order(
    client: TestClient[Litestar], settings: Settings, world: World, product: str, suggestion: str
) -> Any:
    """A submitted order of one line through REST, as rep_n1, for the suggested account."""
    north, _ = targets(world)
    return client.post(
        "/api/v1/orders",
        json={
            "account_id": north,
            "status": "submitted",
            "lines": [{"product_id": product, "quantity": 2, "suggestion_id": suggestion}],
        },
        headers=_as(settings, world, "rep_n1"),
    )


def test_a_rest_order_line_names_its_suggestion_and_counts_as_taken_up(
    client: TestClient[Litestar], world: World, settings: Settings
) -> None:
    item = _suggested(client, settings, world)
    created = _rest_order(client, settings, world, item["product_id"], item["id"])
    assert created.status_code == 201, created.text
    assert [line["suggestion_id"] for line in created.json()["lines"]] == [item["id"]]
    taken = client.get(
        "/api/v1/suggestions/acceptance", headers=_as(settings, world, "mgr_north")
    ).json()
    assert (taken["accepted"], taken["lines"]) == (1, 1)


def test_a_line_naming_another_products_suggestion_is_refused_by_every_door(
    client: TestClient[Litestar],
    world: World,
    settings: Settings,
    store: Store,
    device_for: Callable[[str], Device],
) -> None:
    north, _ = targets(world)
    item = _suggested(client, settings, world)
    refused = _rest_order(client, settings, world, world.products[0], item["id"])
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "lines[0].suggestion_id"
    rep = device_for("rep_n1")
    order, tx = new_id(), new_id()
    results = rep.push(
        rep.upsert("order", order, {"account_id": north, "status": "draft"}, tx=tx),
        rep.upsert(
            "order_line",
            new_id(),
            {
                "order_id": order,
                "product_id": world.products[0],
                "quantity": 1,
                "line_no": 1,
                "suggestion_id": item["id"],
            },
            tx=tx,
        ),
    )
    assert all(isinstance(r, Rejected) for r in results)
    assert results[1].field == "suggestion_id" and "not for this product" in results[1].detail
    assert rows(store.url, OrderLine, order_id=order) == []
