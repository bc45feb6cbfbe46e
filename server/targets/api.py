"""``/api/v1/targets``: monthly quotas per rep, territory and region; attainment against them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, delete, get, put
from litestar.params import Parameter
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import principal_of, requires_role
from server.auth.models import Role
from server.errors import BadRequest, NotFound
from server.forecasting.reports import resolve_scope
from server.targets import service
from server.targets.models import Target
from server.targets.schemas import (
    AttainmentOut,
    ImportOut,
    LineErrorOut,
    TargetIn,
    TargetList,
    TargetOut,
)
from server.targets.zones import display_zone

__all__ = ["TargetController", "target_out"]

MAX_CSV_BYTES = 2 * 1024 * 1024


def target_out(t: Target) -> TargetOut:
    return TargetOut(
        id=t.id,
        scope=t.scope_type,
        scope_id=t.scope_id,
        region_id=t.region_id,
        month=f"{t.month:%Y-%m}",
        amount=t.amount,
        currency=t.currency,
        set_by_id=t.set_by_id,
        updated_at=t.updated_at,
    )


class TargetController(Controller):
    path = "/targets"
    tags = ("targets",)

    @get("/", summary="Targets in the caller's scope (manager: their region; rep: their own)")
    async def list_targets(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        region_id: str | None = None,
        scope_type: str | None = Parameter(
            query="scope", default=None, description="rep, territory or region"
        ),
        scope_id: str | None = None,
        month_from: str | None = Parameter(default=None, description="YYYY-MM"),
        month_to: str | None = Parameter(default=None, description="YYYY-MM"),
    ) -> TargetList:
        rows = await service.list_targets(
            db,
            principal_of(request),
            region_id=region_id,
            scope_type=scope_type,
            scope_id=scope_id,
            month_from=service.parse_month(month_from, "month_from") if month_from else None,
            month_to=service.parse_month(month_to, "month_to") if month_to else None,
        )
        return TargetList(items=[target_out(t) for t in rows])

    @put(
        "/",
        guards=[requires_role(Role.MANAGER)],
        summary="Set the target of one rep, territory or region for one month (create or replace)",
    )
    async def set_target(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: TargetIn
    ) -> Response[TargetOut]:
        principal = principal_of(request)
        scope_id = data.scope_id
        names = await service.resolve_names(db, {(data.scope, scope_id)})
        target, created = await service.set_target(
            db,
            principal,
            scope_type=data.scope,
            scope_id=names.get((data.scope, scope_id), scope_id),
            month=service.parse_month(data.month),
            amount=data.amount,
        )
        out = target_out(target)
        await db.commit()
        return Response(out, status_code=201 if created else 200)

    @delete("/{target_id:str}", guards=[requires_role(Role.MANAGER)], summary="Remove a target")
    async def delete_target(
        self, request: Request[Any, Any, Any], db: AsyncSession, target_id: str
    ) -> None:
        await service.delete_target(db, principal_of(request), target_id)
        await db.commit()

    @put(
        "/import",
        guards=[requires_role(Role.MANAGER)],
        summary="Import a CSV quota file (scope,scope_id,month,amount); all lines or none",
    )
    async def import_csv(self, request: Request[Any, Any, Any], db: AsyncSession) -> ImportOut:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ("text/csv", "application/csv"):
            raise BadRequest(f"send the file as text/csv, not {content_type or 'nothing'}")
        body = await request.body()
        if len(body) > MAX_CSV_BYTES:
            raise BadRequest(f"a quota file is at most {MAX_CSV_BYTES // 1024 // 1024} MiB")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("a CSV file must be UTF-8 encoded") from exc
        created, updated, errors = await service.import_csv(db, principal_of(request), text)
        if errors:
            raise BadRequest(
                f"{len(errors)} line(s) could not be read; no target was changed",
                extra={
                    "errors": [
                        msgspec.to_builtins(
                            LineErrorOut(line=e.line, field=e.field, message=e.message)
                        )
                        for e in errors
                    ]
                },
            )
        await db.commit()
        return ImportOut(created=created, updated=updated)

    @get("/attainment", summary="Sales against target, pace, last year and year on year")
    async def attainment(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        scope_type: str = Parameter(query="scope", default="region"),
        scope_id: str | None = None,
        month: str | None = Parameter(default=None, description="YYYY-MM; default this month"),
    ) -> AttainmentOut:
        principal = principal_of(request)
        if scope_type not in service.TARGET_SCOPES:
            raise BadRequest("scope must be one of rep, territory, region", field="scope")
        scope = await resolve_scope(db, principal, scope_type, scope_id)
        if scope.region_id is None:
            raise NotFound(f"no {scope_type} {scope_id}")
        settings = request.app.state.settings
        zone_name = await display_zone(db, settings, scope.region_id)
        zone = ZoneInfo(zone_name)
        now = datetime.now(UTC)
        local = now.astimezone(zone)
        the_month = service.parse_month(month) if month else local.date().replace(day=1)
        # resolve_scope above refused anything outside the caller's scope (a rep: themself);
        # only the asked-for line of the region's figures is returned.
        figures = await service.region_pace(
            db,
            scope.region_id,
            month=the_month,
            now=now,
            tz=zone,
            tz_name=zone_name,
            holiday_calendar=settings.holidays,
        )
        if scope.type == "region":
            sp = figures.region
        elif scope.type == "territory":
            sp = next(t for t in figures.territories if t.id == scope.id)
        else:
            found = figures.reps.get(scope.id)
            if found is None:
                raise NotFound(f"no rep {scope_id}")
            sp = found
        p = sp.pace
        return AttainmentOut(
            scope=sp.scope_type,
            scope_id=sp.id,
            scope_name=sp.name,
            month=f"{the_month:%Y-%m}",
            timezone=zone_name,
            target=p.target,
            target_source=sp.target_source,
            actual=p.actual,
            expected_share=p.share,
            expected_to_date=p.expected,
            attainment=p.attainment,
            pace=p.pace,
            projection=p.projection,
            status=p.status.value,
            last_year=sp.last_year,
            last_year_to_date=sp.last_year_to_date,
            yoy=sp.yoy,
        )
