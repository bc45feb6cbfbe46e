"""Answering "why this rep?" and "why not me?" from the stored decision traces.

The trace of the latest decision is the record: the winner and how it won, every eligible
candidate's score, and for each precedence step the reps it excluded (up to a cap). A rep the
trace does not mention (outside the lead's grid cell, or past the cap) is re-evaluated against the
current rules and marked as such.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role, User
from server.auth.principal import Principal
from server.errors import Forbidden, NotFound
from server.leads.context import active_rules, load_profiles, local_day, rep_loads
from server.leads.engine import LeadFacts, explain_rep
from server.leads.models import AssignmentDecision, Lead
from server.leads.service import can_see

__all__ = ["explain_assignment"]


def _decision_dict(d: AssignmentDecision) -> dict[str, Any]:
    return {
        "id": d.id,
        "at": d.at,
        "kind": d.kind,
        "winner_id": d.winner_id,
        "previous_assignee_id": d.previous_assignee_id,
        "reason": d.reason,
        "rule_set_id": d.rule_set_id,
        "rule_set_version": d.rule_set_version,
        "seed": d.seed,
        "draw": d.draw,
    }


def _figures(c: dict[str, Any]) -> str:
    """A candidate's figures as a person reads them: rounded, with units."""
    km = c.get("distance_km")
    distance = "no home base" if km is None else f"{km:.1f} km away"
    return (
        f"score {c['score']:.2f}: fairness deficit {c['deficit']:+.1f} leads, {distance}, "
        f"load {c['load']:.0%} of capacity"
    )


def _who(c: dict[str, Any] | None, names: dict[str, str]) -> str:
    if c is None:
        return "another rep"
    return names.get(c["rep_id"]) or c.get("rep_name") or c["rep_id"]


def _why_winner(decision: AssignmentDecision, names: dict[str, str] | None = None) -> str:
    names = names or {}
    trace = decision.trace
    if decision.kind == "manual":
        return f"assigned manually by {trace.get('actor', 'a manager')}: {decision.reason}"
    if decision.winner_id is None:
        return f"unassigned: {decision.reason}"
    prefix = "re-routed after the first-touch SLA; " if decision.kind == "sla_reroute" else ""
    if trace.get("via") == "account_owner":
        return prefix + "owner of the account matching the lead's company"
    best = next((c for c in trace.get("candidates", []) if c["rep_id"] == decision.winner_id), None)
    ties = trace.get("ties", [])
    text = prefix + "highest score among eligible reps"
    if best is not None:
        text += f": {_who(best, names)}, {_figures(best)}"
    if len(ties) > 1:
        text += (
            f"; tied with {len(ties) - 1} other rep(s), settled by the seeded draw "
            f"(seed {trace.get('seed')}, draw {trace.get('draw')} of {len(ties)})"
        )
    return text


def _from_trace(
    decision: AssignmentDecision, rep_id: str, names: dict[str, str] | None = None
) -> dict[str, Any] | None:
    names = names or {}
    trace = decision.trace
    if decision.kind == "manual":
        return None
    if rep_id == decision.winner_id:
        return {"outcome": "winner", "detail": _why_winner(decision, names)}
    override = trace.get("override") or {}
    if override.get("applied") and decision.winner_id:
        return {
            "outcome": "not_considered",
            "rule": "account_owner",
            "detail": "the lead went to the owner of the matching account before any scoring",
        }
    candidates = {c["rep_id"]: c for c in trace.get("candidates", [])}
    if rep_id in candidates:
        mine = candidates[rep_id]
        winner = candidates.get(decision.winner_id or "")
        if winner is not None and mine["score"] == winner["score"]:
            return {
                "outcome": "lost_draw",
                "candidate": mine,
                "winner": winner,
                "detail": f"tied on score {mine['score']:.2f}; the seeded draw (seed "
                f"{trace.get('seed')}, draw {trace.get('draw')}) picked {_who(winner, names)}",
            }
        detail = "eligible but scored lower"
        if winner is not None:
            detail += f" ({_figures(mine)}) than {_who(winner, names)} ({_figures(winner)})"
        return {"outcome": "scored_lower", "candidate": mine, "winner": winner, "detail": detail}
    for stage in trace.get("stages", []):
        for excluded in stage.get("excluded", []):
            if excluded["rep_id"] == rep_id:
                return {"outcome": "excluded", "rule": stage["rule"], "detail": excluded["detail"]}
    if rep_id in (trace.get("lead") or {}).get("excluded_reps", []):
        return {"outcome": "excluded", "rule": "region", "detail": "already held this lead"}
    return None


