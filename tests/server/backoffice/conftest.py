"""Back-office test helpers: API keys inserted directly, orders written through the ORM (so the
change capture logs them as it does in production), and a real HTTP receiver for webhooks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import ApiKey
from server.auth.tokens import digest, new_api_key
from server.orders.models import Order, OrderLine
from server.settings import Settings
from tests.conftest import make_settings as base_settings
from tests.live import free_port
from tests.seed import World, run_db
from tests.stores import Store


@pytest.fixture
def settings(store: Store) -> Settings:
    # The dispatcher is started only by the webhook tests that exercise it.
    return base_settings(store, webhooks_enabled=False)


def make_api_key(url: str, *scopes: str, revoked: bool = False) -> str:
    key, prefix = new_api_key()

    async def work(session: AsyncSession) -> None:
        session.add(
            ApiKey(
                name=f"erp-{prefix}",
                prefix=prefix,
                key_hash=digest(key),
                scopes=list(scopes),
                revoked_at=datetime.now(UTC) if revoked else None,
            )
        )

    run_db(url, work)
    return key


def key_headers(key: str, **extra: str) -> dict[str, str]:
    return {"X-API-Key": key, **extra}


async def add_order(
    session: AsyncSession,
    world: World,
    *,
    territory: str = "N1",
    status: str = "draft",
    lines: int = 2,
    submitted_at: datetime | None = None,
) -> Order:
    rep = world.user(f"rep_{territory.lower()}")
    order = Order(
        account_id=world.accounts[territory][0],
        rep_id=rep,
        price_list_id=world.price_list,
        status=status,
        submitted_at=submitted_at or (datetime.now(UTC) if status != "draft" else None),
    )
    session.add(order)
    await session.flush()
    subtotal = Decimal("0")
    for n in range(lines):
        unit = Decimal(f"{(n + 1) * 9}.50")
        quantity = n + 2
        total = unit * quantity
        subtotal += total
        session.add(
            OrderLine(
                order_id=order.id,
                product_id=world.products[n],
                line_no=n + 1,
                quantity=quantity,
                unit_price=unit,
                discount_pct=Decimal("0"),
                line_total=total,
            )
        )
    order.subtotal = subtotal
    order.total = subtotal
    await session.flush()
    return order


def create_order(url: str, world: World, **kwargs: Any) -> str:
    async def work(session: AsyncSession) -> str:
        return (await add_order(session, world, **kwargs)).id

    return run_db(url, work)


def submit_order(url: str, order_id: str) -> None:
    async def work(session: AsyncSession) -> None:
        order = await session.get(Order, order_id)
        assert order is not None
        order.status = "submitted"
        order.submitted_at = datetime.now(UTC)

    run_db(url, work)


def submitted_order(url: str, world: World, **kwargs: Any) -> str:
    order_id = create_order(url, world, **kwargs)
    submit_order(url, order_id)
    return order_id


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on a loopback port that records what it is sent."""

    port: int
    status: int = 204
    requests: list[Received] = field(default_factory=list)
    hold: threading.Event | None = None
    """When set, each request waits for it before answering (a slow receiver)."""
    waiting: bool = False
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if receiver.hold is not None:
                    receiver.waiting = True
                    receiver.hold.wait(timeout=15)
                with receiver._lock:
                    receiver.requests.append(Received(dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(port=free_port())
    yield found
    found.stop()
