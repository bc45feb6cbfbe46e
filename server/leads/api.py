"""The leads API: create (JSON one or batch, or CSV) with automatic assignment, list and queue,
the "why this rep / why not me" explanation, manual assignment, the simulator, the fairness
report, and the per-region rule sets."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Parameter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import principal_of, requires_role
from server.auth.models import Role, User
from server.auth.principal import Principal
from server.db.base import utcnow
from server.errors import BadRequest, Forbidden
from server.leads.csvimport import parse_csv
from server.leads.explain import explain_assignment
from server.leads.ingest import NewLead, create_leads
from server.leads.models import Lead
from server.leads.reports import fairness_for_region, simulate_region
from server.leads.schemas import (
    MAX_BATCH,
    AssignIn,
    CreateLeadsOut,
    FairnessOut,
    FairnessRepOut,
    LeadIn,
    LeadListOut,
    LeadOut,
    LeadOutcomeOut,
    LineErrorOut,
    QueueOut,
    RuleSetIn,
    RuleSetOut,
    SimulatedRepOut,
    SimulateIn,
    SimulateOut,
)
from server.leads.service import (
    LeadOutcome,
    assign_manually,
    get_rule_set,
    lead_in_scope,
    save_rule_set,
)
from server.scoping import visible

__all__ = ["LeadController", "RegionRulesController"]

_decode_leads = msgspec.json.Decoder(LeadIn | list[LeadIn])


async def _can_write_leads(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    principal = principal_of(connection)
    if principal.role in (Role.MANAGER, Role.ADMIN) or "leads:write" in principal.scopes:
        return
    raise Forbidden(
        "adding leads needs a manager or admin login, or an API key with the 'leads:write' scope",
        extra={"required_scope": "leads:write"},
    )


async def _can_review(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal = principal_of(connection)
    if (
        principal.role in (Role.MANAGER, Role.ADMIN)
        or {"leads:read", "leads:write"} & principal.scopes
    ):
        return
    raise Forbidden("the lead queue is for managers, admins and lead-scoped API keys")


def _scoped(query: Any, principal: Principal) -> Any:
    """The leads the caller reaches, as the lead's declaration says (``sync.rules``): what a
    rep's device receives is what this lists for them."""
    if principal.is_admin or principal.role in (Role.MANAGER, Role.REP):
        return query.where(visible(principal, Lead))
    if {"leads:read", "leads:write"} & principal.scopes:
        return query
    raise Forbidden("this needs the 'leads:read' scope", extra={"required_scope": "leads:read"})


def _lead_out(lead: Lead) -> LeadOut:
    return LeadOut(
        id=lead.id,
        company=lead.company,
        contact_name=lead.contact_name,
        email=lead.email,
        phone=lead.phone,
        address_line=lead.address_line,
        city=lead.city,
        postal_code=lead.postal_code,
        country=lead.country,
        lat=lead.lat,
        lon=lead.lon,
        source=lead.source,
        product_line=lead.product_line,
        language=lead.language,
        region_id=lead.region_id,
        status=lead.status,
        assignee_id=lead.assignee_id,
        assigned_at=lead.assigned_at,
        assignment_kind=lead.assignment_kind,
        unassigned_reason=lead.unassigned_reason,
        first_touch_due_at=lead.first_touch_due_at,
        contacted_at=lead.contacted_at,
        created_at=lead.created_at,
    )


def _outcome_out(outcome: LeadOutcome, line: int | None = None) -> LeadOutcomeOut:
    return LeadOutcomeOut(
        lead_id=outcome.lead_id,
        status="assigned" if outcome.assigned else "unassigned",
        assignee_id=outcome.assignee_id,
        assignment_kind=outcome.assignment_kind,
        unassigned_reason=outcome.unassigned_reason,
        first_touch_due_at=outcome.first_touch_due_at,
        via=outcome.via,
        line=line,
    )


def _json_field(message: str) -> str | None:
    if " - at `$" not in message:
        return None
    path = message.split(" - at `$", 1)[1].rstrip("`")
    return path.lstrip(".") or None


