"""The webhook dispatcher: a background task in every app process.

Each tick it queues deliveries for new events in the change log, then sends the due ones
concurrently, each outside any database transaction. It never runs inside a request, so a slow
or failing receiver costs the sync endpoints nothing; every replica may run one, since each
delivery is claimed before it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import httpx
from litestar import Litestar
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backoffice import webhooks
from server.backoffice.models import IdempotencyRecord
from server.db.base import utcnow
from server.settings import Settings

__all__ = ["Dispatcher", "start_dispatcher", "stop_dispatcher"]

logger = logging.getLogger("fieldline.webhooks")

_MAX_PAGES_PER_TICK = 10
_CLAIM_BATCH = 50
_CONCURRENCY = 8
_HOUSEKEEPING_EVERY = timedelta(hours=1)
IDEMPOTENCY_TTL = timedelta(days=7)
"""How long an Idempotency-Key answer is kept for replay (docs/backoffice.md)."""


def policy_of(settings: Settings) -> webhooks.RetryPolicy:
    return webhooks.RetryPolicy(
        base_s=settings.webhook_retry_base_s,
        max_s=settings.webhook_retry_max_s,
        give_up_s=settings.webhook_give_up_s,
    )


class Dispatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        is_sqlite: bool,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._is_sqlite = is_sqlite
        self._policy = policy_of(settings)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._last_housekeeping = utcnow()
        # A lease well beyond the request timeout: a claim outlives the attempt it covers.
        self._lease_s = max(60.0, settings.webhook_timeout_s * 4)

    def start(self) -> None:
        self._client = httpx.AsyncClient(follow_redirects=False)
        self._task = asyncio.create_task(self._run(), name="fieldline-webhook-dispatcher")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=self._settings.webhook_timeout_s + 5)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:
                logger.exception("webhook dispatch failed; retrying next tick")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), timeout=self._settings.webhook_poll_interval_s
                )

    async def _session(self, *, write: bool) -> AsyncSession:
        session = self._sessionmaker()
        if self._is_sqlite and not write:
            await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        return session

    async def tick(self) -> None:
        async with await self._session(write=False) as session:
            active = await webhooks.any_active(session)
        if active:
            await self._enqueue()
            await self._deliver_due()
        if utcnow() - self._last_housekeeping >= _HOUSEKEEPING_EVERY:
            await self._housekeeping()

    async def _enqueue(self) -> None:
        for _ in range(_MAX_PAGES_PER_TICK):
            async with await self._session(write=True) as session:
                read = await webhooks.enqueue(
                    session,
                    policy=self._policy,
                    retention_days=self._settings.sync_retention_days,
                )
                await session.commit()
            if read == 0 or self._stopping.is_set():
                return

    async def _deliver_due(self) -> None:
        assert self._client is not None
        client = self._client
        while not self._stopping.is_set():
            async with await self._session(write=True) as session:
                claimed = await webhooks.claim_due(
                    session, now=utcnow(), limit=_CLAIM_BATCH, lease_s=self._lease_s
                )
                await session.commit()
            if not claimed:
                return

            async def one(item: webhooks.Claimed, gate: asyncio.Semaphore) -> None:
                async with gate:
                    outcome = await webhooks.send(
                        client, item, timeout_s=self._settings.webhook_timeout_s
                    )
                async with await self._session(write=True) as session:
                    await webhooks.record(session, item.id, outcome, policy=self._policy)
                    await session.commit()

            gate = asyncio.Semaphore(_CONCURRENCY)
            results = await asyncio.gather(
                *(one(item, gate) for item in claimed), return_exceptions=True
            )
            for result in results:
                if isinstance(result, Exception):
                    # The claim lapses and the delivery is tried again later.
                    logger.error("recording a webhook attempt failed: %r", result)

    async def _housekeeping(self) -> None:
        self._last_housekeeping = utcnow()
        async with await self._session(write=True) as session:
            await session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.created_at < utcnow() - IDEMPOTENCY_TTL
                )
            )
            await session.commit()


async def start_dispatcher(app: Litestar) -> None:
    settings: Settings = app.state.settings
    if not settings.webhooks_enabled:
        return
    dispatcher = Dispatcher(app.state.sessionmaker, settings, is_sqlite=app.state.is_sqlite)
    dispatcher.start()
    app.state.webhook_dispatcher = dispatcher


async def stop_dispatcher(app: Litestar) -> None:
    dispatcher = getattr(app.state, "webhook_dispatcher", None)
    if dispatcher is not None:
        await dispatcher.stop()
