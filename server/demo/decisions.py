"""The demo's assigned leads, decided by the assignment engine itself.

The generator places leads and picks who works them; left at that, a manager asking "why this
rep?" about any of them would read "not evaluated yet". So after loading, each assigned lead of
the demo is replayed through the engine (in the order the leads arrived, each decision counting
against the next, under the region's active rules) and the engine's decision is recorded and
applied, exactly as live assignment would have done: same trace, same "why"."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.leads.context import active_rules, day_bounds, load_reps, region_zone
from server.leads.engine import Engine, LeadFacts, RepLoad
from server.leads.models import AssignmentDecision, Lead
from server.leads.service import decision_trace

__all__ = ["record_demo_decisions"]


async def record_demo_decisions(session: AsyncSession) -> int:
    """Decide every assigned demo lead that has no decision yet; returns how many."""
    decided = select(AssignmentDecision.lead_id)
    leads = list(
        (
            await session.execute(
                select(Lead)
                .where(
                    Lead.assignee_id.is_not(None),
                    Lead.deleted_at.is_(None),
                    Lead.id.not_in(decided),
                )
                .order_by(Lead.assigned_at, Lead.id)
            )
        ).scalars()
    )
    by_region: dict[str | None, list[Lead]] = defaultdict(list)
    for lead in leads:
        by_region[lead.region_id].append(lead)
    for region_id, group in by_region.items():
        active = await active_rules(session, region_id)
        engine = Engine(await load_reps(session, region_id), active.rules)
        zone = await region_zone(session, region_id)
        loads: dict[str, RepLoad] = {}
        for lead in group:
            at = lead.assigned_at or lead.created_at
            today, _ = day_bounds(zone, at)
            facts = LeadFacts(
                id=lead.id,
                lat=lead.lat,
                lon=lead.lon,
                product_line=lead.product_line,
                language=lead.language,
            )
            # A seed from the lead's id: the same demo lead draws the same way on a reload.
            seed = random.Random(lead.id).getrandbits(31)
            decision = engine.assign(facts, loads, seed=seed, today=today)
            if decision.winner_id is None:
                # The rules leave it to nobody: it waits in the unassigned queue, as live.
                lead.assignee_id = None
                lead.assigned_at = None
                lead.assignment_kind = None
                lead.status = "new"
                lead.contacted_at = None
                lead.first_touch_due_at = None
                lead.unassigned_reason = decision.reason.value if decision.reason else None
            else:
                lead.assignee_id = decision.winner_id
                lead.first_touch_due_at = at + timedelta(hours=active.rules.sla_hours)
            session.add(
                AssignmentDecision(
                    lead_id=lead.id,
                    at=at,
                    kind="auto",
                    region_id=region_id,
                    rule_set_id=active.rule_set_id,
                    rule_set_version=active.version,
                    winner_id=decision.winner_id,
                    reason=decision.reason.value if decision.reason else None,
                    seed=decision.seed,
                    draw=decision.draw,
                    trace=decision_trace(decision, active, "auto", {"demo": True}),
                )
            )
    await session.flush()
    return len(leads)
