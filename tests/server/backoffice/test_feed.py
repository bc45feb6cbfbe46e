from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from server.sync.log import compact
from tests.seed import run_db, seed_world
from tests.server.backoffice.conftest import (
    create_order,
    key_headers,
    make_api_key,
    submit_order,
    submitted_order,
)
from tests.stores import Store

FEED = "/api/v1/backoffice/orders/feed"


def _drain(
    client: TestClient[Litestar], key: str, cursor: str | None, limit: int = 2
) -> tuple[list[dict[str, Any]], str]:
    seen: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["after"] = cursor
        page = client.get(FEED, params=params, headers=key_headers(key))
        assert page.status_code == 200, page.text
        body = page.json()
        seen.extend(body["orders"])
        cursor = body["cursor"]
        if not body["more"]:
            return seen, cursor


def test_feed_gives_submitted_orders_with_lines_account_and_pricing(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:read")
    order_id = submitted_order(store.url, world, lines=2)

    body = client.get(FEED, headers=key_headers(key)).json()

    assert [o["id"] for o in body["orders"]] == [order_id]
    order = body["orders"][0]
    assert order["status"] == "submitted"
    assert order["rep_id"] == world.user("rep_n1")
    assert order["submitted_at"] is not None
    assert order["account"]["id"] == world.accounts["N1"][0]
    assert order["account"]["name"] == "Hamburg Customer 1"
    assert order["account"]["city"] == "Hamburg"
    assert "postal_code" in order["account"]
    assert order["pricing"] == {
        "currency": "EUR",
        "subtotal": "74.50",
        "discount_total": "0.00",
        "total": "74.50",
    }
    assert [
        (line["line_no"], line["quantity"], line["unit_price"], line["line_total"])
        for line in order["lines"]
    ] == [(1, 2, "9.50", "19.00"), (2, 3, "18.50", "55.50")]
    assert order["lines"][0]["sku"] == "SKU-001"
    assert sum(Decimal(line["line_total"]) for line in order["lines"]) == Decimal(
        order["pricing"]["subtotal"]
    )
    assert body["more"] is False


def test_draft_orders_stay_out_of_the_feed(client: TestClient[Litestar], store: Store) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:read")
    create_order(store.url, world)

    body = client.get(FEED, headers=key_headers(key)).json()

    assert body["orders"] == []


def test_increasing_cursors_give_each_order_once_in_submission_order(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:read")
    first = [submitted_order(store.url, world, territory=t) for t in ("N1", "S1", "N2")]

    seen, cursor = _drain(client, key, None, limit=2)
    later = [submitted_order(store.url, world, territory=t) for t in ("S2", "N1")]
    more, _ = _drain(client, key, cursor, limit=2)

    assert [o["id"] for o in seen] == first
    assert [o["id"] for o in more] == later


def test_an_order_changing_status_after_submission_is_not_fed_again(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:read", "orders:write")
    order_id = submitted_order(store.url, world)
    _, cursor = _drain(client, key, None)

    accepted = client.post(
        f"/api/v1/backoffice/orders/{order_id}/status",
        json={"status": "accepted", "erp_ref": "SO-1"},
        headers=key_headers(key),
    )
    again, _ = _drain(client, key, cursor)

    assert accepted.status_code == 200
    assert again == []


def test_the_order_submission_is_fed_where_it_was_committed_not_where_it_was_drafted(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:read")
    drafted_first = create_order(store.url, world)
    submitted_first = submitted_order(store.url, world, territory="S1")
    submit_order(store.url, drafted_first)

    seen, _ = _drain(client, key, None)

    assert [o["id"] for o in seen] == [submitted_first, drafted_first]


def test_a_named_consumer_resumes_from_its_acknowledged_cursor(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:read")
    submitted_order(store.url, world)
    _, cursor = _drain(client, key, None)
    ack = client.post(
        f"{FEED}/ack", json={"consumer": "erp-main", "cursor": cursor}, headers=key_headers(key)
    )
    newer = submitted_order(store.url, world, territory="S2")

    kept = client.get(f"{FEED}/consumers/erp-main", headers=key_headers(key))
    resumed, _ = _drain(client, key, kept.json()["cursor"])

    assert ack.status_code == 200
    assert kept.status_code == 200
    assert kept.json()["consumer"] == "erp-main"
    assert kept.json()["cursor"] == cursor
    assert [o["id"] for o in resumed] == [newer]


def test_acknowledging_again_moves_the_kept_cursor(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:read")
    _, start = _drain(client, key, None)
    client.post(f"{FEED}/ack", json={"consumer": "wms", "cursor": start}, headers=key_headers(key))
    submitted_order(store.url, world)
    _, end = _drain(client, key, start)

    client.post(f"{FEED}/ack", json={"consumer": "wms", "cursor": end}, headers=key_headers(key))

    kept = client.get(f"{FEED}/consumers/wms", headers=key_headers(key)).json()
    assert kept["cursor"] == end != start


def test_an_unknown_consumer_is_404(client: TestClient[Litestar], store: Store) -> None:
    key = make_api_key(store.url, "orders:read")

    response = client.get(f"{FEED}/consumers/nobody", headers=key_headers(key))

    assert response.status_code == 404


def test_a_cursor_the_server_did_not_issue_is_400(
    client: TestClient[Litestar], store: Store
) -> None:
    key = make_api_key(store.url, "orders:read")

    read = client.get(FEED, params={"after": "not a cursor!"}, headers=key_headers(key))
    ack = client.post(
        f"{FEED}/ack", json={"consumer": "erp", "cursor": "%%%"}, headers=key_headers(key)
    )

    assert read.status_code == 400
    assert ack.status_code == 400


def test_a_cursor_older_than_the_retention_is_410(
    client: TestClient[Litestar], store: Store
) -> None:
    key = make_api_key(store.url, "orders:read")
    _, cursor = _drain(client, key, None)

    async def compact_later(session: AsyncSession) -> None:
        await compact(session, retention_days=45, now=datetime.now(UTC) + timedelta(days=46))

    run_db(store.url, compact_later)
    response = client.get(FEED, params={"after": cursor}, headers=key_headers(key))

    assert response.status_code == 410
    assert response.json()["retention_days"] == 45
