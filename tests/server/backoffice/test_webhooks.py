from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.app import create_app
from server.backoffice import webhooks
from server.backoffice.models import WebhookDelivery, WebhookDispatchState
from tests.conftest import make_settings as base_settings
from tests.seed import World, run_db, seed_world
from tests.server.backoffice.conftest import Receiver, key_headers, make_api_key, submitted_order
from tests.stores import Store

HOOKS = "/api/v1/backoffice/webhooks"
POLICY = webhooks.RetryPolicy(base_s=0.2, max_s=1.0, give_up_s=3600)
T = TypeVar("T")


def _documented_verify() -> Callable[[str, str, bytes], bool]:
    """The receiver's check, taken from docs/backoffice.md so the page cannot drift."""
    text = (Path(__file__).parents[3] / "docs" / "backoffice.md").read_text()
    [block] = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "def verify" in b]
    namespace: dict[str, Any] = {}
    exec(block, namespace)
    verify: Callable[[str, str, bytes], bool] = namespace["verify"]
    return verify


verify = _documented_verify()


def wait_for(probe: Callable[[], T], *, timeout_s: float = 10.0) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


@pytest.fixture
def live(store: Store) -> Iterator[TestClient[Litestar]]:
    """The app with its webhook dispatcher running, polling fast and retrying fast."""
    settings = base_settings(
        store,
        webhooks_enabled=True,
        webhook_poll_interval_s=0.05,
        webhook_retry_base_s=0.2,
        webhook_retry_max_s=1.0,
        webhook_timeout_s=2.0,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _subscribe(
    client: TestClient[Litestar], key: str, url: str, events: list[str]
) -> dict[str, Any]:
    response = client.post(HOOKS, json={"url": url, "events": events}, headers=key_headers(key))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _deliveries(client: TestClient[Litestar], key: str, sub_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{HOOKS}/{sub_id}/deliveries", headers=key_headers(key))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


# Delivery to a real receiver -----------------------------------------------------------------


def test_an_event_is_delivered_signed_to_a_real_receiver(
    live: TestClient[Litestar], store: Store, receiver: Receiver
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "webhooks:manage")
    receiver.start()
    sub = _subscribe(live, key, receiver.url, ["order.submitted"])

    order_id = submitted_order(store.url, world)
    [got] = wait_for(receiver.received)

    assert verify(sub["secret"], got.headers["Fieldline-Signature"], got.body)
    assert not verify("another-secret-entirely", got.headers["Fieldline-Signature"], got.body)
    payload = json.loads(got.body)
    assert got.headers["Fieldline-Event"] == "order.submitted"
    assert got.headers["Fieldline-Delivery"] == payload["id"]
    assert payload["event"] == "order.submitted"
    assert payload["record_id"] == order_id
    assert payload["order"]["id"] == order_id
    assert len(payload["order"]["lines"]) == 2


def test_a_receiver_down_then_up_gets_the_event_after_a_retry(
    live: TestClient[Litestar], store: Store, receiver: Receiver
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "webhooks:manage")
    sub = _subscribe(live, key, receiver.url, ["order.submitted"])

    submitted_order(store.url, world)
    wait_for(lambda: [d for d in _deliveries(live, key, sub["id"]) if d["status"] == "failed"])
    receiver.start()
    [got] = wait_for(receiver.received)
    [delivery] = wait_for(
        lambda: [d for d in _deliveries(live, key, sub["id"]) if d["status"] == "delivered"]
    )

    assert got.headers["Fieldline-Delivery"] == delivery["id"]
    assert delivery["attempts"] >= 2
    assert delivery["log"][0]["status_code"] is None
    assert delivery["log"][0]["error"]
    assert delivery["log"][-1]["status_code"] == 204


def test_nothing_is_delivered_twice_to_a_receiver_that_answered_2xx(
    live: TestClient[Litestar], store: Store, receiver: Receiver
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "webhooks:manage")
    receiver.start()
    sub = _subscribe(live, key, receiver.url, ["order.submitted", "order.status_changed"])

    submitted_order(store.url, world)
    submitted_order(store.url, world, territory="S1")
    wait_for(lambda: len(receiver.received()) >= 2)
    wait_for(lambda: all(d["status"] == "delivered" for d in _deliveries(live, key, sub["id"])))
    time.sleep(0.5)  # ten more dispatcher ticks

    ids = [r.headers["Fieldline-Delivery"] for r in receiver.received()]
    assert len(ids) == 2
    assert len(set(ids)) == 2


def test_a_replayed_delivery_is_sent_again_with_the_same_id(
    live: TestClient[Litestar], store: Store, receiver: Receiver
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "webhooks:manage")
    receiver.start()
    sub = _subscribe(live, key, receiver.url, ["order.submitted"])
    submitted_order(store.url, world)
    [delivery] = wait_for(
        lambda: [d for d in _deliveries(live, key, sub["id"]) if d["status"] == "delivered"]
    )

    replay = live.post(f"{HOOKS}/deliveries/{delivery['id']}/replay", headers=key_headers(key))
    wait_for(lambda: len(receiver.received()) == 2)

    assert replay.status_code == 200
    assert [r.headers["Fieldline-Delivery"] for r in receiver.received()] == [delivery["id"]] * 2


def test_a_slow_receiver_holds_no_database_lock(
    live: TestClient[Litestar], store: Store, receiver: Receiver
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "webhooks:manage")
    release = threading.Event()
    receiver.hold = release
    receiver.start()
    _subscribe(live, key, receiver.url, ["order.submitted"])
    submitted_order(store.url, world)
    wait_for(lambda: receiver.waiting)

    # While the receiver sits on the request, a rep's order still commits.
    written = threading.Event()
    writer = threading.Thread(
        target=lambda: (submitted_order(store.url, world, territory="S1"), written.set())
    )
    writer.start()
    committed = written.wait(timeout=10)
    release.set()
    writer.join()

    assert committed


# The queue, directly --------------------------------------------------------------------------


def _db(url: str, work: Callable[[AsyncSession], Any]) -> Any:
    return run_db(url, work)


def _subscription(url: str, events: list[str], target: str = "http://127.0.0.1:9/h") -> str:
    async def work(session: AsyncSession) -> str:
        from server.auth.models import Role
        from server.auth.principal import Principal
        from server.backoffice.schemas import WebhookIn

        created = await webhooks.create_subscription(
            session,
            WebhookIn(url=target, events=events),  # type: ignore[arg-type]
            principal=Principal(role=Role.ADMIN, user_id="admin"),
        )
        return created.id

    sub_id: str = _db(url, work)
    return sub_id


def _enqueue(url: str) -> int:
    async def work(session: AsyncSession) -> int:
        return await webhooks.enqueue(session, policy=POLICY, retention_days=45)

    read: int = _db(url, work)
    return read


def _count(url: str) -> int:
    async def work(session: AsyncSession) -> int:
        return int(await session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0)

    found: int = _db(url, work)
    return found


def _seeded(store: Store) -> World:
    return seed_world(store.url)


def test_only_subscribed_events_are_queued(store: Store) -> None:
    world = _seeded(store)
    _subscription(store.url, ["ticket.opened"])
    submitted_order(store.url, world)

    _enqueue(store.url)

    assert _count(store.url) == 0


def test_an_event_is_queued_once_per_subscription_even_when_read_twice(store: Store) -> None:
    world = _seeded(store)
    _subscription(store.url, ["order.submitted"])
    _subscription(store.url, ["order.submitted"])
    submitted_order(store.url, world)
    _enqueue(store.url)

    async def rewind(session: AsyncSession) -> None:
        # A second replica that read the same rows before the first moved the cursor.
        await session.execute(update(WebhookDispatchState).values(cursor=None))

    _db(store.url, rewind)
    _enqueue(store.url)

    assert _count(store.url) == 2


def test_a_due_delivery_is_claimed_by_one_dispatcher_only(store: Store) -> None:
    world = _seeded(store)
    _subscription(store.url, ["order.submitted"])
    submitted_order(store.url, world)
    _enqueue(store.url)
    now = datetime.now(UTC)

    async def claim(session: AsyncSession) -> list[webhooks.Claimed]:
        return await webhooks.claim_due(session, now=now, limit=10, lease_s=60)

    first = _db(store.url, claim)
    second = _db(store.url, claim)

    assert len(first) == 1
    assert second == []


def test_a_delivery_still_failing_after_the_retry_window_is_dead(store: Store) -> None:
    world = _seeded(store)
    _subscription(store.url, ["order.submitted"])
    submitted_order(store.url, world)
    _enqueue(store.url)
    failure = webhooks.Outcome(status_code=503, error="HTTP 503", duration_ms=3)

    async def fail(session: AsyncSession, at: datetime) -> str:
        delivery = await session.scalar(select(WebhookDelivery))
        assert delivery is not None
        return await webhooks.record(session, delivery.id, failure, policy=POLICY, now=at)

    early = _db(store.url, lambda s: fail(s, datetime.now(UTC)))
    late = _db(store.url, lambda s: fail(s, datetime.now(UTC) + timedelta(days=1, seconds=1)))

    assert (early, late) == ("failed", "dead")


def test_retry_delays_double_with_jitter_up_to_the_cap() -> None:
    policy = webhooks.RetryPolicy(base_s=10, max_s=3600)
    rng = random.Random(7)

    delays = [webhooks.backoff_delay(n, policy, rng) for n in range(1, 12)]

    for n, delay in enumerate(delays, start=1):
        nominal = min(10 * 2 ** (n - 1), 3600)
        assert 0.75 * nominal <= delay <= 1.25 * nominal


def test_the_signature_covers_timestamp_and_body() -> None:
    header = webhooks.signature_header("s3cret-s3cret-s3cret", b'{"a":1}', timestamp=1700000000)

    assert header == (
        "t=1700000000,v1="
        + hmac.new(b"s3cret-s3cret-s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    )
