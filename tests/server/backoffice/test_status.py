from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.orders.models import Order
from server.sync.log import read_changes
from tests.seed import run_db, seed_world
from tests.server.backoffice.conftest import (
    create_order,
    key_headers,
    make_api_key,
    submit_order,
    submitted_order,
)
from tests.stores import Store


def _url(order_id: str) -> str:
    return f"/api/v1/backoffice/orders/{order_id}/status"


def _order(url: str, order_id: str) -> Order:
    async def work(session: AsyncSession) -> Order:
        order = await session.scalar(select(Order).where(Order.id == order_id))
        assert order is not None
        return order

    return run_db(url, work)


def test_accepting_an_order_sets_status_erp_reference_and_time(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:write")
    order_id = submitted_order(store.url, world)

    response = client.post(
        _url(order_id), json={"status": "accepted", "erp_ref": "SO-4711"}, headers=key_headers(key)
    )

    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert response.json()["erp_ref"] == "SO-4711"
    order = _order(store.url, order_id)
    assert (order.status, order.erp_ref) == ("accepted", "SO-4711")
    assert order.status_changed_at is not None


def test_the_new_status_reaches_the_reps_sync_stream(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:write")
    order_id = submitted_order(store.url, world)

    client.post(
        _url(order_id),
        json={"status": "rejected", "reason": "credit limit", "erp_ref": "SO-9"},
        headers=key_headers(key),
    )

    async def changes(session: AsyncSession) -> list[dict[str, object]]:
        page = await read_changes(
            session, cursor=None, limit=100, entities=("order",), events=("order.status_changed",)
        )
        return [row.data for row in page.rows if row.record_id == order_id]

    [data] = run_db(store.url, changes)
    assert data["status"] == "rejected"
    assert data["status_reason"] == "credit limit"
    assert data["erp_ref"] == "SO-9"


def test_a_rejection_without_reason_is_400_naming_the_field(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:write")
    order_id = submitted_order(store.url, world)

    response = client.post(_url(order_id), json={"status": "rejected"}, headers=key_headers(key))

    assert response.status_code == 400
    assert response.json()["field"] == "reason"
    assert _order(store.url, order_id).status == "submitted"


def test_an_illegal_transition_is_409_with_the_current_state(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:write")
    order_id = submitted_order(store.url, world)
    client.post(
        _url(order_id),
        json={"status": "rejected", "reason": "x", "erp_ref": "R-1"},
        headers=key_headers(key),
    )

    response = client.post(_url(order_id), json={"status": "invoiced"}, headers=key_headers(key))

    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["current"] == {"status": "rejected", "erp_ref": "R-1"}


def test_a_draft_order_cannot_be_accepted(client: TestClient[Litestar], store: Store) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:write")
    order_id = create_order(store.url, world)

    response = client.post(_url(order_id), json={"status": "accepted"}, headers=key_headers(key))

    assert response.status_code == 409
    assert response.json()["current"]["status"] == "draft"


def test_an_unknown_order_is_404(client: TestClient[Litestar], store: Store) -> None:
    key = make_api_key(store.url, "orders:write")

    response = client.post(_url("nope"), json={"status": "accepted"}, headers=key_headers(key))

    assert response.status_code == 404


def test_an_unknown_status_is_400(client: TestClient[Litestar], store: Store) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:write")
    order_id = submitted_order(store.url, world)

    response = client.post(_url(order_id), json={"status": "shipped"}, headers=key_headers(key))

    assert response.status_code == 400


def test_the_same_body_twice_without_a_key_has_one_effect(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:write")
    order_id = submitted_order(store.url, world)
    body = {"status": "accepted", "erp_ref": "SO-1"}

    first = client.post(_url(order_id), json=body, headers=key_headers(key))
    version = _order(store.url, order_id).version
    second = client.post(_url(order_id), json=body, headers=key_headers(key))

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == first.json()
    assert _order(store.url, order_id).version == version


def test_the_same_status_again_may_add_the_erp_reference(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:write")
    order_id = submitted_order(store.url, world)
    first = client.post(_url(order_id), json={"status": "accepted"}, headers=key_headers(key))

    second = client.post(
        _url(order_id), json={"status": "accepted", "erp_ref": "SO-2"}, headers=key_headers(key)
    )

    assert second.json()["erp_ref"] == "SO-2"
    assert second.json()["status_changed_at"] == first.json()["status_changed_at"]


def test_an_idempotency_key_replays_the_stored_answer_without_a_second_effect(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:write")
    order_id = submitted_order(store.url, world)
    headers = key_headers(key, **{"Idempotency-Key": "erp-msg-1"})
    first = client.post(_url(order_id), json={"status": "accepted"}, headers=headers)
    client.post(_url(order_id), json={"status": "fulfilled"}, headers=key_headers(key))

    replay = client.post(_url(order_id), json={"status": "accepted"}, headers=headers)

    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert _order(store.url, order_id).status == "fulfilled"


def test_an_idempotency_key_reused_for_another_request_is_422(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:write")
    order_id = submitted_order(store.url, world)
    headers = key_headers(key, **{"Idempotency-Key": "erp-msg-2"})
    client.post(_url(order_id), json={"status": "accepted"}, headers=headers)

    response = client.post(
        _url(order_id), json={"status": "cancelled", "reason": "dup"}, headers=headers
    )

    assert response.status_code == 422
    assert _order(store.url, order_id).status == "accepted"


def test_idempotency_keys_of_different_api_keys_do_not_collide(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    erp = make_api_key(store.url, "orders:write")
    wms = make_api_key(store.url, "orders:write")
    first_order = submitted_order(store.url, world)
    second_order = submitted_order(store.url, world, territory="S1")

    a = client.post(
        _url(first_order),
        json={"status": "accepted"},
        headers=key_headers(erp, **{"Idempotency-Key": "1"}),
    )
    b = client.post(
        _url(second_order),
        json={"status": "accepted"},
        headers=key_headers(wms, **{"Idempotency-Key": "1"}),
    )

    assert (a.status_code, b.status_code) == (200, 200)
    assert b.json()["id"] == second_order
    assert "Idempotent-Replayed" not in b.headers


def test_a_failed_request_is_not_stored_under_its_idempotency_key(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:write")
    order_id = create_order(store.url, world)
    headers = key_headers(key, **{"Idempotency-Key": "early"})
    refused = client.post(_url(order_id), json={"status": "accepted"}, headers=headers)
    submit_order(store.url, order_id)
    retried = client.post(_url(order_id), json={"status": "accepted"}, headers=headers)

    assert refused.status_code == 409
    assert retried.status_code == 200
    assert retried.json()["status"] == "accepted"
