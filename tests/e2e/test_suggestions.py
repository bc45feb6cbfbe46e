"""A rep sells from a suggestion offline, against a real server process over real HTTP: the
nightly job (run as an operator would, ``fieldline jobs run suggestions.learn``) learns from
the order history, the tablet syncs, loses the network, reads the account's suggestions with
their reason and price, takes an order from one; the network returns, and the order line names
the suggestion on the server, where the manager's acceptance view counts it."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from client_sdk import FieldClient, RetryPolicy
from client_sdk.errors import NetworkUnavailable, RecordNotFound
from client_sdk.simulate import Switch
from server.orders.models import OrderLine
from tests.client_sdk.helpers import rows
from tests.live import ROOT, live_server, server_env
from tests.seed import PASSWORD, seed_world
from tests.server.suggestions.history import seed_history, targets
from tests.stores import Store

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _login(url: str, username: str) -> dict[str, str]:
    response = httpx.post(
        f"{url}/api/v1/auth/login",
        json={"username": username, "password": PASSWORD, "device_name": "browser"},
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_a_rep_sells_from_a_suggestion_offline(store: Store, tmp_path: Path) -> None:
    world = seed_world(store.url)
    seed_history(store.url, world)
    north, south = targets(world)
    job = subprocess.run(
        [sys.executable, "-m", "server.cli", "jobs", "run", "suggestions.learn"],
        cwd=ROOT,
        env=server_env(store.url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert job.returncode == 0, job.stderr
    assert json.loads(job.stdout.strip().splitlines()[-1])["result"]["suggestions"] == 2

    with live_server(store.url, tmp_path) as server:
        cable = Switch()
        http = httpx.Client(base_url=server.url, transport=cable, timeout=30)
        device = FieldClient(
            tmp_path / "rep.db", http, retry=RetryPolicy(attempts=2, base_s=0.01, cap_s=0.02)
        )
        try:
            _sell_from_a_suggestion(server.url, device, cable, store, north, south)
        finally:
            device.close()
            http.close()


def _sell_from_a_suggestion(
    url: str, device: FieldClient, cable: Switch, store: Store, north: str, south: str
) -> None:
    device.login("rep_n1", PASSWORD, device_name="tablet")
    device.sync()
    # Only the suggestion of the rep's own territory reached the tablet.
    assert [s.get("account_id") for s in device.records.all("suggestion")] == [north]

    cable.online = False
    [view] = device.suggestions(north)
    with pytest.raises(RecordNotFound):
        device.suggestions(south)  # another territory's account is not on the tablet
    assert view.product["sku"] == "SKU-002" and view.kind == "cross_sell"
    assert view.reason == "bought by 78 % of accounts that buy Product 1"
    assert view.unit_price == Decimal("18.50")
    order = device.take_order(north, [(view.product.id, 3, view.id)])
    assert order["total"] == "55.50"
    with pytest.raises(NetworkUnavailable):
        device.sync()

    cable.online = True
    report = device.sync()
    assert report.rejected == 0 and device.status().unsent == 0
    [line] = rows(store.url, OrderLine, order_id=order.id)
    assert (line.suggestion_id, line.quantity) == (view.id, 3)

    seen = httpx.get(f"{url}/api/v1/suggestions/acceptance", headers=_login(url, "mgr_north"))
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert (body["offered"], body["accepted"], body["rate"], body["revenue"]) == (
        1,
        1,
        1.0,
        "55.50",
    )
