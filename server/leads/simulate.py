"""Replaying past leads under a draft rule set. Pure: the caller supplies the leads in arrival
order (with what really happened to them), the reps, and the load at the start.

Each lead is decided at its arrival time: daily quotas reset when the region's local day
changes, the fairness window rolls (receipts older than the window drop out), and a simulated
assignment keeps counting against the rep's capacity until the moment the real lead was closed
(converted or disqualified; a lead still open today stays open). Seeds derive from the lead id, so
a simulation is reproducible.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from server.leads.engine import Decision, Engine, LeadFacts, RepLoad, RepProfile
from server.leads.rules import AssignmentRules

__all__ = ["RepDifference", "SimLead", "SimulationResult", "seed_for", "simulate"]


def seed_for(lead_id: str) -> int:
    return int.from_bytes(hashlib.sha256(lead_id.encode()).digest()[:6], "big")


@dataclass(frozen=True, slots=True)
class SimLead:
    facts: LeadFacts
    at: datetime
    day: date
    """The local day the lead arrived on (quotas and working days follow it)."""
    actual_assignee: str | None
    actual_reason: str | None = None
    closes_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RepDifference:
    rep_id: str
    actual: int
    simulated: int

    @property
    def difference(self) -> int:
        return self.simulated - self.actual


@dataclass
class SimulationResult:
    leads: int
    changed: int
    reps: list[RepDifference]
    unassigned_actual: dict[str, int]
    unassigned_simulated: dict[str, int]
    decisions: list[Decision] = field(default_factory=list)


def simulate(
    reps: Sequence[RepProfile],
    rules: AssignmentRules,
    leads: Sequence[SimLead],
    *,
    start_loads: Mapping[str, RepLoad],
    window_receipts: Iterable[tuple[datetime, str]] = (),
    owners: Mapping[str, RepProfile] | None = None,
) -> SimulationResult:
    engine = Engine(reps, rules, owners=owners)
    loads = {rid: RepLoad(v.open_leads, 0, 0) for rid, v in start_loads.items()}
    receipts: deque[tuple[datetime, str]] = deque(sorted(window_receipts))
    for _, rid in receipts:
        loads.setdefault(rid, RepLoad()).window_count += 1
    closing: list[tuple[datetime, int, str]] = []
    window = timedelta(days=rules.fairness_window_days)
    day: date | None = None
    simulated: Counter[str] = Counter()
    actual: Counter[str] = Counter()
    unassigned_sim: Counter[str] = Counter()
    unassigned_actual: Counter[str] = Counter()
    changed = 0
    decisions = []
    for n, lead in enumerate(sorted(leads, key=lambda x: (x.at, x.facts.id))):
        if lead.day != day:
            day = lead.day
            for load in loads.values():
                load.assigned_today = 0
        while receipts and receipts[0][0] <= lead.at - window:
            _, rid = receipts.popleft()
            loads[rid].window_count -= 1
        while closing and closing[0][0] <= lead.at:
            _, _, rid = heapq.heappop(closing)
            loads[rid].open_leads -= 1
        decision = engine.assign(lead.facts, loads, seed=seed_for(lead.facts.id), today=lead.day)
        decisions.append(decision)
        if decision.winner_id is not None:
            simulated[decision.winner_id] += 1
            receipts.append((lead.at, decision.winner_id))
            if lead.closes_at is not None:
                heapq.heappush(closing, (max(lead.closes_at, lead.at), n, decision.winner_id))
        else:
            assert decision.reason is not None
            unassigned_sim[decision.reason.value] += 1
        if lead.actual_assignee is not None:
            actual[lead.actual_assignee] += 1
        else:
            unassigned_actual[lead.actual_reason or "pending"] += 1
        if decision.winner_id != lead.actual_assignee:
            changed += 1
    rep_ids = sorted({r.id for r in reps} | set(simulated) | set(actual))
    return SimulationResult(
        leads=len(leads),
        changed=changed,
        reps=[RepDifference(rid, actual[rid], simulated[rid]) for rid in rep_ids],
        unassigned_actual=dict(unassigned_actual),
        unassigned_simulated=dict(unassigned_sim),
        decisions=decisions,
    )
