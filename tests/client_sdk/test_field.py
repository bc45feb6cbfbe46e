"""The rep's verbs on the device alone: the shared domain rules give the answers the server
will give (pricing, verification, state machines)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from client_sdk import FieldClient
from client_sdk.errors import InvalidFieldValue, LocalRuleViolation
from sync.domain.pricing import LineInput, price_order
from sync.errors import InvalidValue
from tests.client_sdk.conftest import REP_ID, server_record

HAMBURG = (53.5511, 9.9937)
MUNICH = (48.1351, 11.5820)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _catalogue(device: FieldClient) -> tuple[str, list[str]]:
    price_list = server_record(device, "price_list", {"name": "Standard", "currency": "EUR"})
    products = []
    for n, (list_price, unit_price) in enumerate([("10.00", "9.50"), ("20.00", None)], 1):
        product = server_record(
            device,
            "product",
            {"sku": f"SKU-{n}", "name": f"P{n}", "list_price": list_price, "active": True},
        )
        products.append(product)
        if unit_price:
            server_record(
                device,
                "price",
                {"price_list_id": price_list, "product_id": product, "unit_price": unit_price},
            )
    return price_list, products


def _account(device: FieldClient, where: tuple[float, float] = HAMBURG, **more: object) -> str:
    return server_record(
        device,
        "account",
        {"name": "Customer", "lat": where[0], "lon": where[1], "visit_radius_m": 200.0, **more},
    )


def test_order_totals_are_the_shared_pricing_of_the_rep_price_list(device: FieldClient) -> None:
    price_list, (p1, p2) = _catalogue(device)
    order = device.create_order(_account(device))
    device.add_line(order.id, p1, 3, discount_pct="10")
    device.add_line(order.id, p2, 1)
    expected = price_order(
        [
            LineInput(product_id=p1, quantity=3, discount_pct=Decimal("10"), line_no=1),
            LineInput(product_id=p2, quantity=1, discount_pct=Decimal("0"), line_no=2),
        ],
        {p1: Decimal("9.50"), p2: Decimal("20.00")},
    )
    stored = device.get("order", order.id)
    assert stored is not None
    assert stored["price_list_id"] == price_list
    assert Decimal(stored["total"]) == expected.total == Decimal("45.65")
    assert Decimal(stored["subtotal"]) == expected.subtotal


def test_a_submitted_order_cannot_be_changed_on_the_device(device: FieldClient) -> None:
    _, (p1, _) = _catalogue(device)
    order = device.take_order(_account(device), [(p1, 2)])
    assert order["status"] == "submitted"
    with pytest.raises(LocalRuleViolation, match="cannot be changed"):
        device.add_line(order.id, p1, 1)


def test_submitting_sends_the_device_prices_with_the_move_in_one_transaction(
    device: FieldClient,
) -> None:
    _, (p1, _) = _catalogue(device)
    order = device.create_order(_account(device), lines=[(p1, 2)])
    before = {m.seq for m in device.outbox.pending()}
    device.submit_order(order.id)
    sent = [m for m in device.outbox.pending() if m.seq not in before]
    assert len({m.tx for m in sent}) == 1
    assert [m.entity for m in sent] == ["order_line", "order"]
    assert sent[0].fields["unit_price"] == "9.50"
    assert sent[-1].fields["status"] == "submitted" and sent[-1].fields["total"] == "19.00"


def test_an_order_needs_a_line_before_it_is_submitted(device: FieldClient) -> None:
    _catalogue(device)
    order = device.create_order(_account(device))
    with pytest.raises(LocalRuleViolation, match="at least one line"):
        device.submit_order(order.id)


def test_a_check_in_inside_the_radius_is_verified(device: FieldClient) -> None:
    account = _account(device)
    visit = device.plan_visit(account, T0.date())
    checked = device.check_in(
        visit.id, lat=HAMBURG[0] + 0.0005, lon=HAMBURG[1], accuracy_m=15, at=T0
    )
    assert checked["verified"] is True and checked["flags"] == []
    assert checked["status"] == "in_progress"


def test_a_check_in_outside_the_radius_is_kept_but_flagged_with_the_distance(
    device: FieldClient,
) -> None:
    account = _account(device)
    visit = device.plan_visit(account, T0.date())
    checked = device.check_in(visit.id, lat=HAMBURG[0] + 0.02, lon=HAMBURG[1], accuracy_m=10, at=T0)
    assert checked["verified"] is False
    assert "outside_radius" in checked["flags"]
    assert checked["distance_m"] > 2000


def test_impossible_travel_from_the_previous_check_in_is_flagged(device: FieldClient) -> None:
    hamburg, munich = _account(device), _account(device, MUNICH)
    first = device.check_in(
        None, account_id=hamburg, lat=HAMBURG[0], lon=HAMBURG[1], accuracy_m=10, at=T0
    )
    device.check_out(first.id, outcome="met", at=T0 + timedelta(minutes=20))
    ghost = device.check_in(
        None,
        account_id=munich,
        lat=MUNICH[0],
        lon=MUNICH[1],
        accuracy_m=10,
        at=T0 + timedelta(minutes=40),
    )
    assert "impossible_travel" in ghost["flags"] and ghost["verified"] is False


def test_a_visit_shorter_than_the_minimum_is_flagged_at_check_out(device: FieldClient) -> None:
    account = _account(device)
    visit = device.check_in(
        None, account_id=account, lat=HAMBURG[0], lon=HAMBURG[1], accuracy_m=5, at=T0
    )
    done = device.check_out(visit.id, outcome="met", at=T0 + timedelta(minutes=2))
    assert "too_short" in done["flags"] and done["duration_s"] == 120


def test_a_second_visit_while_one_is_in_progress_is_flagged(device: FieldClient) -> None:
    a, b = _account(device), _account(device, (HAMBURG[0] + 0.001, HAMBURG[1]))
    device.check_in(None, account_id=a, lat=HAMBURG[0], lon=HAMBURG[1], accuracy_m=5, at=T0)
    second = device.check_in(
        None,
        account_id=b,
        lat=HAMBURG[0] + 0.001,
        lon=HAMBURG[1],
        accuracy_m=5,
        at=T0 + timedelta(minutes=10),
    )
    assert "overlapping_visit" in second["flags"]


def test_the_route_orders_todays_visits_from_the_current_position(device: FieldClient) -> None:
    far = _account(device, (HAMBURG[0] + 0.10, HAMBURG[1]))
    near = _account(device, (HAMBURG[0] + 0.01, HAMBURG[1]))
    middle = _account(device, (HAMBURG[0] + 0.05, HAMBURG[1]))
    day = date(2026, 3, 2)
    for account in (far, near, middle):
        device.plan_visit(account, day)
    device.plan_visit(near, day + timedelta(days=1))
    stops = device.route(day, position=HAMBURG)
    assert [s.account.id for s in stops if s.account] == [near, middle, far]


def test_each_route_stop_shows_last_visit_open_orders_and_open_tickets(device: FieldClient) -> None:
    _, (p1, _) = _catalogue(device)
    account = _account(device)
    earlier = device.check_in(
        None, account_id=account, lat=HAMBURG[0], lon=HAMBURG[1], accuracy_m=5, at=T0
    )
    device.check_out(earlier.id, outcome="met", at=T0 + timedelta(minutes=30))
    order = device.take_order(account, [(p1, 1)])
    ticket = device.open_ticket(account, "Broken pump")
    closed = device.open_ticket(account, "Old issue")
    device.move_ticket(closed.id, "resolved")
    day = T0.date() + timedelta(days=1)
    device.plan_visit(account, day)
    [stop] = device.route(day, position=HAMBURG)
    assert stop.last_visit is not None and stop.last_visit.id == earlier.id
    assert [o.id for o in stop.open_orders] == [order.id]
    assert [t.id for t in stop.open_tickets] == [ticket.id]


def test_ticket_moves_follow_the_shared_state_machine(device: FieldClient) -> None:
    ticket = device.open_ticket(_account(device), "Leak")
    device.move_ticket(ticket.id, "in_progress")
    with pytest.raises(LocalRuleViolation):
        device.move_ticket(ticket.id, "closed")


def test_a_rep_cannot_edit_a_server_owned_account_field(device: FieldClient) -> None:
    account = _account(device)
    with pytest.raises(LocalRuleViolation, match="server_owned"):
        device.edit_account(account, territory_id="elsewhere")
    assert device.edit_account(account, phone="+49 40 1234")["phone"] == "+49 40 1234"


def test_a_rep_corrects_a_visit_or_a_ticket_but_not_its_state_by_an_edit(
    device: FieldClient,
) -> None:
    visit = device.plan_visit(_account(device), date(2026, 3, 2), purpose="Restock")
    assert device.edit_visit(visit.id, purpose="Restock and promo")["purpose"] == (
        "Restock and promo"
    )
    with pytest.raises(LocalRuleViolation, match="state_machine"):
        device.edit_visit(visit.id, status="completed")
    ticket = device.open_ticket(_account(device), "Leak")
    assert device.edit_ticket(ticket.id, priority="high")["priority"] == "high"
    with pytest.raises(InvalidFieldValue):
        device.edit_ticket(ticket.id, priority="whenever")
    with pytest.raises(LocalRuleViolation):
        device.edit_ticket(ticket.id, status="closed")


def test_a_captured_lead_is_a_field_lead_of_this_rep(device: FieldClient) -> None:
    lead = device.capture_lead("Nordwind AG", city="Kiel")
    assert (lead["source"], lead["status"], lead["captured_by_id"]) == ("field", "new", REP_ID)


def test_an_order_whose_creation_was_refused_can_be_amended_and_resubmitted(
    device: FieldClient,
) -> None:
    from sync.messages import Rejected

    _, (p1, p2) = _catalogue(device)
    order = device.take_order(_account(device), [(p1, 1)])
    pending = device.outbox.pending()
    device.outbox.answer(
        [
            Rejected(seq=m.seq, entity=m.entity, id=m.record_id, reason="validation", detail="no")
            for m in pending
        ]
    )
    assert len(device.rejected()) == len(pending)
    amended = device.amend_order(order.id)
    assert amended["status"] == "draft"
    device.add_line(order.id, p2, 2)
    device.submit_order(order.id)
    assert device.rejected() == []
    resent = device.outbox.pending()
    assert resent[0].entity == "order" and resent[0].fields["account_id"] == order["account_id"]
    assert min(m.seq for m in resent) > max(m.seq for m in pending)


def test_a_finished_visit_cannot_be_checked_out_again_offline(device: FieldClient) -> None:
    account = _account(device)
    visit = device.check_in(
        None, account_id=account, lat=HAMBURG[0], lon=HAMBURG[1], accuracy_m=5, at=T0
    )
    device.check_out(visit.id, outcome="met", notes="first", at=T0 + timedelta(minutes=30))
    queued = device.outbox.pending()
    with pytest.raises(LocalRuleViolation) as refused:
        device.check_out(visit.id, outcome="no_show", at=T0 + timedelta(minutes=45))
    # The server's merge refuses it so: the status stays, the write-once check-out does not.
    assert (refused.value.reason, refused.value.field) == ("validation", "check_out_at")
    done = device.get("visit", visit.id)
    assert done is not None and (done["outcome"], done["notes"]) == ("met", "first")
    assert device.outbox.pending() == queued


def test_a_visit_is_checked_in_once(device: FieldClient) -> None:
    account = _account(device)
    visit = device.check_in(
        None, account_id=account, lat=HAMBURG[0], lon=HAMBURG[1], accuracy_m=5, at=T0
    )
    with pytest.raises(LocalRuleViolation) as in_progress:
        device.check_in(visit.id, lat=MUNICH[0], lon=MUNICH[1], at=T0 + timedelta(minutes=5))
    assert (in_progress.value.reason, in_progress.value.field) == ("validation", "check_in_at")
    device.check_out(visit.id, outcome="met", at=T0 + timedelta(minutes=30))
    with pytest.raises(LocalRuleViolation) as completed:
        device.check_in(visit.id, lat=HAMBURG[0], lon=HAMBURG[1], at=T0 + timedelta(hours=1))
    assert (completed.value.reason, completed.value.field) == ("illegal_transition", "status")
    checked = device.get("visit", visit.id)
    assert checked is not None and checked["check_in_lat"] == HAMBURG[0]


def test_local_refusals_carry_the_reason_the_server_would_give(device: FieldClient) -> None:
    _, (p1, _) = _catalogue(device)
    account = _account(device)
    order = device.take_order(account, [(p1, 1)])
    with pytest.raises(LocalRuleViolation) as submitted:
        device.add_line(order.id, p1, 1)
    assert submitted.value.reason == "illegal_transition"
    with pytest.raises(LocalRuleViolation) as owned:
        device.edit_account(account, territory_id="01900000-0000-7000-8000-0000000000e1")
    assert (owned.value.reason, owned.value.field) == ("server_owned_field", "territory_id")
    ticket = device.open_ticket(account, "Leak")
    with pytest.raises(LocalRuleViolation) as moved:
        device.move_ticket(ticket.id, "closed")
    assert moved.value.reason == "illegal_transition"


def test_a_line_number_is_never_given_twice_on_one_device(device: FieldClient) -> None:
    _, (p1, p2) = _catalogue(device)
    order = device.create_order(_account(device), lines=[(p1, 1), (p2, 1)])
    second = max(device.order_lines(order.id), key=lambda line: line["line_no"])
    device.remove_line(second.id)
    # The delete is not answered yet: should the server refuse it, line 2 comes back.
    added = device.add_line(order.id, p2, 3)
    assert added["line_no"] == 3
    numbers = [
        r["line_no"]
        for r in device.store.all(
            "SELECT json_extract(data, '$.line_no') AS line_no FROM records "
            "WHERE entity = 'order_line' AND ref = ?",
            (order.id,),
        )
    ]
    assert sorted(numbers) == [1, 2, 3]


@pytest.mark.parametrize(
    ("write", "field"),
    [
        (lambda d, account: d.edit_account(account, lat=200.0), "lat"),
        (lambda d, account: d.edit_account(account, lon=None), "lon"),
        (lambda d, account: d.edit_account(account, notes="x" * 10_001), "notes"),
        (lambda d, account: d.capture_lead("Nord\x00wind"), "company"),
        (lambda d, account: d.plan_visit(account, date(2200, 1, 1)), "planned_for"),
        (
            lambda d, account: d.check_in(None, account_id=account, lat=91.0, lon=9.99),
            "check_in_lat",
        ),
    ],
    ids=["latitude", "half-a-position", "long-notes", "nul-byte", "far-date", "check-in"],
)
def test_a_value_the_server_would_refuse_is_refused_before_anything_is_stored(
    device: FieldClient, write: Any, field: str
) -> None:
    account = _account(device)
    before = (device.records.count(), device.get("account", account))
    with pytest.raises(InvalidFieldValue) as refused:
        write(device, account)
    assert (refused.value.field, refused.value.reason) == (field, "validation")
    assert isinstance(refused.value, InvalidValue) and isinstance(refused.value, LocalRuleViolation)
    assert (device.records.count(), device.get("account", account)) == before
    assert device.outbox.pending() == []
