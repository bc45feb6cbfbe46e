"""Back-office state: named feed consumers and their acknowledged cursors, idempotency records
for status write-back, webhook subscriptions, the durable delivery queue with its attempt log,
and the dispatcher's own position in the change log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, TimestampMixin, utcnow
from server.db.types import BigIntPK
from sync.ids import new_id

__all__ = [
    "DeliveryStatus",
    "FeedConsumer",
    "IdempotencyRecord",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookDispatchState",
    "WebhookSubscription",
]


class DeliveryStatus:
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    """Tried and failed; another attempt is scheduled at ``next_attempt_at``."""
    DEAD = "dead"
    """Gave up (the retry window passed, or the subscription was deleted); replay revives it."""


class FeedConsumer(Base):
    """A named reader of the order feed whose acknowledged cursor the server keeps, so a
    restarted connector resumes where it stopped."""

    __tablename__ = "backoffice_feed_consumers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    cursor: Mapped[str] = mapped_column(Text)
    acked_at: Mapped[datetime] = mapped_column(default=utcnow)
    api_key_id: Mapped[str | None] = mapped_column(String(36), default=None)
    """The key that acknowledged last (None when an admin did)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyRecord(Base):
    """The stored answer to a write made with an ``Idempotency-Key``: a retry with the same key
    gets it again instead of a second effect."""

    __tablename__ = "backoffice_idempotency"
    __table_args__ = (UniqueConstraint("api_key_id", "key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))
    api_key_id: Mapped[str] = mapped_column(String(48))
    """The caller the key belongs to: the API key's id, or ``user:<id>`` for an admin login
    (keys of different callers never collide)."""
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column()
    response_body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class WebhookSubscription(TimestampMixin, Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(default=list)
    secret: Mapped[str] = mapped_column(String(200))
    """The shared signing secret. It is kept in clear because every delivery is signed with it;
    it is not a credential anyone authenticates to Fieldline with, so it is never verified
    against, and it is shown only once, when the subscription is created."""
    active: Mapped[bool] = mapped_column(default=True, index=True)
    created_by: Mapped[str] = mapped_column(String(120))


class WebhookDelivery(Base):
    """One event queued for one subscription: the durable queue the dispatcher drains."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "source_seq"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription_created", "subscription_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    event: Mapped[str] = mapped_column(String(40))
    source_seq: Mapped[int] = mapped_column(BigInteger)
    """The change-log row that carried the event: an event is queued once per subscription."""
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    """Set when a dispatcher claims the delivery; another replica skips it until then."""
    give_up_at: Mapped[datetime] = mapped_column()
    last_status_code: Mapped[int | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookAttempt(Base):
    """The delivery log: every request made for a delivery and what came back."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(String(500), default=None)
    duration_ms: Mapped[int] = mapped_column(default=0)


class WebhookDispatchState(Base):
    """How far the dispatcher has turned change-log events into deliveries."""

    __tablename__ = "webhook_dispatch_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
