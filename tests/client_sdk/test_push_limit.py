"""Batches fit the server's limit per push (``sync_max_mutations``, named by every push answer
in ``X-Fieldline-Max-Mutations``), against the real app in-process configured with a small one:
a device that does not know it yet learns it from the 413, halves, and never splits a client
transaction; once learned, it never sends more."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from client_sdk import FieldClient, MemoryTokenStore
from client_sdk.errors import PayloadTooLarge
from server.accounts.models import Account
from server.leads.models import Lead
from server.orders.models import Order, OrderLine
from server.settings import Settings
from tests.client_sdk.helpers import rows
from tests.conftest import make_settings
from tests.seed import PASSWORD, World, seed_world
from tests.stores import Store

LIMIT = 5
PUSH_PATH = "/api/v1/sync/push"


@pytest.fixture
def settings(store: Store) -> Settings:
    return make_settings(store, sync_max_mutations=LIMIT)


@pytest.fixture
def world(store: Store) -> World:
    return seed_world(store.url)


class Pushes(httpx.BaseTransport):
    """The app in-process; records each push: its status and its mutations' transactions."""

    def __init__(self, client: TestClient[Litestar]) -> None:
        self.client = client
        self.sent: list[tuple[int, list[str]]] = []
        self.encodings: list[str | None] = []
        self.refuse_gzip = False
        """Answer a gzip push as a server (or proxy) that refuses the coding would: 415."""
        self.hide_gzip = False
        """Answer as a server that never said it takes gzip pushes."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        encoding = request.headers.get("content-encoding")
        if request.url.path == PUSH_PATH:
            self.encodings.append(encoding)
            if encoding == "gzip" and self.refuse_gzip:
                return httpx.Response(
                    415,
                    json={"status": 415, "detail": "no gzip here"},
                    headers={"Content-Type": "application/problem+json"},
                )
        response: httpx.Response = self.client._transport.handle_request(request)  # type: ignore[attr-defined]
        if self.hide_gzip:
            del response.headers["accept-encoding"]
        if request.url.path == PUSH_PATH:
            body = request.content
            if encoding == "gzip":
                body = gzip.decompress(body)
            txs = [m["tx"] for m in json.loads(body)["mutations"]]
            self.sent.append((response.status_code, txs))
        return response


@pytest.fixture
def pushes(client: TestClient[Litestar]) -> Pushes:
    return Pushes(client)


@pytest.fixture
def device(
    client: TestClient[Litestar], pushes: Pushes, world: World, tmp_path: Path
) -> Iterator[FieldClient]:
    rep = FieldClient(
        tmp_path / "rep.db",
        httpx.Client(base_url=str(client.base_url), transport=pushes),
        token_store=MemoryTokenStore(),
        media_type="application/json",
    )
    rep.login("rep_n1", PASSWORD)
    rep.sync()
    yield rep
    rep.close()


def _capture(device: FieldClient, world: World, tag: str) -> tuple[list[str], list[str]]:
    """Three one-mutation transactions (leads) and two of two (a draft order with a line)."""
    leads = [device.capture_lead(f"{tag} lead {n}").id for n in range(3)]
    orders = [
        device.create_order(world.accounts["N1"][n], lines=[(world.products[n], 1)]).id
        for n in range(2)
    ]
    return leads, orders


def _whole_transactions(sent: list[tuple[int, list[str]]]) -> bool:
    """No client transaction is spread over two accepted pushes."""
    seen: dict[str, int] = {}
    for n, (status, txs) in enumerate(sent):
        if status != 200:
            continue
        for tx in txs:
            if seen.setdefault(tx, n) != n:
                return False
    return True


def test_batches_fit_the_limit_the_server_names_without_splitting_a_transaction(
    device: FieldClient, pushes: Pushes, world: World, store: Store
) -> None:
    leads, orders = _capture(device, world, "first")
    assert device.status().unsent == 7 > LIMIT
    report = device.sync()
    # Not knowing the limit, the device sent everything at once; the 413 named the limit.
    assert pushes.sent[0] == (413, pushes.sent[0][1]) and len(pushes.sent[0][1]) == 7
    assert all(len(txs) <= LIMIT for status, txs in pushes.sent[1:] if status == 200)
    assert [status for status, _ in pushes.sent[1:]] == [200] * (len(pushes.sent) - 1)
    assert _whole_transactions(pushes.sent)
    assert report.rejected == 0 and device.status().unsent == 0
    assert {
        lead.company for lead in rows(store.url, Lead, captured_by_id=world.user("rep_n1"))
    } >= {f"first lead {n}" for n in range(3)}
    for order in orders:
        assert len(rows(store.url, Order, id=order)) == 1
        assert len(rows(store.url, OrderLine, order_id=order)) == 1

    # The limit is remembered: the next sync starts within it, and nothing is refused.
    pushes.sent.clear()
    _capture(device, world, "second")
    device.sync()
    assert pushes.sent and all(status == 200 for status, _ in pushes.sent)
    assert all(len(txs) <= LIMIT for _, txs in pushes.sent)
    assert _whole_transactions(pushes.sent)
    assert device.status().unsent == 0
    del leads


def test_a_transaction_larger_than_the_limit_is_an_error_and_nothing_is_lost(
    device: FieldClient, pushes: Pushes, world: World
) -> None:
    lines = [(product, n) for n, product in enumerate(world.products, start=1)]
    device.take_order(world.accounts["N1"][0], lines)
    unsent = device.status().unsent
    assert unsent == 1 + len(lines) > LIMIT
    with pytest.raises(PayloadTooLarge):
        device.sync()
    assert device.status().unsent == unsent
    assert {status for status, _ in pushes.sent} == {413}


def test_large_pushes_travel_gzip_once_the_server_said_it_takes_them(
    device: FieldClient, pushes: Pushes, world: World, store: Store
) -> None:
    # The login's bootstrap answers said so; a small push still goes as is.
    device.capture_lead("small")
    device.sync()
    for n in range(3):
        device.edit_account(world.accounts["N1"][0], notes=f"{n} " + "visit notes " * 40)
    device.sync()
    assert pushes.encodings == [None, "gzip"]
    assert [a.notes for a in rows(store.url, Account, id=world.accounts["N1"][0])] == [
        "2 " + "visit notes " * 40
    ]


def test_a_refused_gzip_push_is_sent_again_as_is_and_not_compressed_again(
    device: FieldClient, pushes: Pushes, world: World
) -> None:
    pushes.refuse_gzip = True
    device.edit_account(world.accounts["N1"][0], notes="visit notes " * 400)
    report = device.sync()
    assert report.applied == 1 and device.status().unsent == 0
    assert pushes.encodings == ["gzip", None]
    pushes.hide_gzip = True  # the answers no longer offer it either
    device.edit_account(world.accounts["N1"][0], notes="more notes " * 400)
    device.sync()
    assert pushes.encodings[2:] == [None]
