"""The fairness report and the rule simulator, fed from the database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.principal import Principal
from server.leads.context import (
    account_owners,
    active_rules,
    day_bounds,
    load_profiles,
    load_reps,
    region_zone,
)
from server.leads.engine import LeadFacts, RepLoad
from server.leads.fairness import FairnessReport, entitlements, report
from server.leads.geocode import default_geocoder
from server.leads.models import AssignmentDecision, Lead, parse_rules
from server.leads.rules import OPEN_STATUSES
from server.leads.service import region_in_scope, validate_rule_names
from server.leads.simulate import SimLead, SimulationResult, simulate

__all__ = ["fairness_for_region", "simulate_region"]

_CLOSED = frozenset({"converted", "disqualified"})


async def fairness_for_region(
    session: AsyncSession, principal: Principal, region_id: str, *, days: int, now: datetime
) -> FairnessReport:
    await region_in_scope(session, principal, region_id)
    since = now - timedelta(days=days)
    reps = await load_reps(session, region_id)
    weights = {r.id: r.weight for r in reps if r.active}
    rows = await session.execute(
        select(Lead.assignee_id, func.count())
        .where(
            Lead.region_id == region_id,
            Lead.assignee_id.is_not(None),
            Lead.assigned_at >= since,
            Lead.deleted_at.is_(None),
        )
        .group_by(Lead.assignee_id)
    )
    counts = {rid: int(n) for rid, n in rows if rid is not None}
    for rid in counts:
        weights.setdefault(rid, next((r.weight for r in reps if r.id == rid), 0.0))
    traces = (
        await session.execute(
            select(AssignmentDecision.trace).where(
                AssignmentDecision.region_id == region_id,
                AssignmentDecision.at >= since,
                AssignmentDecision.winner_id.is_not(None),
                AssignmentDecision.kind != "manual",
            )
        )
    ).scalars()
    eligible_sets = [t["eligible"] for t in traces if t.get("via") == "score" and "eligible" in t]
    entitled = entitlements(eligible_sets, weights) if eligible_sets else None
    return report(counts, weights, entitled=entitled)


async def simulate_region(
    session: AsyncSession,
    principal: Principal,
    region_id: str,
    *,
    days: int,
    document: dict[str, Any] | None,
    now: datetime,
) -> tuple[SimulationResult, int]:
    """Replay the region's leads of the last ``days`` days under the draft rules (the active
    rules when ``document`` is None). Returns the result and the draft's rule set version (0)."""
    await region_in_scope(session, principal, region_id)
    active = await active_rules(session, region_id)
    rules = active.rules if document is None else parse_rules(document)
    await validate_rule_names(session, rules)
    start = now - timedelta(days=days)
    reps = await load_reps(session, region_id)
    rep_ids = [r.id for r in reps]
    leads = (
        (
            await session.execute(
                select(Lead)
                .where(
                    Lead.region_id == region_id,
                    Lead.created_at >= start,
                    Lead.deleted_at.is_(None),
                )
                .order_by(Lead.created_at, Lead.id)
            )
        )
        .scalars()
        .all()
    )
    lead_ids = {lead.id for lead in leads}
    # Load at the start: leads still open now that were assigned before the period began.
    start_loads = {rid: RepLoad() for rid in rep_ids}
    open_before = await session.execute(
        select(Lead.assignee_id, func.count())
        .where(
            Lead.assignee_id.in_(rep_ids),
            Lead.status.in_(sorted(OPEN_STATUSES)),
            Lead.assigned_at < start,
            Lead.deleted_at.is_(None),
        )
        .group_by(Lead.assignee_id)
    )
    for rid, n in open_before:
        if rid is not None:
            start_loads[rid].open_leads = int(n)
    receipts = [
        (at, rid)
        for rid, at, lid in await session.execute(
            select(Lead.assignee_id, Lead.assigned_at, Lead.id).where(
                Lead.assignee_id.in_(rep_ids),
                Lead.assigned_at >= start - timedelta(days=rules.fairness_window_days),
                Lead.assigned_at < start,
                Lead.deleted_at.is_(None),
            )
        )
        if lid not in lead_ids and rid is not None and at is not None
    ]
    owners_by_company = (
        await account_owners(session, [lead.company for lead in leads])
        if rules.account_owner_override
        else {}
    )
    owners = await load_profiles(session, set(owners_by_company.values()) - set(rep_ids))
    geocoder = default_geocoder()
    zone = await region_zone(session, region_id)
    sim_leads = []
    for lead in leads:
        point = geocoder.locate_now(
            lat=lead.lat,
            lon=lead.lon,
            city=lead.city,
            postal_code=lead.postal_code,
            country=lead.country,
        )
        day, _ = day_bounds(zone, lead.created_at)
        sim_leads.append(
            SimLead(
                facts=LeadFacts(
                    id=lead.id,
                    lat=point.lat if point else None,
                    lon=point.lon if point else None,
                    product_line=lead.product_line,
                    language=lead.language,
                    account_owner_id=owners_by_company.get(lead.company.strip().casefold()),
                ),
                at=lead.created_at,
                day=day,
                actual_assignee=lead.assignee_id,
                actual_reason=lead.unassigned_reason,
                closes_at=lead.updated_at if lead.status in _CLOSED else None,
            )
        )
    result = simulate(
        reps, rules, sim_leads, start_loads=start_loads, window_receipts=receipts, owners=owners
    )
    return result, active.version
