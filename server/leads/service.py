"""Lead assignment against the database: automatic (new leads, the retry job), SLA re-routing,
manual assignment by a manager, and the region rule sets.

Leads are syncable records: every change goes through the ORM so the sync layer logs it. Each
decision is stored with its trace (``AssignmentDecision``); an unassigned lead gets a new decision
row only when its reason changes, so the retry job does not write on every pass.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.service import record
from server.auth.models import Role, User
from server.auth.principal import Principal
from server.errors import BadRequest, Conflict, NotFound
from server.leads.context import (
    ActiveRules,
    account_owners,
    active_rules,
    known_skill_names,
    load_profiles,
    load_reps,
    local_day,
    rep_loads,
)
from server.leads.engine import Decision, Engine, LeadFacts, RepLoad, explain_rep
from server.leads.geocode import Geocoder, GeoPoint, default_geocoder
from server.leads.models import AssignmentDecision, AssignmentRuleSet, Lead, parse_rules
from server.leads.rules import AssignmentRules
from server.org.models import Region
from sync.rules import RULES

__all__ = [
    "LeadOutcome",
    "assign_leads",
    "assign_manually",
    "assign_pending",
    "decision_trace",
    "get_rule_set",
    "reroute_overdue",
    "save_rule_set",
    "validate_rule_names",
]

logger = logging.getLogger("fieldline.leads")

_TERMINAL = frozenset({"converted", "disqualified"})
_TRACE_ELIGIBLE_CAP = 200


@dataclass(frozen=True, slots=True)
class LeadOutcome:
    lead_id: str
    assigned: bool
    assignee_id: str | None
    unassigned_reason: str | None
    assignment_kind: str | None
    first_touch_due_at: datetime | None
    via: str | None = None
    skipped: str | None = None
    """Why the lead was not evaluated (already assigned, closed, unknown)."""


def _new_seed() -> int:
    # 52 bits: exact in JSON numbers and in every client.
    return secrets.randbits(52)


def _outcome(lead: Lead, via: str | None = None, skipped: str | None = None) -> LeadOutcome:
    return LeadOutcome(
        lead_id=lead.id,
        assigned=lead.assignee_id is not None,
        assignee_id=lead.assignee_id,
        unassigned_reason=lead.unassigned_reason,
        assignment_kind=lead.assignment_kind,
        first_touch_due_at=lead.first_touch_due_at,
        via=via,
        skipped=skipped,
    )


def decision_trace(
    decision: Decision, active: ActiveRules, kind: str, extra: dict[str, Any]
) -> dict[str, Any]:
    trace = decision.trace  # a fresh dict on every access
    trace["kind"] = kind
    trace["rule_set"] = {"id": active.rule_set_id, "version": active.version}
    if decision.eligible and len(decision.eligible) <= _TRACE_ELIGIBLE_CAP:
        trace["eligible"] = list(decision.eligible)
    trace.update(extra)
    return trace


async def _locate(lead: Lead, geocoder: Geocoder) -> GeoPoint | None:
    try:
        return await geocoder.locate(
            lat=lead.lat,
            lon=lead.lon,
            city=lead.city,
            postal_code=lead.postal_code,
            country=lead.country,
            address_line=lead.address_line,
        )
    except Exception:  # a geocoder must never fail an assignment: no location is an answer
        logger.exception("geocoder failed for lead %s", lead.id)
        return None


async def assign_leads(
    session: AsyncSession,
    lead_ids: Sequence[str],
    *,
    now: datetime,
    geocoder: Geocoder | None = None,
) -> list[LeadOutcome]:
    """Assign each of ``lead_ids`` that is new and unassigned; the others are reported as
    skipped. Used by lead creation, by sync after a push creates leads, and by the retry job."""
    geocoder = geocoder or default_geocoder()
    found = {
        lead.id: lead
        for lead in (await session.execute(select(Lead).where(Lead.id.in_(set(lead_ids)))))
        .scalars()
        .all()
    }
    outcomes: dict[str, LeadOutcome] = {}
    pending: dict[str | None, list[tuple[Lead, GeoPoint | None]]] = defaultdict(list)
    queued: set[str] = set()
    for lead_id in lead_ids:
        lead = found.get(lead_id)
        if lead is None or lead.deleted_at is not None:
            outcomes[lead_id] = LeadOutcome(
                lead_id, False, None, None, None, None, skipped="not_found"
            )
        elif lead.assignee_id is not None:
            outcomes[lead_id] = _outcome(lead, skipped="already_assigned")
        elif lead.status != "new":
            outcomes[lead_id] = _outcome(lead, skipped=f"status_{lead.status}")
        elif lead_id not in queued:
            queued.add(lead_id)
            point = await _locate(lead, geocoder)
            if point is not None and point.precision != "given":
                lead.lat, lead.lon = point.lat, point.lon
            pending[lead.region_id].append((lead, point))

    for region_id, group in pending.items():
        active = await active_rules(session, region_id)
        rules = active.rules
        reps = await load_reps(session, region_id)
        owners_by_company = (
            await account_owners(session, [lead.company for lead, _ in group])
            if rules.account_owner_override
            else {}
        )
        owners = await load_profiles(
            session, set(owners_by_company.values()) - {r.id for r in reps}
        )
        today, day_start = await local_day(session, region_id, now)
        loads = await rep_loads(
            session,
            [r.id for r in reps] + list(owners),
            now=now,
            day_start=day_start,
            window_days=rules.fairness_window_days,
        )
        engine = Engine(reps, rules, owners=owners)
        for lead, point in group:
            facts = LeadFacts(
                id=lead.id,
                lat=point.lat if point else None,
                lon=point.lon if point else None,
                product_line=lead.product_line,
                language=lead.language,
                account_owner_id=owners_by_company.get(lead.company.strip().casefold()),
            )
            decision = engine.assign(facts, loads, seed=_new_seed(), today=today)
            location = {
                "precision": point.precision if point else None,
                "place": point.place if point else None,
            }
            if lead.region_id is None and decision.winner_id is not None:
                # A lead that came without a region joins its rep's.
                winner = engine.reps.get(decision.winner_id) or owners.get(decision.winner_id)
                lead.region_id = winner.region_id if winner else None
            _apply_auto(session, lead, decision, active, now=now, location=location)
            outcomes[lead.id] = _outcome(lead, via=decision.via)
    await session.flush()
    return [outcomes[lead_id] for lead_id in dict.fromkeys(lead_ids)]


def _apply_auto(
    session: AsyncSession,
    lead: Lead,
    decision: Decision,
    active: ActiveRules,
    *,
    now: datetime,
    location: dict[str, Any],
) -> None:
    if decision.winner_id is None:
        assert decision.reason is not None
        if lead.unassigned_reason == decision.reason.value:
            return
        lead.unassigned_reason = decision.reason.value
    else:
        lead.assignee_id = decision.winner_id
        lead.assigned_at = now
        lead.assignment_kind = "auto"
        lead.status = "assigned"
        lead.unassigned_reason = None
        lead.first_touch_due_at = now + timedelta(hours=active.rules.sla_hours)
    session.add(
        AssignmentDecision(
            lead_id=lead.id,
            at=now,
            kind="auto",
            region_id=lead.region_id,
            rule_set_id=active.rule_set_id,
            rule_set_version=active.version,
            winner_id=decision.winner_id,
            reason=decision.reason.value if decision.reason else None,
            seed=decision.seed,
            draw=decision.draw,
            trace=decision_trace(decision, active, "auto", {"location_source": location}),
        )
    )


async def assign_pending(
    session: AsyncSession, *, now: datetime, after_id: str | None = None, limit: int = 500
) -> tuple[list[LeadOutcome], str | None]:
    """One page of the retry queue: unassigned new leads with ids after ``after_id``. Returns the
    outcomes and the id to continue after (None when the queue is exhausted)."""
    query = select(Lead.id).where(
        Lead.assignee_id.is_(None), Lead.status == "new", Lead.deleted_at.is_(None)
    )
    if after_id is not None:
        query = query.where(Lead.id > after_id)
    ids = list((await session.execute(query.order_by(Lead.id).limit(limit))).scalars())
    if not ids:
        return [], None
    outcomes = await assign_leads(session, ids, now=now)
    return outcomes, (ids[-1] if len(ids) == limit else None)


# SLA ---------------------------------------------------------------------------------------


async def _previous_holders(session: AsyncSession, lead_id: str) -> tuple[set[str], int]:
    rows = (
        await session.execute(
            select(AssignmentDecision.winner_id, AssignmentDecision.kind).where(
                AssignmentDecision.lead_id == lead_id
            )
        )
    ).all()
    holders = {winner for winner, _ in rows if winner}
    reroutes = sum(1 for _, kind in rows if kind == "sla_reroute")
    return holders, reroutes


async def reroute_overdue(
    session: AsyncSession, *, now: datetime, limit: int = 200
) -> dict[str, int]:
    """Leads whose first touch is overdue go to the next eligible rep (one who has not held them
    yet), and the region's managers are told through the audit log. With no one else eligible,
    or after ``sla_max_reroutes``, the rep keeps the lead for another SLA period and the breach
    is still reported."""
    overdue = (
        (
            await session.execute(
                select(Lead)
                .where(
                    Lead.status == "assigned",
                    Lead.contacted_at.is_(None),
                    Lead.first_touch_due_at < now,
                    Lead.assignee_id.is_not(None),
                    Lead.deleted_at.is_(None),
                )
                .order_by(Lead.first_touch_due_at)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    counts = {"overdue": len(overdue), "rerouted": 0, "kept": 0, "skipped_manual": 0}
    by_region: dict[str | None, list[Lead]] = defaultdict(list)
    for lead in overdue:
        by_region[lead.region_id].append(lead)
    for region_id, leads in by_region.items():
        active = await active_rules(session, region_id)
        rules = active.rules
        reps = await load_reps(session, region_id)
        today, day_start = await local_day(session, region_id, now)
        loads = await rep_loads(
            session,
            [r.id for r in reps],
            now=now,
            day_start=day_start,
            window_days=rules.fairness_window_days,
        )
        engine = Engine(reps, rules)
        for lead in leads:
            if lead.assignment_kind == "manual" and not rules.sla_reroute_manual:
                counts["skipped_manual"] += 1
                continue
            holders, reroutes = await _previous_holders(session, lead.id)
            holders.add(lead.assignee_id or "")
            due = lead.first_touch_due_at
            previous = lead.assignee_id
            decision: Decision | None = None
            if reroutes < rules.sla_max_reroutes:
                facts = LeadFacts(
                    id=lead.id,
                    lat=lead.lat,
                    lon=lead.lon,
                    product_line=lead.product_line,
                    language=lead.language,
                    exclude=frozenset(holders),
                )
                decision = engine.decide(facts, loads, seed=_new_seed(), today=today)
            hours = rules.sla_hours
            if decision is not None and decision.winner_id is not None:
                if previous in loads:
                    loads[previous].open_leads -= 1
                loads.setdefault(decision.winner_id, RepLoad())
                winner_load = loads[decision.winner_id]
                winner_load.open_leads += 1
                winner_load.assigned_today += 1
                winner_load.window_count += 1
                lead.assignee_id = decision.winner_id
                lead.assigned_at = now
                lead.assignment_kind = "sla_reroute"
                lead.first_touch_due_at = now + timedelta(hours=hours)
                session.add(
                    AssignmentDecision(
                        lead_id=lead.id,
                        at=now,
                        kind="sla_reroute",
                        region_id=lead.region_id,
                        rule_set_id=active.rule_set_id,
                        rule_set_version=active.version,
                        winner_id=decision.winner_id,
                        previous_assignee_id=previous,
                        reason=f"first touch not made within {hours:g} h",
                        seed=decision.seed,
                        draw=decision.draw,
                        trace=decision_trace(
                            decision, active, "sla_reroute", {"overdue_since": _iso(due)}
                        ),
                    )
                )
                await record(
                    session,
                    "lead.sla_rerouted",
                    target_type="lead",
                    target_id=lead.id,
                    region_id=lead.region_id,
                    details={
                        "from": previous,
                        "to": decision.winner_id,
                        "due_at": _iso(due),
                        "reason": f"first touch not made within {hours:g} h",
                    },
                )
                counts["rerouted"] += 1
            else:
                lead.first_touch_due_at = now + timedelta(hours=hours)
                if decision is None:
                    why = "re-route limit reached"
                else:
                    reason = decision.reason.value if decision.reason else "?"
                    why = f"no other eligible rep ({reason})"
                await record(
                    session,
                    "lead.sla_breached",
                    target_type="lead",
                    target_id=lead.id,
                    region_id=lead.region_id,
                    details={"assignee_id": previous, "due_at": _iso(due), "kept_because": why},
                )
                counts["kept"] += 1
    await session.flush()
    return counts


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# Manual --------------------------------------------------------------------------------------


async def lead_in_scope(session: AsyncSession, principal: Principal, lead_id: str) -> Lead:
    """The lead if the caller may see it; NotFound otherwise (existence is never leaked)."""
    lead = await session.get(Lead, lead_id)
    if lead is None or lead.deleted_at is not None or not can_see(principal, lead):
        raise NotFound(f"no lead {lead_id}")
    return lead


def can_see(principal: Principal, lead: Lead) -> bool:
    if principal.is_admin:
        return True
    access = RULES["lead"].access
    if principal.role is Role.MANAGER:
        return lead.region_id is not None and lead.region_id == principal.region_id
    if principal.role is Role.REP:
        return access.owner_of(lead) == principal.user_id
    return bool(access.api_scopes & principal.scopes)


async def assign_manually(
    session: AsyncSession,
    principal: Principal,
    lead_id: str,
    *,
    rep_id: str,
    reason: str,
    now: datetime,
) -> LeadOutcome:
    lead = await lead_in_scope(session, principal, lead_id)
    if lead.status in _TERMINAL:
        raise Conflict(
            f"lead is {lead.status}; it can no longer be assigned",
            extra={"current": {"status": lead.status, "assignee_id": lead.assignee_id}},
        )
    rep = await session.get(User, rep_id)
    if rep is None or rep.role != Role.REP.value:
        raise BadRequest(f"{rep_id} is not a rep", field="rep_id")
    if not principal.is_admin and rep.region_id != principal.region_id:
        raise BadRequest("the rep is not in your region", field="rep_id")
    if not rep.active:
        raise BadRequest("the rep is deactivated", field="rep_id")
    if lead.assignee_id == rep.id:
        raise Conflict(
            "the lead is already assigned to this rep",
            extra={"current": {"assignee_id": lead.assignee_id, "status": lead.status}},
        )
    region_id = lead.region_id or rep.region_id
    active = await active_rules(session, region_id)
    profile = (await load_profiles(session, [rep.id]))[rep.id]
    today, day_start = await local_day(session, region_id, now)
    load = (
        await rep_loads(
            session,
            [rep.id],
            now=now,
            day_start=day_start,
            window_days=active.rules.fairness_window_days,
        )
    )[rep.id]
    facts = LeadFacts(lead.id, lead.lat, lead.lon, lead.product_line, lead.language)
    failed = explain_rep(profile, facts, load, active.rules, today)
    previous = lead.assignee_id
    lead.assignee_id = rep.id
    lead.assigned_at = now
    lead.assignment_kind = "manual"
    lead.region_id = region_id
    lead.unassigned_reason = None
    lead.first_touch_due_at = now + timedelta(hours=active.rules.sla_hours)
    if lead.status == "new":
        lead.status = "assigned"
    trace = {
        "kind": "manual",
        "rule_set": {"id": active.rule_set_id, "version": active.version},
        "actor": principal.actor,
        "reason": reason,
        "winner_id": rep.id,
        "previous_assignee_id": previous,
        # A manager may overrule the rules; what they overruled is kept for the record.
        "rules_overruled": None if failed is None else {"rule": failed[0], "detail": failed[1]},
    }
    session.add(
        AssignmentDecision(
            lead_id=lead.id,
            at=now,
            kind="manual",
            region_id=region_id,
            rule_set_id=active.rule_set_id,
            rule_set_version=active.version,
            winner_id=rep.id,
            previous_assignee_id=previous,
            reason=reason,
            seed=0,
            draw=None,
            actor_user_id=principal.user_id,
            trace=trace,
        )
    )
    await record(
        session,
        "lead.reassigned" if previous else "lead.assigned_manually",
        actor=principal,
        target_type="lead",
        target_id=lead.id,
        region_id=region_id,
        details={
            "from": previous,
            "to": rep.id,
            "reason": reason,
            "rules_overruled": trace["rules_overruled"],
        },
    )
    await session.flush()
    return _outcome(lead, via="manual")


# Rule sets -----------------------------------------------------------------------------------


async def region_in_scope(session: AsyncSession, principal: Principal, region_id: str) -> Region:
    region = await session.get(Region, region_id)
    if region is None or not (principal.is_admin or principal.region_id == region_id):
        raise NotFound(f"no region {region_id}")
    return region


async def get_rule_set(
    session: AsyncSession, principal: Principal, region_id: str
) -> tuple[ActiveRules, AssignmentRuleSet | None]:
    await region_in_scope(session, principal, region_id)
    active = await active_rules(session, region_id)
    row = await session.get(AssignmentRuleSet, active.rule_set_id) if active.rule_set_id else None
    return active, row


async def validate_rule_names(session: AsyncSession, rules: AssignmentRules) -> None:
    """Skill names in a rule set must exist (catalogue product lines or users' skills)."""
    if not rules.product_line_skills:
        return
    known = await known_skill_names(session)
    for product_line, skills in rules.product_line_skills.items():
        for i, skill in enumerate(skills):
            if skill not in known:
                raise BadRequest(
                    f"unknown skill {skill!r}: not a catalogue product line nor any user's skill",
                    field=f"rules.product_line_skills.{product_line}[{i}]",
                    extra={"known_skills": sorted(known)},
                )


async def save_rule_set(
    session: AsyncSession,
    principal: Principal,
    region_id: str,
    document: dict[str, Any],
    *,
    note: str | None,
) -> AssignmentRuleSet:
    await region_in_scope(session, principal, region_id)
    rules = parse_rules(document)
    await validate_rule_names(session, rules)
    latest = (
        await session.execute(
            select(func.max(AssignmentRuleSet.version)).where(
                AssignmentRuleSet.region_id == region_id
            )
        )
    ).scalar_one_or_none() or 0
    for old in (
        await session.execute(
            select(AssignmentRuleSet).where(
                AssignmentRuleSet.region_id == region_id, AssignmentRuleSet.active.is_(True)
            )
        )
    ).scalars():
        old.active = False
    await session.flush()
    row = AssignmentRuleSet(
        region_id=region_id,
        version=latest + 1,
        active=True,
        rules=msgspec.to_builtins(rules),
        note=note,
        created_by_id=principal.user_id,
    )
    session.add(row)
    await record(
        session,
        "leads.rules_saved",
        actor=principal,
        target_type="region",
        target_id=region_id,
        region_id=region_id,
        details={"version": latest + 1},
    )
    await session.flush()
    return row
