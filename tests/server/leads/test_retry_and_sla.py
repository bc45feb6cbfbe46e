"""The scheduled lead work: retrying the queue, the first-touch SLA, and field leads from sync."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.base import utcnow
from server.leads.models import AssignmentRuleSet, Lead
from server.leads.service import assign_leads, assign_pending, reroute_overdue
from tests.seed import World, run_db
from tests.server.leads.world import HAMBURG, audit, decisions, lead, leads_world, update_user
from tests.stores import Store


def _new_lead(url: str, **fields: object) -> str:
    async def work(session: AsyncSession) -> str:
        row = Lead(company=str(fields.pop("company", "Acme")), status="new", **fields)
        session.add(row)
        await session.flush()
        return row.id

    return run_db(url, work)


def _assign(url: str, lead_id: str, *, hours_from_now: float = 0) -> None:
    now = utcnow() + timedelta(hours=hours_from_now)
    run_db(url, lambda s: assign_leads(s, [lead_id], now=now))


def _reroute(url: str, *, hours_from_now: float) -> dict[str, int]:
    now = utcnow() + timedelta(hours=hours_from_now)
    return run_db(url, lambda s: reroute_overdue(s, now=now))


def _north_lead(url: str, world: World) -> str:
    return _new_lead(url, region_id=world.regions["NORTH"], **HAMBURG)


def test_a_field_lead_is_assigned_by_assign_leads(store: Store) -> None:
    world = leads_world(store.url)
    lead_id = _new_lead(store.url, source="field", captured_by_id=world.user("rep_n2"), **HAMBURG)
    outcomes = run_db(store.url, lambda s: assign_leads(s, [lead_id, "missing"], now=utcnow()))
    assert [(o.lead_id, o.assignee_id, o.skipped) for o in outcomes] == [
        (lead_id, world.user("rep_n1"), None),
        ("missing", None, "not_found"),
    ]
    assert lead(store.url, lead_id).region_id == world.regions["NORTH"]


def test_the_retry_assigns_a_lead_once_a_rep_has_room(store: Store) -> None:
    world = leads_world(store.url)
    update_user(store.url, world.user("rep_n1"), capacity=0)
    lead_id = _north_lead(store.url, world)
    _assign(store.url, lead_id)
    assert lead(store.url, lead_id).unassigned_reason == "all_at_capacity"
    run_db(store.url, lambda s: assign_pending(s, now=utcnow()))
    assert len(decisions(store.url, lead_id)) == 1  # same reason: nothing new written
    update_user(store.url, world.user("rep_n1"), capacity=25)
    outcomes, after = run_db(store.url, lambda s: assign_pending(s, now=utcnow()))
    assert after is None
    assert [(o.lead_id, o.assignee_id) for o in outcomes] == [(lead_id, world.user("rep_n1"))]
    assert lead(store.url, lead_id).unassigned_reason is None


def test_an_overdue_lead_is_rerouted_to_the_next_eligible_rep_and_the_manager_told(
    store: Store,
) -> None:
    world = leads_world(store.url)
    update_user(store.url, world.user("rep_n2"), service_radius_km=150.0)
    update_user(store.url, world.user("rep_n2"), active=False)
    lead_id = _north_lead(store.url, world)
    _assign(store.url, lead_id)
    update_user(store.url, world.user("rep_n2"), active=True)
    assert lead(store.url, lead_id).assignee_id == world.user("rep_n1")
    assert _reroute(store.url, hours_from_now=23)["overdue"] == 0
    counts = _reroute(store.url, hours_from_now=25)
    assert counts["rerouted"] == 1
    moved = lead(store.url, lead_id)
    assert (moved.assignee_id, moved.assignment_kind) == (world.user("rep_n2"), "sla_reroute")
    (entry,) = audit(store.url, "lead.sla_rerouted")
    assert entry.region_id == world.regions["NORTH"]
    assert (entry.details["from"], entry.details["to"]) == (
        world.user("rep_n1"),
        world.user("rep_n2"),
    )
    last = decisions(store.url, lead_id)[-1]
    assert (last.kind, last.previous_assignee_id) == ("sla_reroute", world.user("rep_n1"))


def test_with_no_one_else_eligible_the_rep_keeps_the_lead_and_the_breach_is_reported(
    store: Store,
) -> None:
    world = leads_world(store.url)
    lead_id = _north_lead(store.url, world)
    _assign(store.url, lead_id)
    assert _reroute(store.url, hours_from_now=25)["kept"] == 1
    kept = lead(store.url, lead_id)
    assert kept.assignee_id == world.user("rep_n1")
    assert kept.first_touch_due_at is not None and kept.first_touch_due_at > utcnow() + timedelta(
        hours=40
    )
    (entry,) = audit(store.url, "lead.sla_breached")
    assert entry.details["kept_because"] == "no other eligible rep (no_rep_covers)"


def test_a_contacted_lead_is_not_rerouted(store: Store) -> None:
    world = leads_world(store.url)
    lead_id = _north_lead(store.url, world)
    _assign(store.url, lead_id)

    async def contact(session: AsyncSession) -> None:
        row = await session.get(Lead, lead_id)
        assert row is not None
        row.status, row.contacted_at = "contacted", utcnow()

    run_db(store.url, contact)
    assert _reroute(store.url, hours_from_now=48)["overdue"] == 0


def test_manual_assignments_are_not_rerouted_unless_the_rules_say_so(store: Store) -> None:
    world = leads_world(store.url)
    update_user(store.url, world.user("rep_n2"), service_radius_km=150.0)
    lead_id = _north_lead(store.url, world)

    async def manual(session: AsyncSession) -> None:
        row = await session.get(Lead, lead_id)
        assert row is not None
        row.assignee_id, row.assignment_kind, row.status = (
            world.user("rep_n1"),
            "manual",
            "assigned",
        )
        row.assigned_at = utcnow()
        row.first_touch_due_at = utcnow() + timedelta(hours=1)

    run_db(store.url, manual)
    assert _reroute(store.url, hours_from_now=2)["skipped_manual"] == 1
    assert lead(store.url, lead_id).assignee_id == world.user("rep_n1")

    async def allow(session: AsyncSession) -> None:
        session.add(
            AssignmentRuleSet(
                region_id=world.regions["NORTH"],
                version=1,
                active=True,
                rules={"sla_reroute_manual": True},
            )
        )

    run_db(store.url, allow)
    assert _reroute(store.url, hours_from_now=2)["rerouted"] == 1
    assert lead(store.url, lead_id).assignee_id == world.user("rep_n2")
