"""What a device keeps of the server's answers, against the real app in-process on both stores:
it folds what the server decided (never its own guesses of computed fields), it never claims a
version it has not seen, and it refuses offline what the server would refuse, with the server's
reason."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from client_sdk import FieldClient, MemoryTokenStore, RetryPolicy
from client_sdk.errors import LocalRuleViolation, NetworkUnavailable
from server.accounts.models import Account
from server.orders.models import OrderLine
from server.sync.models import ConflictRecord
from server.visits.models import Visit
from tests.client_sdk.helpers import rows
from tests.seed import PASSWORD, World, seed_world
from tests.stores import Store

PULL_PATH = "/api/v1/sync/pull"


@pytest.fixture
def world(store: Store) -> World:
    return seed_world(store.url)


class PullCut(httpx.BaseTransport):
    """The app in-process, with pulls that can be made to fail (the network drops after the
    push was answered)."""

    def __init__(self, client: TestClient[Litestar]) -> None:
        self.client = client
        self.fail_pulls = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.fail_pulls and request.url.path == PULL_PATH:
            raise httpx.ConnectError("network gone after the push", request=request)
        return self.client._transport.handle_request(request)  # type: ignore[attr-defined,no-any-return]


class Tablet(FieldClient):
    cut: PullCut


@pytest.fixture
def tablets(
    client: TestClient[Litestar], world: World, tmp_path: Path
) -> Iterator[tuple[Tablet, Tablet]]:
    """Two tablets of rep_n1, logged in and bootstrapped, whose pulls can be cut. Neither has
    pushed yet, so each one's first push is a plain one, followed by a GET of the pull."""
    devices = []
    for name in ("tablet 1", "tablet 2"):
        cut = PullCut(client)
        device = Tablet(
            tmp_path / f"{name.replace(' ', '')}.db",
            httpx.Client(base_url=str(client.base_url), transport=cut),
            token_store=MemoryTokenStore(),
            retry=RetryPolicy(attempts=2, base_s=0.0, cap_s=0.0),
        )
        device.cut = cut
        device.login("rep_n1", PASSWORD, device_name=name)
        device.sync()
        devices.append(device)
    yield devices[0], devices[1]
    for device in devices:
        device.close()


def sync_without_pull(device: Tablet) -> None:
    """Push, and lose the pull after it (the device's first push must be a plain one)."""
    assert not device.store.get_meta("server_pulls"), "the pull would ride inside the push"
    device.cut.fail_pulls = True
    try:
        with pytest.raises(NetworkUnavailable):
            device.sync()
    finally:
        device.cut.fail_pulls = False


# A: the device folds what the server decided --------------------------------------------------
def test_a_line_changed_offline_on_an_order_submitted_elsewhere_shows_the_server_total(
    tablets: tuple[Tablet, Tablet], world: World, store: Store
) -> None:
    """The field report: tablet A submits a shared draft; tablet B, offline, changes a line and
    submits. B's change of the line is refused (the order is no longer a draft), but the
    submit's re-pricing of that line, computed-only, is a no-op the server answers ``applied``
    at the line's unchanged version. B used to fold its own line total (of the refused
    quantity) into the line at that version, and no pull ever corrected it."""
    a, b = tablets
    order = a.create_order(world.accounts["N1"][0], lines=[(world.products[0], 2)])
    a.sync()
    b.sync()
    [line] = b.order_lines(order.id)
    a.submit_order(order.id)
    a.sync()

    b.update_line(line.id, quantity=6)
    b.submit_order(order.id)
    assert b.get("order_line", line.id)["line_total"] == "57.00"  # type: ignore[index]
    b.sync()

    [server] = rows(store.url, OrderLine, id=line.id)
    assert server.line_total == Decimal("19.00") and server.quantity == 2
    mine = b.get("order_line", line.id)
    assert mine is not None and not mine.pending
    assert (mine.version, mine["quantity"], Decimal(mine["line_total"])) == (
        server.version,
        2,
        server.line_total,
    )
    assert {r.reason for r in b.rejected()} == {"illegal_transition", "transaction_failed"}