def _rep_ids(trace: dict[str, Any]) -> set[str]:
    ids = {c["rep_id"] for c in trace.get("candidates", [])}
    for stage in trace.get("stages", []):
        ids |= {e["rep_id"] for e in stage.get("excluded", [])}
    if trace.get("override"):
        ids.add(trace["override"]["rep_id"])
    return ids


async def _names(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    """Names beside ids: a trace stored before names were kept, or a rep renamed since, still
    reads with the name the rep has now."""
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.full_name).where(User.id.in_(list(ids))))
    return dict(rows.all())


async def explain_assignment(
    session: AsyncSession, principal: Principal, lead_id: str, rep_id: str | None, *, now: datetime
) -> dict[str, Any]:
    lead = await session.get(Lead, lead_id)
    visible = (
        lead is not None
        and lead.deleted_at is None
        and (
            can_see(principal, lead)
            or (principal.role is Role.REP and lead.region_id == principal.region_id)
        )
    )
    if lead is None or not visible:
        raise NotFound(f"no lead {lead_id}")
    if principal.role is Role.REP:
        # A rep may ask about a lead of their region, but only "why not me".
        if rep_id not in (None, principal.user_id):
            raise Forbidden("a rep may only ask about themselves", field="rep_id")
        rep_id = principal.user_id
    decisions = list(
        (
            await session.execute(
                select(AssignmentDecision)
                .where(AssignmentDecision.lead_id == lead.id)
                .order_by(AssignmentDecision.at.desc(), AssignmentDecision.id.desc())
            )
        ).scalars()
    )
    latest = decisions[0] if decisions else None
    trace_ids = _rep_ids(latest.trace) if latest else set()
    names = await _names(
        session,
        trace_ids
        | {i for i in (lead.assignee_id, rep_id) if i}
        | {d.winner_id for d in decisions if d.winner_id},
    )
    answer: dict[str, Any] = {
        "lead_id": lead.id,
        "status": lead.status,
        "assignee_id": lead.assignee_id,
        "assignee_name": names.get(lead.assignee_id or ""),
        "assignment_kind": lead.assignment_kind,
        "unassigned_reason": lead.unassigned_reason,
        "why": _why_winner(latest, names) if latest else "not evaluated yet",
        "rep_names": names,
        "decision": None if latest is None else {**_decision_dict(latest), "trace": latest.trace},
        "history": [_decision_dict(d) for d in decisions],
        "rep": None,
    }
    if rep_id is None:
        return answer
    recorded = _from_trace(latest, rep_id, names) if latest else None
    if recorded is not None:
        answer["rep"] = {
            "rep_id": rep_id,
            "rep_name": names.get(rep_id),
            "evaluated": "at_decision",
            **recorded,
        }
        return answer
    profiles = await load_profiles(session, [rep_id])
    profile = profiles.get(rep_id)
    if profile is None:
        answer["rep"] = {
            "rep_id": rep_id,
            "evaluated": "now",
            "outcome": "not_a_rep",
            "detail": "not a rep; only reps receive leads",
        }
        return answer
    region_id = lead.region_id
    active = await active_rules(session, region_id)
    today, day_start = await local_day(session, region_id, now)
    load = (
        await rep_loads(
            session,
            [rep_id],
            now=now,
            day_start=day_start,
            window_days=active.rules.fairness_window_days,
        )
    )[rep_id]
    if region_id is not None and profile.region_id != region_id:
        failed: tuple[str, str] | None = ("region", "works in another region")
    else:
        facts = LeadFacts(lead.id, lead.lat, lead.lon, lead.product_line, lead.language)
        failed = explain_rep(profile, facts, load, active.rules, today)
    if failed is None:
        answer["rep"] = {
            "rep_id": rep_id,
            "evaluated": "now",
            "outcome": "eligible_now",
            "detail": "passes every rule now; was not among the recorded candidates "
            "(the situation has changed since the decision, or the lead was assigned manually)",
        }
    else:
        answer["rep"] = {
            "rep_id": rep_id,
            "evaluated": "now",
            "outcome": "excluded",
            "rule": failed[0],
            "detail": failed[1],
        }
    return answer
