"""The network between the simulated devices and the server: a server that can be restarted over
the same database, and a per-device transport that loses responses, sends requests twice and
replays old pushes late.

Every device talks through its own ``httpx.Client`` whose transport is a ``FaultyTransport``;
the transport hands each request to whichever in-process app (a Litestar ``TestClient``) is
running now, so a restart swaps the app under the devices without them noticing, as a real
server restart behind a load balancer would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import TestClient

from server.app import create_app
from server.settings import Settings
from tests.sync_convergence.ledger import Ledger

__all__ = ["BASE_URL", "Faults", "FaultyTransport", "ServerHandle"]

BASE_URL = "http://testserver.local"
_PUSH_PATH = "/api/v1/sync/push"
# The body of a response the transport rebuilds is already decoded: these would lie about it.
_STALE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class ServerHandle:
    """One app at a time over the test database; ``restart`` closes it (lifespan shutdown,
    engine disposed) and starts a fresh one from the same settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: TestClient[Litestar] | None = None
        self.restarts = 0

    def start(self) -> None:
        assert self.client is None
        client = TestClient(create_app(self.settings), base_url=BASE_URL)
        client.__enter__()
        self.client = client

    def stop(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            client.__exit__(None, None, None)

    def restart(self) -> None:
        self.stop()
        self.start()
        self.restarts += 1

    @property
    def http(self) -> TestClient[Litestar]:
        """Direct access for the manager's REST calls (no faults)."""
        assert self.client is not None, "the server is not running"
        return self.client

    def send(self, request: httpx.Request) -> httpx.Response:
        if self.client is None:
            raise httpx.ConnectError("connection refused: server down", request=request)
        response = self.client.send(request)
        headers = [(k, v) for k, v in response.headers.multi_items() if k not in _STALE_HEADERS]
        return httpx.Response(
            response.status_code, headers=headers, content=response.content, request=request
        )


@dataclass
class Faults:
    """What the network does to the requests of one sync: ``offline`` refuses every
    connection; otherwise each request is, independently, sent twice (``duplicate``), has its
    response lost after the server processed it (``drop``), and a push may be preceded by a
    late copy of an older push of the same device (``replay``)."""

    offline: bool = False
    drop: float = 0.0
    duplicate: float = 0.0
    replay: float = 0.0

    @classmethod
    def none(cls) -> Faults:
        return cls()

    @classmethod
    def random(cls, rng: random.Random) -> Faults:
        if rng.random() < 0.1:
            return cls(offline=True)
        return cls(
            drop=rng.choice((0.0, 0.2, 0.4)),
            duplicate=rng.choice((0.0, 0.15, 0.3)),
            replay=rng.choice((0.0, 0.2)),
        )


class FaultyTransport(httpx.BaseTransport):
    def __init__(
        self, server: ServerHandle, ledger: Ledger, device_label: str, rng: random.Random
    ) -> None:
        self.server = server
        self.ledger = ledger
        self.label = device_label
        self.rng = rng
        self.faults = Faults.none()
        self._old_pushes: list[httpx.Request] = []
        self.stats: dict[str, int] = {"dropped": 0, "duplicated": 0, "replayed": 0, "refused": 0}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        faults = self.faults
        if faults.offline:
            self.stats["refused"] += 1
            raise httpx.ConnectError("network unreachable", request=request)
        is_push = request.url.path == _PUSH_PATH
        if is_push and self._old_pushes and self.rng.random() < faults.replay:
            self.stats["replayed"] += 1
            late = self.rng.choice(self._old_pushes)
            self._forward(late, delivered=False)
        if is_push:
            self._old_pushes.append(_copy(request))
            del self._old_pushes[:-20]
        if self.rng.random() < faults.duplicate:
            self.stats["duplicated"] += 1
            self._forward(request, delivered=False)
        lost = self.rng.random() < faults.drop
        response = self._forward(request, delivered=not lost)
        if lost:
            self.stats["dropped"] += 1
            raise httpx.ReadError("connection reset before the response arrived", request=request)
        return response

    def _forward(self, request: httpx.Request, *, delivered: bool) -> httpx.Response:
        response = self.server.send(_copy(request))
        if request.url.path == _PUSH_PATH:
            self.ledger.observe_push(self.label, request, response, delivered=delivered)
        return response


def _copy(request: httpx.Request) -> httpx.Request:
    headers: Any = list(request.headers.multi_items())
    return httpx.Request(request.method, request.url, headers=headers, content=request.content)
