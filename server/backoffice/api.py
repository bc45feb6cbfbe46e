"""Back-office endpoints under /api/v1/backoffice, for API keys (by scope) and admins."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import Parameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import principal_of, requires_scope
from server.backoffice import feed, status, webhooks
from server.backoffice.csv_export import export_orders, utc_range
from server.backoffice.dispatcher import policy_of
from server.backoffice.schemas import (
    AckIn,
    ConsumerOut,
    DeliveryOut,
    DeliveryPage,
    FeedPage,
    StatusIn,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
)
from server.errors import BadRequest, NotFound
from server.org.models import Region
from server.settings import Settings

__all__ = ["BackofficeController"]

_READ = [requires_scope("orders:read")]
_WRITE = [requires_scope("orders:write")]
_HOOKS = [requires_scope("webhooks:manage")]


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class BackofficeController(Controller):
    path = "/backoffice"
    tags = ("back office",)

    @get("/orders/feed", guards=_READ, summary="Submitted orders after a cursor, in commit order")
    async def order_feed(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        after: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> FeedPage:
        return await feed.read_feed(
            db, after=after, limit=limit, retention_days=_settings(request).sync_retention_days
        )

    @post(
        "/orders/feed/ack",
        guards=_READ,
        status_code=HTTP_200_OK,
        summary="Keep a named consumer's cursor",
    )
    async def ack_feed(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: AckIn
    ) -> ConsumerOut:
        return await feed.ack(
            db,
            name=data.consumer,
            cursor=data.cursor,
            principal=principal_of(request),
            retention_days=_settings(request).sync_retention_days,
        )

    @get("/orders/feed/consumers/{name:str}", guards=_READ, summary="A consumer's kept cursor")
    async def feed_consumer(self, db: AsyncSession, name: str) -> ConsumerOut:
        return await feed.consumer(db, name)

    @post(
        "/orders/{order_id:str}/status",
        guards=_WRITE,
        status_code=HTTP_200_OK,
        summary="Write the back office's verdict on an order (idempotent)",
    )
    async def set_order_status(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        order_id: str,
        data: StatusIn,
        idempotency_key: Annotated[str | None, Parameter(header="Idempotency-Key")] = None,
    ) -> Response[dict[str, Any]]:
        answer = await status.set_status_once(
            db,
            order_id,
            data,
            principal=principal_of(request),
            idempotency_key=idempotency_key,
        )
        headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
        return Response(answer.body, status_code=answer.status_code, headers=headers)

    @get(
        "/orders/export.csv",
        guards=_READ,
        summary="Submitted orders of a date range (UTC days, inclusive) as CSV, one row per line",
    )
    async def export_csv(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        date_from: Annotated[date, Parameter(query="from")],
        date_to: Annotated[date, Parameter(query="to")],
        region_id: str | None = None,
    ) -> Stream:
        if date_to < date_from:
            raise BadRequest("'to' is before 'from'", field="to")
        if region_id is not None and await db.get(Region, region_id) is None:
            raise NotFound(f"no region {region_id}")
        start, end = utc_range(date_from, date_to)
        state = request.app.state
        # The body is produced after this handler returns and its session is closed: the
        # generator opens a read transaction of its own.
        body = export_orders(
            state.sessionmaker,
            is_sqlite=state.is_sqlite,
            start=start,
            end=end,
            region_id=region_id,
        )
        filename = f"orders_{date_from.isoformat()}_{date_to.isoformat()}.csv"
        return Stream(
            body,
            # Litestar adds "; charset=utf-8" to text types itself.
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @get("/webhooks", guards=_HOOKS, summary="Active webhook subscriptions")
    async def list_webhooks(self, db: AsyncSession) -> dict[str, list[WebhookOut]]:
        return {"webhooks": await webhooks.list_subscriptions(db)}

    @post("/webhooks", guards=_HOOKS, summary="Subscribe a URL to events (secret shown once)")
    async def create_webhook(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: WebhookIn
    ) -> WebhookCreated:
        return await webhooks.create_subscription(db, data, principal=principal_of(request))

    @delete("/webhooks/{sub_id:str}", guards=_HOOKS, status_code=HTTP_204_NO_CONTENT)
    async def delete_webhook(self, db: AsyncSession, sub_id: str) -> None:
        await webhooks.delete_subscription(db, sub_id)

    @get("/webhooks/{sub_id:str}/deliveries", guards=_HOOKS, summary="Delivery log, newest first")
    async def webhook_deliveries(
        self,
        db: AsyncSession,
        sub_id: str,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        before: str | None = None,
        delivery_status: Annotated[
            Literal["pending", "delivered", "failed", "dead"] | None, Parameter(query="status")
        ] = None,
    ) -> DeliveryPage:
        return await webhooks.list_deliveries(
            db, sub_id, limit=limit, before=before, status=delivery_status
        )

    @post(
        "/webhooks/deliveries/{delivery_id:str}/replay",
        guards=_HOOKS,
        status_code=HTTP_200_OK,
        summary="Send a delivery again (same delivery id), now",
    )
    async def replay_delivery(
        self, request: Request[Any, Any, Any], db: AsyncSession, delivery_id: str
    ) -> DeliveryOut:
        return await webhooks.replay(db, delivery_id, policy=policy_of(_settings(request)))
