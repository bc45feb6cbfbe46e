"""Webhooks: subscriptions, the durable delivery queue, signing, sending and retrying.

Theory of operation
-------------------
Business events ride on change-log rows (``order.submitted``, ``order.status_changed``,
``ticket.opened``, ``lead.assigned``). ``enqueue`` reads the log after the dispatcher's own cursor
(``WebhookDispatchState``) and inserts one ``WebhookDelivery`` per (subscription, log row) —
``UNIQUE(subscription_id, source_seq)`` with ``ON CONFLICT DO NOTHING``, so two replicas reading
the same rows queue each event once — and moves the cursor in the same transaction.

``claim_due`` takes due deliveries with a conditional ``UPDATE … SET locked_until`` that only one
replica can win; the request is then made outside any transaction (a slow receiver holds no lock
and never slows sync), and ``record`` writes the attempt to the log and either marks the delivery
delivered, schedules the next try (exponential backoff with jitter), or, past the retry window,
marks it dead. A 2xx answer is final: a delivered row is never claimed again (only a manual
replay sends it anew, with the same delivery id).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import msgspec
from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server import __version__
from server.auth.principal import Principal
from server.backoffice.feed import load_orders
from server.backoffice.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDispatchState,
    WebhookSubscription,
)
from server.backoffice.schemas import (
    EVENTS,
    AttemptOut,
    DeliveryOut,
    DeliveryPage,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
)
from server.backoffice.sql import upsert
from server.db.base import utcnow
from server.errors import BadRequest, Conflict, Gone, NotFound
from server.sync.log import LogRow, read_changes
from sync.ids import new_id

__all__ = [
    "Claimed",
    "Outcome",
    "RetryPolicy",
    "any_active",
    "backoff_delay",
    "claim_due",
    "create_subscription",
    "delete_subscription",
    "enqueue",
    "list_deliveries",
    "list_subscriptions",
    "record",
    "replay",
    "send",
    "sign",
    "signature_header",
]

logger = logging.getLogger("fieldline.webhooks")

_STATE = "webhooks"
_SENDABLE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
_encoder = msgspec.json.Encoder()


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    base_s: float = 10.0
    max_s: float = 3600.0
    give_up_s: float = 24 * 3600.0


# Signing ---------------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256, hex, over ``f"{timestamp}.{body}"`` (docs/backoffice.md)."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={sign(secret, t, body)}"


def backoff_delay(attempts: int, policy: RetryPolicy, rng: random.Random | None = None) -> float:
    """Seconds before the next try after ``attempts`` failed ones: base, 2×base, 4×base… capped
    at ``max_s``, each spread by ±25 % so receivers coming back up are not hit in lockstep."""
    # typeshed types int ** int as Any (a negative exponent gives a float); this one is never
    # negative.
    doubling: int = 2 ** max(attempts - 1, 0)
    raw = min(policy.base_s * doubling, policy.max_s)
    return raw * (rng or random).uniform(0.75, 1.25)


# Subscriptions ---------------------------------------------------------------------------------


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise BadRequest(f"not a URL: {exc}", field="url") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise BadRequest("the URL must be http:// or https:// with a host", field="url")


def _out(sub: WebhookSubscription) -> WebhookOut:
    return WebhookOut(
        id=sub.id,
        url=sub.url,
        events=list(sub.events),
        active=sub.active,
        created_by=sub.created_by,
        created_at=sub.created_at,
    )


async def create_subscription(
    session: AsyncSession, spec: WebhookIn, *, principal: Principal
) -> WebhookCreated:
    _check_url(spec.url)
    secret = spec.secret or f"whsec_{secrets.token_urlsafe(32)}"
    sub = WebhookSubscription(
        url=spec.url,
        events=sorted(set(spec.events)),
        secret=secret,
        active=True,
        created_by=principal.actor,
    )
    session.add(sub)
    await session.flush()
    return WebhookCreated(**msgspec.structs.asdict(_out(sub)), secret=secret)


async def list_subscriptions(session: AsyncSession) -> list[WebhookOut]:
    rows = await session.scalars(
        select(WebhookSubscription)
        .where(WebhookSubscription.active.is_(True))
        .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    )
    return [_out(s) for s in rows]


async def _subscription(session: AsyncSession, sub_id: str) -> WebhookSubscription:
    sub = await session.get(WebhookSubscription, sub_id)
    if sub is None:
        raise NotFound(f"no webhook subscription {sub_id}")
    return sub


async def delete_subscription(session: AsyncSession, sub_id: str) -> None:
    sub = await _subscription(session, sub_id)
    if not sub.active:
        raise NotFound(f"no webhook subscription {sub_id}")
    sub.active = False
    # The delivery log stays readable; what was still waiting will not be sent.
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == sub.id, WebhookDelivery.status.in_(_SENDABLE))
        .values(status=DeliveryStatus.DEAD, last_error="subscription deleted", locked_until=None)
    )


async def list_deliveries(
    session: AsyncSession,
    sub_id: str,
    *,
    limit: int,
    before: str | None = None,
    status: str | None = None,
) -> DeliveryPage:
    await _subscription(session, sub_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub_id)
    if before is not None:
        stmt = stmt.where(WebhookDelivery.id < before)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    rows = list(await session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    page = rows[:limit]
    log: dict[str, list[AttemptOut]] = {d.id: [] for d in page}
    if page:
        attempts = await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(log)))
            .order_by(WebhookAttempt.id)
        )
        for a in attempts:
            log[a.delivery_id].append(
                AttemptOut(
                    at=a.at, status_code=a.status_code, error=a.error, duration_ms=a.duration_ms
                )
            )
    return DeliveryPage(
        deliveries=[_delivery_out(d, log[d.id]) for d in page],
        next=page[-1].id if len(rows) > limit else None,
    )


def _delivery_out(d: WebhookDelivery, log: list[AttemptOut]) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        subscription_id=d.subscription_id,
        event=d.event,
        status=d.status,
        attempts=d.attempts,
        created_at=d.created_at,
        next_attempt_at=d.next_attempt_at if d.status in _SENDABLE else None,
        delivered_at=d.delivered_at,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        payload=d.payload,
        log=log,
    )


async def replay(session: AsyncSession, delivery_id: str, *, policy: RetryPolicy) -> DeliveryOut:
    delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None:
        raise NotFound(f"no webhook delivery {delivery_id}")
    sub = await _subscription(session, delivery.subscription_id)
    if not sub.active:
        raise Conflict(
            "the subscription of this delivery was deleted",
            extra={"current": {"status": delivery.status}},
        )
    now = utcnow()
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.locked_until = None
    delivery.give_up_at = now + timedelta(seconds=policy.give_up_s)
    await session.flush()
    return _delivery_out(delivery, [])


# Queueing --------------------------------------------------------------------------------------


async def any_active(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().where(WebhookSubscription.active.is_(True)))))


async def enqueue(
    session: AsyncSession,
    *,
    policy: RetryPolicy,
    retention_days: int,
    batch: int = 200,
) -> int:
    """Queue deliveries for the next page of events after the dispatcher's cursor; returns how
    many log rows were read (0 when caught up)."""
    subs = list(
        await session.scalars(
            select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
        )
    )
    if not subs:
        return 0
    await session.execute(
        upsert(session, WebhookDispatchState)
        .values(name=_STATE, cursor=None, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    state = await session.get(WebhookDispatchState, _STATE, with_for_update=True)
    assert state is not None
    try:
        page = await read_changes(
            session, cursor=state.cursor, limit=batch, events=EVENTS, retention_days=retention_days
        )
    except Gone:
        # The dispatcher was stopped for longer than the log keeps history: what was compacted
        # is lost to webhooks; carry on from the oldest retained event.
        logger.warning("webhook dispatcher cursor expired; restarting at the retained log")
        page = await read_changes(
            session, cursor=None, limit=batch, events=EVENTS, retention_days=retention_days
        )
    now = utcnow()
    values = await _deliveries_for(session, page.rows, subs, now, policy)
    if values:
        await session.execute(
            upsert(session, WebhookDelivery)
            .values(values)
            .on_conflict_do_nothing(index_elements=["subscription_id", "source_seq"])
        )
    state.cursor = page.cursor
    state.updated_at = now
    await session.flush()
    return len(page.rows)


async def _deliveries_for(
    session: AsyncSession,
    rows: Sequence[LogRow],
    subs: Sequence[WebhookSubscription],
    now: datetime,
    policy: RetryPolicy,
) -> list[dict[str, Any]]:
    orders = await load_orders(session, {r.record_id for r in rows if r.entity == "order"})
    values: list[dict[str, Any]] = []
    for row in rows:
        for sub in subs:
            # A new subscription hears of events from its creation on, not the retained past.
            if row.event not in sub.events or row.at < sub.created_at:
                continue
            delivery_id = new_id()
            payload: dict[str, Any] = {
                "id": delivery_id,
                "event": row.event,
                "occurred_at": row.at.isoformat(),
                "entity": row.entity,
                "record_id": row.record_id,
                "version": row.version,
                "data": row.data,
            }
            if row.record_id in orders and row.entity == "order":
                payload["order"] = msgspec.to_builtins(orders[row.record_id])
            values.append(
                {
                    "id": delivery_id,
                    "subscription_id": sub.id,
                    "event": row.event,
                    "source_seq": row.seq,
                    "payload": payload,
                    "status": DeliveryStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "locked_until": None,
                    "give_up_at": now + timedelta(seconds=policy.give_up_s),
                    "created_at": now,
                }
            )
    return values


# Sending ---------------------------------------------------------------------------------------


class Claimed(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    event: str
    url: str
    secret: str
    payload: dict[str, Any]


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, lease_s: float
) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries for this process until ``now + lease_s``."""
    candidates = (
        await session.execute(
            select(WebhookDelivery.id)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(
                WebhookSubscription.active.is_(True),
                WebhookDelivery.status.in_(_SENDABLE),
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
    ).scalars()
    won: list[str] = []
    for delivery_id in list(candidates):
        # The same conditions again, in the UPDATE itself: of two replicas racing for a row,
        # the second re-checks after the first commits and updates nothing.
        result = await session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status.in_(_SENDABLE),
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
            )
            .values(locked_until=now + timedelta(seconds=lease_s))
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            won.append(delivery_id)
    if not won:
        return []
    rows = await session.execute(
        select(WebhookDelivery, WebhookSubscription.url, WebhookSubscription.secret)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookDelivery.id.in_(won))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
    )
    return [
        Claimed(id=d.id, event=d.event, url=url, secret=secret, payload=d.payload)
        for d, url, secret in rows
    ]