def _parse_body(body: bytes, content_type: str) -> tuple[list[NewLead], bool, list[LineErrorOut]]:
    if content_type in ("text/csv", "application/csv"):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("a CSV upload must be UTF-8 encoded") from exc
        rows, errors = parse_csv(text)
        if len(rows) + len(errors) > MAX_BATCH:
            raise BadRequest(f"at most {MAX_BATCH} leads per request")
        line_errors = [LineErrorOut(line=e.line, field=e.field, message=e.message) for e in errors]
        return [NewLead(r.lead, r.line) for r in rows], True, line_errors
    if content_type not in ("application/json", ""):
        raise HTTPException(
            status_code=415,
            detail=f"send application/json (one lead or an array) or text/csv, not {content_type}",
        )
    try:
        decoded = _decode_leads.decode(body)
    except msgspec.ValidationError as exc:
        message = str(exc)
        field = _json_field(message)
        if field is None and "unknown field `" in message:
            field = message.split("unknown field `", 1)[1].split("`", 1)[0]
        raise BadRequest(f"invalid lead: {message}", field=field) from exc
    except msgspec.DecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from exc
    if isinstance(decoded, LeadIn):
        return [NewLead(decoded)], False, []
    if not decoded:
        raise BadRequest("the batch is empty")
    if len(decoded) > MAX_BATCH:
        raise BadRequest(f"at most {MAX_BATCH} leads per request (got {len(decoded)})")
    return [NewLead(item) for item in decoded], True, []


