"""``/api/v1/accounts/{id}/suggestions`` (what else the account might buy) and
``/api/v1/suggestions/acceptance`` (how many suggestions reps sold from)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Controller, Request, get
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import principal_of
from server.auth.models import Role
from server.errors import BadRequest
from server.rest import IdParam, OptionalIdQuery, allows, as_utc
from server.suggestions import service
from server.suggestions.schemas import AcceptanceOut, SuggestionList, SuggestionOut

__all__ = ["SuggestionController"]

DEFAULT_PERIOD = timedelta(days=30)


class SuggestionController(Controller):
    path = "/"
    tags = ("suggestions",)

    @get(
        "/accounts/{account_id:str}/suggestions",
        guards=[allows(Role.REP, Role.MANAGER)],
        summary="An account's cross-sell and up-sell suggestions, best first",
    )
    async def list_suggestions(
        self, request: Request[Any, Any, Any], db: AsyncSession, account_id: IdParam
    ) -> SuggestionList:
        rows = await service.account_suggestions(db, principal_of(request), account_id)
        return SuggestionList(
            items=[
                SuggestionOut(
                    id=s.id,
                    account_id=s.account_id,
                    product_id=s.product_id,
                    sku=p.sku,
                    product_name=p.name,
                    kind=s.kind,
                    rank=s.rank,
                    score=s.score,
                    support=s.support,
                    lift=s.lift,
                    because_product_id=s.because_product_id,
                    reason=s.reason,
                    computed_at=s.computed_at,
                    version=s.version,
                )
                for s, p in rows
            ]
        )

    @get(
        "/suggestions/acceptance",
        guards=[allows(Role.MANAGER)],
        summary="Share of the suggestions made in a period that an order was taken from",
    )
    async def acceptance(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        since: datetime | None = None,
        until: datetime | None = None,
        territory_id: OptionalIdQuery = None,
    ) -> AcceptanceOut:
        until = as_utc(until) or datetime.now(UTC)
        since = as_utc(since) or until - DEFAULT_PERIOD
        if since >= until:
            raise BadRequest("since must be before until", field="since")
        found = await service.acceptance(
            db,
            principal_of(request),
            since=since,
            until=until,
            territory_ids=None if territory_id is None else [territory_id],
        )
        return AcceptanceOut(
            since=since,
            until=until,
            offered=found.offered,
            accepted=found.accepted,
            rate=None if found.rate is None else round(found.rate, 4),
            lines=found.lines,
            revenue=f"{found.revenue:.2f}",
        )
