"""The sync health page over what devices really push: a push need not say how many mutations
its device still holds (``pending`` is optional on the wire)."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from server.settings import Settings
from sync.messages import Rejected
from tests.seed import PASSWORD, seed_world, token_for
from tests.server.sync.device import Device
from tests.stores import Store


def test_a_device_whose_push_was_refused_without_saying_what_it_holds_is_listed(
    client: TestClient[Litestar], settings: Settings, store: Store
) -> None:
    world = seed_world(store.url)
    token, device_id = token_for(settings, world.user("rep_n1"), device_name="Tablet Hamburg")
    rep = Device(client=client, token=token, device_id=device_id)
    # Another territory's account: refused (out of scope), and the push carries no ``pending``.
    [result] = rep.push(rep.upsert("account", world.accounts["S1"][0], {"notes": "mine now"}))
    assert isinstance(result, Rejected)

    signed_in = client.post(
        "/manager/login",
        data={"username": "mgr_north", "password": PASSWORD},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    page = client.get("/manager/sync")

    assert page.status_code == 200, page.text
    devices = page.text.split('data-testid="devices"')[1].split("</table>")[0]
    assert "Tablet Hamburg" in devices
    # A device that never said counts nothing towards the region's unsent changes.
    assert 'Unsent changes</div><div class="value">0</div>' in page.text