# B: never a version the device has not seen --------------------------------------------------
def test_an_edit_after_a_lost_pull_names_the_version_it_saw_so_the_overwrite_is_logged(
    tablets: tuple[Tablet, Tablet], world: World, store: Store
) -> None:
    one, two = tablets
    account = world.accounts["N1"][0]
    seen = one.get("account", account)
    assert seen is not None
    two.edit_account(account, notes="tablet 2's notes")
    two.sync()

    # Tablet 1 changes another field; its push is applied on top of tablet 2's edit, and the
    # pull that would have brought that edit fails.
    one.edit_account(account, phone="+49 40 111")
    sync_without_pull(one)
    [server] = rows(store.url, Account, id=account)
    assert server.version == seen.version + 2
    after = one.get("account", account)
    assert after is not None
    # Its own value shows; the version is still the one it saw.
    assert (after.version, after["phone"], after["notes"]) == (seen.version, "+49 40 111", None)

    one.edit_account(account, notes="tablet 1's notes")
    assert one.outbox.pending()[-1].base_version == seen.version
    one.sync()
    two.sync()

    [conflict] = rows(store.url, ConflictRecord, record_id=account, field="notes")
    assert (conflict.kept, conflict.discarded, conflict.discarded_origin) == (
        "tablet 1's notes",
        "tablet 2's notes",
        two.store.get_meta("device_id"),
    )
    [server] = rows(store.url, Account, id=account)
    for device in (one, two):
        local = device.get("account", account)
        assert local is not None and not local.pending
        assert (local.version, local["notes"], local["phone"]) == (
            server.version,
            server.notes,
            server.phone,
        )


# C: offline, the server's rules ----------------------------------------------------------------
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def test_a_second_check_out_is_refused_on_the_device_with_the_reason_the_server_gives(
    tablets: tuple[Tablet, Tablet], world: World, store: Store
) -> None:
    device, _ = tablets
    account = device.get("account", world.accounts["N1"][0])
    assert account is not None
    visit = device.check_in(
        None, account_id=account.id, lat=account["lat"], lon=account["lon"], accuracy_m=5, at=T0
    )
    device.check_out(visit.id, outcome="met", at=T0 + timedelta(minutes=30))
    queued = len(device.outbox.pending())

    with pytest.raises(LocalRuleViolation) as refused:
        device.check_out(visit.id, outcome="no_show", at=T0 + timedelta(minutes=50))
    assert (refused.value.reason, refused.value.field) == ("validation", "check_out_at")
    with pytest.raises(LocalRuleViolation) as again:
        device.check_in(visit.id, lat=account["lat"], lon=account["lon"], at=T0)
    assert (again.value.reason, again.value.field) == ("illegal_transition", "status")
    local = device.get("visit", visit.id)
    assert local is not None and local["outcome"] == "met"
    assert len(device.outbox.pending()) == queued
    device.sync()

    # The same second check-out, queued past the device's check, is what the server refuses,
    # and for the same reason.
    with device.outbox.transaction() as tx:
        tx.upsert(
            "visit",
            visit.id,
            {
                "status": "completed",
                "check_out_at": T0 + timedelta(minutes=50),
                "outcome": "no_show",
            },
        )
    device.sync()
    [server_refusal] = device.rejected()
    assert (server_refusal.reason, server_refusal.field) == ("validation", "check_out_at")
    [stored] = rows(store.url, Visit, id=visit.id)
    assert stored.outcome == "met"


def test_a_check_in_to_a_visit_in_progress_is_refused_as_the_server_would(
    tablets: tuple[Tablet, Tablet], world: World
) -> None:
    device, _ = tablets
    account = device.get("account", world.accounts["N1"][0])
    assert account is not None
    visit = device.plan_visit(account.id, T0.date())
    device.check_in(visit.id, lat=account["lat"], lon=account["lon"], accuracy_m=5, at=T0)
    with pytest.raises(LocalRuleViolation) as refused:
        device.check_in(
            visit.id, lat=account["lat"], lon=account["lon"], at=T0 + timedelta(minutes=5)
        )
    assert (refused.value.reason, refused.value.field) == ("validation", "check_in_at")
    local = device.get("visit", visit.id)
    assert local is not None and datetime.fromisoformat(local["check_in_at"]) == T0


def test_lines_two_tablets_add_offline_to_one_draft_end_with_distinct_numbers(
    tablets: tuple[Tablet, Tablet], world: World, store: Store
) -> None:
    """Both tablets take the next number offline; the server moves the later line to the next
    free one and says so in its answer, which the tablet folds before any pull."""
    a, b = tablets
    order = a.create_order(world.accounts["N1"][0], lines=[(world.products[0], 1)])
    a.sync()
    b.sync()
    first = a.add_line(order.id, world.products[1], 2)
    later = b.add_line(order.id, world.products[2], 3)
    assert first["line_no"] == later["line_no"] == 2
    a.sync()
    sync_without_pull(b)
    moved = b.get("order_line", later.id)
    assert moved is not None and (moved["line_no"], moved.pending) == (3, False)
    b.sync()
    a.sync()
    numbers = {line.id: line.line_no for line in rows(store.url, OrderLine, order_id=order.id)}
    assert sorted(numbers.values()) == [1, 2, 3]
    for device in (a, b):
        assert {r.id: r["line_no"] for r in device.order_lines(order.id)} == numbers
