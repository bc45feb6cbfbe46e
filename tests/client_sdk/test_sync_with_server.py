"""The SDK against the real app in-process (Litestar's TestClient is an httpx.Client), on both
stores: login, bootstrap, push, pull, rebase, conflicts, re-pricing, 410 recovery."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from client_sdk import FieldClient, MemoryTokenStore, RetryPolicy
from client_sdk.sync_loop import SyncEngine, SyncReport
from server.accounts.models import Account
from server.orders.models import Order, OrderLine
from server.sync.models import ConflictRecord
from server.visits.models import Visit
from tests.client_sdk.helpers import compact_everything, rows, set_price
from tests.seed import PASSWORD, World, auth_headers, seed_world, token_for
from tests.stores import Store


@pytest.fixture
def world(store: Store) -> World:
    return seed_world(store.url)


@pytest.fixture
def rep(client: TestClient[Litestar], world: World, tmp_path: Path) -> Iterator[FieldClient]:
    device = FieldClient(
        tmp_path / "rep.db",
        client,
        token_store=MemoryTokenStore(),
        retry=RetryPolicy(attempts=2, base_s=0.0, cap_s=0.0),
    )
    device.login("rep_n1", PASSWORD, device_name="tablet")
    device.sync()
    yield device
    device.close()


def test_a_new_device_bootstraps_exactly_its_scope(rep: FieldClient, world: World) -> None:
    assert sorted(a.id for a in rep.accounts()) == sorted(world.accounts["N1"])
    assert len(rep.products()) == len(world.products)
    assert len(rep.records.all("price")) == len(world.products)
    assert rep.price_list_id() == world.price_list
    assert rep.status().unsent == 0 and rep.status().last_sync_at is not None


def test_the_same_bootstrap_works_over_json(
    client: TestClient[Litestar], world: World, tmp_path: Path
) -> None:
    device = FieldClient(
        tmp_path / "json.db", client, token_store=MemoryTokenStore(), media_type="application/json"
    )
    device.login("rep_n1", PASSWORD)
    report = device.sync()
    assert report.bootstrapped and len(device.accounts()) == len(world.accounts["N1"])
    device.close()


def test_an_offline_order_arrives_whole_with_the_server_totals(
    rep: FieldClient, world: World, store: Store
) -> None:
    account = world.accounts["N1"][0]
    order = rep.take_order(account, [(world.products[0], 2), (world.products[1], 3)])
    # Created, priced and submitted by one action: the order and each line travel once.
    assert rep.status().unsent == 3
    report = rep.sync()
    assert report.pushed == 3 and report.rejected == 0 and rep.status().unsent == 0
    [stored] = rows(store.url, Order, id=order.id)
    assert stored.status == "submitted" and stored.total == Decimal(order["total"])
    assert stored.submitted_at is not None and stored.client_total == stored.total
    assert len(rows(store.url, OrderLine, order_id=order.id)) == 2
    assert stored.repricing is None


def test_a_price_changed_while_offline_is_repriced_and_the_rep_sees_the_diff(
    rep: FieldClient, world: World, store: Store
) -> None:
    product = world.products[0]
    set_price(store.url, world.price_list, product, "99.00")
    order = rep.take_order(world.accounts["N1"][0], [(product, 2)])
    assert order["total"] == "19.00"
    rep.sync()
    [repriced] = rep.repriced_orders()
    assert repriced.id == order.id
    assert repriced["repricing"]["old_total"] == "19.00"
    assert repriced["repricing"]["new_total"] == "198.00"
    assert repriced["total"] == "198.00"


def test_check_in_flags_are_recomputed_by_the_server(
    rep: FieldClient, world: World, store: Store
) -> None:
    account = rep.get("account", world.accounts["N1"][0])
    assert account is not None
    visit = rep.check_in(
        None, account_id=account.id, lat=account["lat"] + 0.05, lon=account["lon"], accuracy_m=10
    )
    assert "outside_radius" in visit["flags"]
    rep.sync()
    [stored] = rows(store.url, Visit, id=visit.id)
    assert "outside_radius" in stored.flags and stored.verified is False


def test_a_pending_edit_survives_a_pull_of_a_concurrent_server_change(
    rep: FieldClient, world: World, client: TestClient[Litestar], settings: object
) -> None:
    account = world.accounts["N1"][0]
    rep.edit_account(account, phone="+49 40 111")
    token, _ = token_for(settings, world.user("mgr_north"))  # type: ignore[arg-type]
    response = client.patch(
        f"/api/v1/accounts/{account}",
        json={"name": "Renamed by manager", "phone": "+49 40 999"},
        headers=auth_headers(token),
    )
    assert response.status_code == 200, response.text
    engine = SyncEngine(rep.store, rep.records, rep.outbox, rep.transport)
    engine._pull_all(SyncReport(), None)
    record = rep.get("account", account)
    assert record is not None
    assert record["name"] == "Renamed by manager"
    assert record["phone"] == "+49 40 111"


def test_a_conflicting_edit_is_resolved_per_field_and_the_loser_is_told(
    rep: FieldClient,
    world: World,
    client: TestClient[Litestar],
    settings: object,
    store: Store,
) -> None:
    account = world.accounts["N1"][0]
    rep.edit_account(account, phone="+49 40 111", notes="rep's note")
    # The manager's edit comes later: stamps of the same millisecond would be a tie, settled by
    # node id rather than by time.
    time.sleep(0.005)
    token, _ = token_for(settings, world.user("mgr_north"))  # type: ignore[arg-type]
    response = client.patch(
        f"/api/v1/accounts/{account}", json={"notes": "manager's note"}, headers=auth_headers(token)
    )
    assert response.status_code == 200, response.text
    report = rep.sync()
    record = rep.get("account", account)
    assert record is not None and record["phone"] == "+49 40 111"
    [server] = rows(store.url, Account, id=account)
    assert server.notes == record["notes"] == "manager's note"
    [conflict] = rows(store.url, ConflictRecord, record_id=account)
    assert (conflict.field, conflict.kept, conflict.discarded) == (
        "notes",
        "manager's note",
        "rep's note",
    )
    assert report.conflicts == 1
    [notice] = rep.conflicts()
    assert (notice.field, notice.discarded, notice.kept) == (
        "notes",
        "rep's note",
        "manager's note",
    )


def test_an_expired_cursor_rebootstraps_and_keeps_the_outbox(
    rep: FieldClient, world: World, store: Store
) -> None:
    lead = rep.capture_lead("Kept across the reset")
    time.sleep(0.01)
    compact_everything(store.url)
    engine = SyncEngine(rep.store, rep.records, rep.outbox, rep.transport)
    report = SyncReport()
    engine._pull_all(report, None)
    assert report.bootstrapped
    assert rep.get("lead", lead.id) is not None and rep.status().unsent == 1
    assert len(rep.accounts()) == len(world.accounts["N1"])
    rep.sync()
    assert rep.status().unsent == 0


def test_a_device_repairs_itself_when_its_copy_drifted(rep: FieldClient, world: World) -> None:
    victim = world.accounts["N1"][1]
    rep.store.execute("DELETE FROM records WHERE entity = 'account' AND id = ?", (victim,))
    report = rep.sync()
    assert report.repaired == ["account"]
    assert rep.get("account", victim) is not None


def test_a_corrupted_version_is_found_and_repaired_on_the_next_sync(
    rep: FieldClient, world: World
) -> None:
    victim = world.accounts["N1"][0]
    rep.store.execute(
        "UPDATE records SET version = version + 7 WHERE entity = 'account' AND id = ?", (victim,)
    )
    assert rep.sync().repaired == ["account"]
    assert rep.sync().repaired == []


def test_kept_checksums_that_lost_track_are_recounted_without_a_refetch(
    rep: FieldClient,
) -> None:
    rep.store.execute("UPDATE server_sums SET count = count + 1, digest = 12345")
    report = rep.sync()
    assert report.repaired == [] and report.pulled == 0
    assert rep.sync().repaired == []


def test_damage_the_kept_checksums_cannot_see_is_found_by_the_daily_full_check(
    rep: FieldClient, world: World
) -> None:
    victim = world.accounts["N1"][2]
    # A row lost behind the triggers' back (as a damaged file would lose it).
    rep.store.execute("DROP TRIGGER records_sums_delete")
    rep.store.execute("DELETE FROM records WHERE entity = 'account' AND id = ?", (victim,))
    assert rep.sync().repaired == []  # the kept numbers still agree with the server
    rep.store.set_meta("checksums_full_at", time.time() - 25 * 3600)
    assert rep.sync().repaired == ["account"]
    assert rep.get("account", victim) is not None


def test_a_dropped_push_response_is_resent_without_a_duplicate(
    client: TestClient[Litestar], world: World, tmp_path: Path, store: Store
) -> None:
    dropped: list[str] = []

    class DropFirstPushResponse(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = client._transport.handle_request(request)  # type: ignore[attr-defined]
            if request.url.path.endswith("/sync/push") and not dropped:
                dropped.append("push")
                raise httpx.ReadError("connection reset after the server answered", request=request)
            return response

    http = httpx.Client(base_url=str(client.base_url), transport=DropFirstPushResponse())
    device = FieldClient(
        tmp_path / "flaky.db",
        http,
        token_store=MemoryTokenStore(),
        retry=RetryPolicy(attempts=3, base_s=0.0, cap_s=0.0),
    )
    device.login("rep_n1", PASSWORD)
    device.sync()
    order = device.take_order(world.accounts["N1"][0], [(world.products[0], 1)])
    report = device.sync()
    assert dropped == ["push"] and report.rejected == 0
    assert len(rows(store.url, Order, id=order.id)) == 1
    assert len(rows(store.url, OrderLine, order_id=order.id)) == 1
    device.close()


def test_a_sync_with_changes_to_send_is_one_round_trip_once_the_server_says_it_can(
    client: TestClient[Litestar], world: World, tmp_path: Path, store: Store
) -> None:
    sent: list[str] = []

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(f"{request.method} {request.url.path.rsplit('/', 1)[-1]}")
            return client._transport.handle_request(request)  # type: ignore[attr-defined,no-any-return]

    http = httpx.Client(base_url=str(client.base_url), transport=Recording())
    device = FieldClient(tmp_path / "trips.db", http, token_store=MemoryTokenStore())
    device.login("rep_n1", PASSWORD)
    device.sync()
    account = world.accounts["N1"][0]
    device.take_order(account, [(world.products[0], 1)])
    sent.clear()
    device.sync()
    # A device cannot know the server takes a pull inside a push before its first answer.
    assert sent == ["POST push", "GET pull"]
    order = device.take_order(account, [(world.products[1], 2)])
    sent.clear()
    report = device.sync()
    assert sent == ["POST push"]
    assert report.rejected == 0 and report.pulled >= 2 and device.status().unsent == 0
    [stored] = rows(store.url, Order, id=order.id)
    pulled = device.get("order", order.id)
    assert pulled is not None and Decimal(pulled["total"]) == stored.total
    device.close()


def test_a_rejected_change_is_listed_with_its_reason(rep: FieldClient, world: World) -> None:
    foreign = world.accounts["S1"][0]
    with rep.outbox.transaction() as tx:
        tx.upsert(
            "visit",
            "01900000-0000-7000-8000-000000000001",
            {
                "account_id": foreign,
                "rep_id": world.user("rep_n1"),
                "status": "planned",
                "planned_for": date.today().isoformat(),
            },
        )
    report = rep.sync()
    assert report.rejected == 1
    [rejected] = rep.rejected()
    assert rejected.reason == "out_of_scope" and rejected.entity == "visit"
    assert rep.status().rejected == 1


def test_the_next_page_is_asked_for_while_a_page_is_applied(
    client: TestClient[Litestar], world: World, tmp_path: Path
) -> None:
    """A bootstrap of several pages: while the first page is being written (inside its local
    transaction), the request for the second has already gone out."""
    sent_during_apply: list[bool] = []
    received_at = 0

    def step(name: str) -> None:
        nonlocal received_at
        if name == "pull:received":
            received_at = device.transport.requests
        elif name == "pull:applying" and not sent_during_apply:
            deadline = time.monotonic() + 5
            while device.transport.requests == received_at and time.monotonic() < deadline:
                time.sleep(0.01)
            sent_during_apply.append(device.transport.requests > received_at)

    device = FieldClient(
        tmp_path / "ahead.db", client, token_store=MemoryTokenStore(), page_limit=3, step=step
    )
    device.login("rep_n1", PASSWORD)
    report = device.sync()
    accounts = sorted(a.id for a in device.accounts())
    device.close()
    assert report.pages > 2
    assert sent_during_apply == [True]
    assert accounts == sorted(world.accounts["N1"])


def test_a_page_that_fails_to_apply_drops_the_page_asked_ahead_and_keeps_the_cursor(
    client: TestClient[Litestar], world: World, tmp_path: Path
) -> None:
    class DiskFull(Exception):
        pass

    def step(name: str) -> None:
        if name == "pull:applying":
            raise DiskFull

    device = FieldClient(
        tmp_path / "full.db", client, token_store=MemoryTokenStore(), page_limit=3, step=step
    )
    device.login("rep_n1", PASSWORD)
    with pytest.raises(DiskFull):
        device.sync()
    # The request already out was let finish before the error came back: nothing is left
    # running that could race the next sync.
    assert not [t for t in threading.enumerate() if t.name.startswith("fieldline-pull")]
    assert device.store.get_meta("cursor") is None
    assert device.accounts() == []
    device.close()
