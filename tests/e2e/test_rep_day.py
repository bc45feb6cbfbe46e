"""A rep's full day offline against a real server process over real HTTP: route, four visits
(one a ghost), three orders (one re-priced because a price changed while the rep was offline),
a ticket, a lead, and an account edit that conflicts with the manager's. Then the network comes
back, the device syncs, and the server, the back-office feed and the manager API see it all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from client_sdk import FieldClient, RetryPolicy
from client_sdk.errors import NetworkUnavailable
from client_sdk.simulate import Switch
from server.leads.models import Lead
from server.orders.models import Order, OrderLine
from server.sync.models import ConflictRecord
from server.tickets.models import Ticket, TicketComment
from server.visits.models import Visit
from tests.client_sdk.helpers import api_key, rows, set_price
from tests.live import live_server
from tests.seed import PASSWORD, seed_world
from tests.stores import Store

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _login(url: str, username: str) -> dict[str, str]:
    response = httpx.post(
        f"{url}/api/v1/auth/login",
        json={"username": username, "password": PASSWORD, "device_name": "browser"},
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_a_rep_works_a_day_offline_and_everything_arrives(store: Store, tmp_path: Path) -> None:
    world = seed_world(store.url, accounts_per_territory=4)
    accounts = world.accounts["N1"]
    repriced_product, other_product = world.products[0], world.products[1]
    with live_server(store.url, tmp_path) as server:
        cable = Switch()
        clock = {"now": datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)}
        http = httpx.Client(base_url=server.url, transport=cable, timeout=30)
        device = FieldClient(
            tmp_path / "rep.db",
            http,
            retry=RetryPolicy(attempts=2, base_s=0.01, cap_s=0.02),
            now=lambda: clock["now"],
        )
        device.login("rep_n1", PASSWORD, device_name="tablet")
        device.sync()
        today = clock["now"].date()
        for account in accounts:
            device.plan_visit(account, today, purpose="quarterly review")
        device.sync()

        # The tablet loses the network; meanwhile the office changes a price.
        cable.online = False
        set_price(store.url, world.price_list, repriced_product, "12.00")

        # The day, offline.
        home = (53.5511, 9.9937)
        route = device.route(position=home)
        assert len(route) == 4
        visits = []
        for n, stop in enumerate(route):
            assert stop.account is not None
            clock["now"] += timedelta(minutes=30)
            visit = device.check_in(
                stop.visit.id,
                lat=stop.account["lat"] + 0.0002,
                lon=stop.account["lon"],
                accuracy_m=12,
            )
            ghost = n == 3
            clock["now"] += timedelta(minutes=2 if ghost else 35)
            visit = device.check_out(visit.id, outcome="met", notes=f"stop {n + 1}")
            visits.append(visit)
            device.add_visit_note(visit.id, "talked to the buyer")
        ghost_visit = visits[3]
        assert "too_short" in ghost_visit["flags"] and ghost_visit["verified"] is False
        orders = [
            device.take_order(accounts[0], [(repriced_product, 4), (other_product, 1)]),
            device.take_order(accounts[1], [(other_product, 2)]),
            device.take_order(accounts[2], [(other_product, 1), (world.products[2], 3)]),
        ]
        ticket = device.open_ticket(accounts[1], "Dispenser leaks", priority="high")
        device.comment(ticket.id, "Photo taken, spare part needed")
        lead = device.capture_lead("Elbe Logistics", contact_name="J. Meyer", city="Hamburg")
        device.edit_account(accounts[0], notes="Prefers morning visits", phone="+49 40 555")
        with pytest.raises(NetworkUnavailable):
            device.sync()
        assert device.status().unsent > 0

        # The manager edits the same account while the rep is still offline.
        manager = _login(server.url, "mgr_north")
        patched = httpx.patch(
            f"{server.url}/api/v1/accounts/{accounts[0]}",
            json={"notes": "Key account: call before visiting"},
            headers=manager,
        )
        assert patched.status_code == 200, patched.text

        # The network returns.
        cable.online = True
        report = device.sync()
        assert report.rejected == 0 and device.status().unsent == 0

        # The server has every record, with its own verification and pricing.
        stored_visits = {v.id: v for v in rows(store.url, Visit, rep_id=world.user("rep_n1"))}
        assert {v.id for v in visits} <= set(stored_visits)
        assert all(stored_visits[v.id].status == "completed" for v in visits)
        assert "too_short" in stored_visits[ghost_visit.id].flags
        assert stored_visits[ghost_visit.id].verified is False
        assert all(stored_visits[v.id].verified for v in visits[:3])
        for order in orders:
            [stored] = rows(store.url, Order, id=order.id)
            assert stored.status == "submitted"
            assert len(rows(store.url, OrderLine, order_id=order.id)) == len(
                device.order_lines(order.id)
            )
        [repriced] = rows(store.url, Order, id=orders[0].id)
        assert repriced.repricing is not None
        assert repriced.repricing["old_total"] == orders[0]["total"]
        # 4 × 12.00 (the new price) + 1 × 18.50
        assert repriced.repricing["new_total"] == str(repriced.total) == "66.50"
        assert [o.id for o in device.repriced_orders()] == [orders[0].id]
        assert rows(store.url, Order, id=orders[1].id)[0].repricing is None
        assert rows(store.url, Ticket, id=ticket.id)[0].priority == "high"
        assert len(rows(store.url, TicketComment, ticket_id=ticket.id)) == 1
        [stored_lead] = rows(store.url, Lead, id=lead.id)
        assert (stored_lead.source, stored_lead.captured_by_id) == ("field", world.user("rep_n1"))

        # The conflicting edit: per field, the later writer kept, the loser told.
        [conflict] = rows(store.url, ConflictRecord, record_id=accounts[0])
        assert (conflict.field, conflict.discarded) == ("notes", "Prefers morning visits")
        assert [c.field for c in device.conflicts()] == ["notes"]
        account = device.get("account", accounts[0])
        assert account is not None
        assert account["notes"] == "Key account: call before visiting"
        assert account["phone"] == "+49 40 555"

        # The back office pulls the submitted orders; the manager sees the visits.
        key = api_key(store.url, "orders:read")
        feed = httpx.get(f"{server.url}/api/v1/backoffice/orders/feed", headers={"X-API-Key": key})
        assert feed.status_code == 200, feed.text
        assert {o.id for o in orders} <= {o["id"] for o in feed.json()["orders"]}
        listed = httpx.get(
            f"{server.url}/api/v1/visits",
            params={"rep_id": world.user("rep_n1"), "limit": "50"},
            headers=manager,
        )
        assert listed.status_code == 200, listed.text
        assert {v.id for v in visits} <= {v["id"] for v in listed.json()["items"]}
        device.close()
        http.close()