async def _rep_names(db: AsyncSession, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = await db.execute(select(User.id, User.full_name).where(User.id.in_(ids)))
    return dict(rows.all())


class LeadController(Controller):
    path = "/leads"
    tags = ("leads",)

    @post(
        "/",
        guards=[_can_write_leads],
        status_code=201,
        summary="Add one lead, a JSON batch (≤ 1000) or a CSV file; each is assigned at once",
    )
    async def create(self, request: Request[Any, Any, Any], db: AsyncSession) -> CreateLeadsOut:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        items, batch, line_errors = _parse_body(await request.body(), content_type)
        if not items:
            raise BadRequest(
                "no lead could be read",
                extra={"errors": [msgspec.to_builtins(e) for e in line_errors]},
            )
        results, domain_errors = await create_leads(
            db, principal_of(request), items, batch=batch, now=utcnow()
        )
        line_errors += [
            LineErrorOut(line=e.line, field=e.field, message=e.message) for e in domain_errors
        ]
        line_errors.sort(key=lambda e: e.line)
        if not results:
            raise BadRequest(
                "no lead could be imported",
                extra={"errors": [msgspec.to_builtins(e) for e in line_errors]},
            )
        outcomes = [_outcome_out(outcome, line) for line, outcome in results]
        assigned = sum(1 for o in outcomes if o.status == "assigned")
        return CreateLeadsOut(
            created=len(outcomes),
            assigned=assigned,
            unassigned=len(outcomes) - assigned,
            leads=outcomes,
            errors=line_errors,
        )

    @get("/", summary="Leads in the caller's scope (rep: own; manager: region)")
    async def list_leads(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        status: str | None = None,
        assignee_id: str | None = None,
        region_id: str | None = None,
        cursor: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> LeadListOut:
        query = _scoped(select(Lead).where(Lead.deleted_at.is_(None)), principal_of(request))
        if status:
            query = query.where(Lead.status == status)
        if assignee_id:
            query = query.where(Lead.assignee_id == assignee_id)
        if region_id:
            query = query.where(Lead.region_id == region_id)
        if cursor:
            query = query.where(Lead.id < cursor)
        leads = (await db.execute(query.order_by(Lead.id.desc()).limit(limit + 1))).scalars().all()
        page = leads[:limit]
        return LeadListOut(
            items=[_lead_out(lead) for lead in page],
            next_cursor=page[-1].id if len(leads) > limit else None,
        )

    @get("/queue", guards=[_can_review], summary="Unassigned leads with their reasons")
    async def queue(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        reason: str | None = None,
        cursor: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> QueueOut:
        principal = principal_of(request)
        base = _scoped(
            select(Lead).where(
                Lead.deleted_at.is_(None), Lead.assignee_id.is_(None), Lead.status == "new"
            ),
            principal,
        )
        counts = _scoped(
            select(Lead.unassigned_reason, func.count())
            .where(Lead.deleted_at.is_(None), Lead.assignee_id.is_(None), Lead.status == "new")
            .group_by(Lead.unassigned_reason),
            principal,
        )
        by_reason = {(r or "pending"): int(n) for r, n in await db.execute(counts)}
        if reason:
            base = base.where(Lead.unassigned_reason == reason)
        if cursor:
            base = base.where(Lead.id > cursor)
        leads = (await db.execute(base.order_by(Lead.id).limit(limit + 1))).scalars().all()
        page = leads[:limit]
        return QueueOut(
            items=[_lead_out(lead) for lead in page],
            by_reason=by_reason,
            next_cursor=page[-1].id if len(leads) > limit else None,
        )

    @get(
        "/fairness",
        guards=[requires_role(Role.MANAGER)],
        summary="Each rep's share of the region's leads against its weight, spread and Gini",
    )
    async def fairness(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        region_id: str | None = None,
        days: Annotated[int, Parameter(ge=1, le=365)] = 30,
    ) -> FairnessOut:
        principal = principal_of(request)
        region = region_id or principal.region_id
        if region is None:
            raise BadRequest("region_id is required", field="region_id")
        result = await fairness_for_region(db, principal, region, days=days, now=utcnow())
        names = await _rep_names(db, [r.rep_id for r in result.reps])
        return FairnessOut(
            region_id=region,
            days=days,
            total=result.total,
            spread=result.spread,
            max_abs_deviation=result.max_abs_deviation,
            gini=result.gini,
            gini_vs_entitlement=result.gini_vs_entitlement,
            reps=[
                FairnessRepOut(
                    rep_id=r.rep_id,
                    weight=r.weight,
                    count=r.count,
                    share=r.share,
                    target=r.target,
                    deviation=r.deviation,
                    entitled=r.entitled,
                    rep_name=names.get(r.rep_id),
                )
                for r in result.reps
            ],
        )

    @post(
        "/assignment/simulate",
        guards=[requires_role(Role.MANAGER)],
        status_code=200,
        summary="Replay the last N days of a region's leads under a draft rule set",
    )
    async def simulate(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: SimulateIn
    ) -> SimulateOut:
        result, version = await simulate_region(
            db,
            principal_of(request),
            data.region_id,
            days=data.days,
            document=data.rules,
            now=utcnow(),
        )
        names = await _rep_names(db, [r.rep_id for r in result.reps])
        return SimulateOut(
            region_id=data.region_id,
            days=data.days,
            leads=result.leads,
            changed=result.changed,
            reps=[
                SimulatedRepOut(
                    rep_id=r.rep_id,
                    actual=r.actual,
                    simulated=r.simulated,
                    difference=r.difference,
                    rep_name=names.get(r.rep_id),
                )
                for r in result.reps
            ],
            unassigned_actual=result.unassigned_actual,
            unassigned_simulated=result.unassigned_simulated,
            active_version=version,
        )

    @get("/{lead_id:str}", summary="One lead")
    async def get_lead(
        self, request: Request[Any, Any, Any], db: AsyncSession, lead_id: str
    ) -> LeadOut:
        return _lead_out(await lead_in_scope(db, principal_of(request), lead_id))

    @get(
        "/{lead_id:str}/assignment",
        summary="Why this rep got the lead; with rep_id, why that rep did not",
    )
    async def assignment(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lead_id: str,
        rep_id: str | None = None,
    ) -> dict[str, Any]:
        return await explain_assignment(db, principal_of(request), lead_id, rep_id, now=utcnow())

    @post(
        "/{lead_id:str}/assign",
        guards=[requires_role(Role.MANAGER)],
        status_code=200,
        summary="Assign or reassign by hand (audited; the engine never undoes it)",
    )
    async def assign(
        self, request: Request[Any, Any, Any], db: AsyncSession, lead_id: str, data: AssignIn
    ) -> LeadOutcomeOut:
        outcome = await assign_manually(
            db,
            principal_of(request),
            lead_id,
            rep_id=data.rep_id,
            reason=data.reason,
            now=utcnow(),
        )
        return _outcome_out(outcome)


class RegionRulesController(Controller):
    path = "/regions/{region_id:str}/assignment-rules"
    tags = ("leads",)
    guards = (requires_role(Role.MANAGER),)

    @get("/", summary="The region's active assignment rules (defaults when none saved)")
    async def get_rules(
        self, request: Request[Any, Any, Any], db: AsyncSession, region_id: str
    ) -> RuleSetOut:
        active, row = await get_rule_set(db, principal_of(request), region_id)
        return RuleSetOut(
            region_id=region_id,
            id=active.rule_set_id,
            version=active.version,
            active=True,
            rules=msgspec.to_builtins(active.rules),
            note=row.note if row else None,
            created_at=row.created_at if row else None,
            created_by_id=row.created_by_id if row else None,
        )

    @put("/", summary="Save a new version of the region's rules (validated) and activate it")
    async def put_rules(
        self, request: Request[Any, Any, Any], db: AsyncSession, region_id: str, data: RuleSetIn
    ) -> RuleSetOut:
        row = await save_rule_set(db, principal_of(request), region_id, data.rules, note=data.note)
        return RuleSetOut(
            region_id=region_id,
            id=row.id,
            version=row.version,
            active=row.active,
            rules=row.rules,
            note=row.note,
            created_at=row.created_at,
            created_by_id=row.created_by_id,
        )