async def send(client: httpx.AsyncClient, claimed: Claimed, *, timeout_s: float) -> Outcome:
    body = _encoder.encode(claimed.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Fieldline-Webhooks/{__version__}",
        "Fieldline-Event": claimed.event,
        "Fieldline-Delivery": claimed.id,
        "Fieldline-Signature": signature_header(claimed.secret, body),
    }
    started = time.perf_counter()
    try:
        response = await client.post(claimed.url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        elapsed = int((time.perf_counter() - started) * 1000)
        failure = f"{type(exc).__name__}: {exc}"[:500]
        return Outcome(status_code=None, error=failure, duration_ms=elapsed)
    elapsed = int((time.perf_counter() - started) * 1000)
    error = None
    if not 200 <= response.status_code < 300:
        error = f"HTTP {response.status_code}: {response.text[:200]}"
    return Outcome(status_code=response.status_code, error=error, duration_ms=elapsed)


async def record(
    session: AsyncSession,
    delivery_id: str,
    outcome: Outcome,
    *,
    policy: RetryPolicy,
    now: datetime | None = None,
) -> str:
    """Log the attempt and settle the delivery; returns its new status."""
    now = now or utcnow()
    delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None:
        return DeliveryStatus.DEAD
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            at=now,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
    )
    delivery.attempts += 1
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    delivery.locked_until = None
    if outcome.ok:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
    elif delivery.status not in _SENDABLE:
        pass  # deleted subscription (dead) or already settled: keep that verdict
    elif now >= delivery.give_up_at:
        delivery.status = DeliveryStatus.DEAD
    else:
        delivery.status = DeliveryStatus.FAILED
        wait = timedelta(seconds=backoff_delay(delivery.attempts, policy))
        # One last try when the window closes rather than a silent give-up before it.
        delivery.next_attempt_at = min(now + wait, delivery.give_up_at)
    await session.flush()
    return delivery.status
