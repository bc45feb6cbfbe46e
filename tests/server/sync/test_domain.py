"""What the server computes when a device's transaction lands: verification, prices, states."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from server.catalog.models import Price
from server.orders.models import Order
from sync.ids import new_id
from sync.messages import Applied, Rejected
from tests.seed import CITIES, World, run_db
from tests.server.sync.device import Device
from tests.stores import Store


def _visit_fields(world: World, lat: float, lon: float, at: str) -> dict[str, object]:
    return {
        "account_id": world.accounts["N1"][0],
        "status": "in_progress",
        "check_in_at": at,
        "check_in_lat": lat,
        "check_in_lon": lon,
        "check_in_accuracy_m": 8.0,
        "verified": True,  # a device cannot declare itself verified
    }


def test_a_check_in_far_from_the_account_is_kept_but_flagged_by_the_server(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    visit = new_id()
    [result] = rep.push(
        rep.upsert("visit", visit, _visit_fields(world, 53.9, 10.5, "2026-11-23T09:00:00Z"))
    )
    assert isinstance(result, Applied)
    rep.pull()
    stored = rep.of("visit")[visit]
    assert stored["verified"] is False
    assert "outside_radius" in stored["flags"]
    assert stored["distance_m"] > 10_000


def test_a_check_in_at_the_account_is_verified(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    visit = new_id()
    rep.push(
        rep.upsert("visit", visit, _visit_fields(world, 53.5511, 9.9937, "2026-11-23T09:00:00Z"))
    )
    rep.pull()
    assert rep.of("visit")[visit]["verified"] is True


def _check_in_and_out(rep: Device, world: World, visit: str) -> list:
    """A visit checked in at the account and checked out two minutes later (too short to
    count), as two client transactions."""
    return [
        rep.upsert("visit", visit, _visit_fields(world, 53.5511, 9.9937, "2026-11-23T09:00:00Z")),
        rep.upsert(
            "visit",
            visit,
            {"status": "completed", "check_out_at": "2026-11-23T09:02:00Z"},
            base_version=1,
        ),
    ]


def test_a_visit_checked_in_and_out_in_one_push_is_judged_as_pushed_one_by_one(
    device_for: Callable[[str], Device], world: World
) -> None:
    together, apart = device_for("rep_n1"), device_for("rep_n1")
    one_push = new_id()
    assert all(
        isinstance(r, Applied) for r in together.push(*_check_in_and_out(together, world, one_push))
    )
    two_pushes = new_id()
    check_in, check_out = _check_in_and_out(apart, world, two_pushes)
    apart.push(check_in)
    apart.push(check_out)
    together.pull()
    judged = {
        k: together.of("visit")[one_push][k] for k in ("verified", "flags", "verification_score")
    }
    assert judged["flags"] == ["too_short"] and judged["verified"] is False
    assert judged == {k: together.of("visit")[two_pushes][k] for k in judged}


def test_a_refused_transaction_leaves_the_visit_verified_by_the_one_before_it(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    visit = new_id()
    check_in, _ = _check_in_and_out(rep, world, visit)
    refused = rep.upsert("visit", visit, {"status": "no_such_status"}, base_version=1)
    applied, rejected = rep.push(check_in, refused)
    assert isinstance(applied, Applied) and isinstance(rejected, Rejected)
    rep.pull()
    assert rep.of("visit")[visit]["verified"] is True
    assert rep.of("visit")[visit]["distance_m"] < 50


def _two_visits(rep: Device, world: World, territory: str, first: str, second: str) -> list:
    """A visit at the territory's first account from 09:00, still open, and a second one at
    09:40 280 km south of it: the second overlaps the first and could not have been reached in
    time."""
    _city, lat, lon = CITIES[territory]

    def fields(at_lat: float, at: str) -> dict[str, object]:
        return {
            "account_id": world.accounts[territory][0],
            "status": "in_progress",
            "check_in_at": at,
            "check_in_lat": at_lat,
            "check_in_lon": lon,
            "check_in_accuracy_m": 8.0,
        }

    return [
        rep.upsert("visit", first, fields(lat, "2026-11-23T09:00:00Z")),
        rep.upsert("visit", second, fields(lat - 2.5, "2026-11-23T09:40:00Z")),
    ]


def test_visits_pushed_together_judge_each_other_as_if_pushed_one_by_one(
    device_for: Callable[[str], Device], world: World
) -> None:
    together, apart = device_for("rep_n1"), device_for("rep_n2")
    a, b = new_id(), new_id()
    pushed = together.push(*_two_visits(together, world, "N1", a, b))
    assert all(isinstance(r, Applied) for r in pushed)
    together.pull()
    second = together.of("visit")[b]
    assert {"impossible_travel", "overlapping_visit"} <= set(second["flags"])
    assert second["verified"] is False
    # The same two visits by another rep, one push each: the same verdicts.
    c, d = new_id(), new_id()
    for mutation in _two_visits(apart, world, "N2", c, d):
        apart.push(mutation)
    apart.pull()
    for pushed_together, pushed_apart in ((a, c), (b, d)):
        judged = apart.of("visit")[pushed_apart]
        assert {k: judged[k] for k in ("flags", "verified", "verification_score")} == {
            k: together.of("visit")[pushed_together][k]
            for k in ("flags", "verified", "verification_score")
        }


def _order(
    rep: Device, world: World, unit_price: str, *, status: str = "submitted"
) -> tuple[str, list]:
    order, line, tx = new_id(), new_id(), new_id()
    return order, [
        rep.upsert(
            "order",
            order,
            {"account_id": world.accounts["N1"][0], "status": status, "total": "37.80"},
            tx=tx,
        ),
        rep.upsert(
            "order_line",
            line,
            {
                "order_id": order,
                "product_id": world.products[1],
                "quantity": 2,
                "discount_pct": "10",
                "line_no": 1,
                "unit_price": unit_price,
            },
            tx=tx,
        ),
    ]


def test_an_order_priced_with_stale_prices_is_repriced_and_the_difference_recorded(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    # The price list has 18.50 for product 2; the device still had 21.00.
    order, mutations = _order(rep, world, "21.00")
    results = rep.push(*mutations)
    assert all(isinstance(r, Applied) for r in results), results
    rep.pull()
    stored = rep.of("order")[order]
    assert Decimal(stored["total"]) == Decimal("33.30")  # 2 × 18.50 − 10 %
    assert Decimal(stored["repricing"]["old_total"]) == Decimal("37.80")
    assert Decimal(stored["repricing"]["new_total"]) == Decimal("33.30")


def test_an_order_the_back_office_accepted_refuses_an_offline_edit_with_its_state(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    rep = device_for("rep_n1")
    order, mutations = _order(rep, world, "18.50")
    rep.push(*mutations)

    async def accept(session: AsyncSession) -> None:
        stored = await session.get(Order, order)
        assert stored is not None
        stored.status = "accepted"

    run_db(store.url, accept)
    [result] = rep.push(rep.upsert("order", order, {"notes": "deliver Friday"}, base_version=2))
    assert isinstance(result, Rejected)
    assert result.reason == "illegal_transition"
    assert result.current is not None and result.current["status"] == "accepted"


def test_an_update_to_a_deleted_contact_is_refused_because_delete_wins(
    device_for: Callable[[str], Device], world: World
) -> None:
    first, second = device_for("rep_n1"), device_for("rep_n1")
    contact = world.contacts[world.accounts["N1"][0]][0]
    [deleted] = first.push(first.delete("contact", contact))
    assert isinstance(deleted, Applied)
    [late] = second.push(second.upsert("contact", contact, {"phone": "+49"}, base_version=1))
    assert isinstance(late, Rejected) and late.reason == "deleted"
    second.pull()
    assert contact not in second.of("contact")


def test_a_price_change_reaches_every_rep_device(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    rep = device_for("rep_s2")
    rep.pull()

    async def change(session: AsyncSession) -> str:
        from sqlalchemy import select

        price = (await session.execute(select(Price).limit(1))).scalar_one()
        price.unit_price = Decimal("99.99")
        return price.id

    price_id = run_db(store.url, change)
    rep.pull()
    assert rep.of("price")[price_id]["unit_price"] == "99.99"


def test_a_lead_captured_in_the_field_enters_assignment_like_any_other(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    from sqlalchemy import select

    from server.leads.models import AssignmentDecision, Lead

    rep = device_for("rep_n1")
    lead_id = new_id()
    [result] = rep.push(
        rep.upsert(
            "lead",
            lead_id,
            {
                "company": "Hafenbau Nord GmbH",
                "lat": 53.55,
                "lon": 9.99,
                "product_line": "industrial",
                "city": "Hamburg",
            },
        )
    )
    assert isinstance(result, Applied)

    async def outcome(session: AsyncSession) -> tuple[Lead, int]:
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        decisions = (
            (
                await session.execute(
                    select(AssignmentDecision).where(AssignmentDecision.lead_id == lead_id)
                )
            )
            .scalars()
            .all()
        )
        return lead, len(decisions)

    lead, decisions = run_db(store.url, outcome)
    assert (lead.source, lead.captured_by_id) == ("field", world.user("rep_n1"))
    assert decisions == 1
    assert lead.assignee_id is not None or lead.unassigned_reason is not None
