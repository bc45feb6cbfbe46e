"""The convergence simulation over a real network: a real server process (tests/live.py) on the
test database, the fault proxy (tests/sync_convergence/proxy.py) in front of it, and real SDK
clients — each tablet a ``FieldClient`` with its own SQLite store, over ``httpx`` to the proxy.

``RealNetwork`` is the rig (server, proxy, ledger, tablets) that both the randomized run and the
deterministic replays use; ``NetworkSimulation`` is simulation.py's seeded day (the same device
edits and server-side writes) driven over it, with a SIGKILL of the server mid-run and a restart
on the same database (the proxy is pointed at the new port).

The ledger is the in-process test's (ledger.py): the proxy reports every push answer the server
gave — to the request the device sent, to duplicates and late copies — and whether the device
got it, so ``same_answer_every_time`` and the acknowledged-mutation invariants judge what really
crossed the wire.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from pathlib import Path
from typing import Any, cast

import httpx

from client_sdk import FieldClient, MemoryTokenStore, RetryPolicy
from client_sdk.errors import NetworkUnavailable
from server.settings import Settings
from sync.messages import Rejected
from tests.live import LiveServer, start_server
from tests.seed import PASSWORD, World, seed_world, token_for
from tests.sync_convergence.invariants import check_all
from tests.sync_convergence.ledger import Ledger
from tests.sync_convergence.proxy import DEVICE_HEADER, Exchange, FaultProxy, NetFaults
from tests.sync_convergence.server_view import ServerView, read_server
from tests.sync_convergence.simulation import _SERVER_ACTIONS, SimDevice, Simulation

__all__ = ["REAL_DEVICES", "NetworkSimulation", "RealNetwork", "ServerProcess"]

PUSH_PATH = "/api/v1/sync/push"
# Three reps with two tablets each, and the North manager's tablet (it only reads).
REAL_DEVICES = (
    ("n1a", "rep_n1"),
    ("n1b", "rep_n1"),
    ("n2a", "rep_n2"),
    ("n2b", "rep_n2"),
    ("s1a", "rep_s1"),
    ("s1b", "rep_s1"),
    ("mgr", "mgr_north"),
)
_STALE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_REST_ACTIONS = frozenset({"manager_edits_account", "manager_moves_account"})


class ServerProcess:
    """The server process of the run: started, SIGKILLed and started again on one database.
    ``http`` is a plain client to whichever process runs now (the manager's REST calls)."""

    def __init__(self, database_url: str, workdir: Path, env: dict[str, str]) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.env = env
        self.live: LiveServer | None = None
        self.kills = 0
        self.starts = 0
        self._http: httpx.Client | None = None

    def start(self) -> LiveServer:
        assert self.live is None or self.live.process.poll() is not None
        self.live = start_server(self.database_url, self.workdir, env=self.env)
        self.starts += 1
        if self._http is not None:
            self._http.close()
            self._http = None
        return self.live

    @property
    def up(self) -> bool:
        return self.live is not None and self.live.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, and wait until the process is gone (safe from any thread)."""
        if self.live is not None and self.live.process.poll() is None:
            self.live.process.kill()
            self.live.process.wait()
            self.kills += 1

    def reap(self) -> None:
        if self.live is not None:
            self.live.process.wait()

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.live is not None:
            self.live.stop()

    @property
    def port(self) -> int:
        assert self.live is not None
        return self.live.port

    @property
    def http(self) -> httpx.Client:
        assert self.live is not None and self.up, "the server is not running"
        if self._http is None:
            self._http = httpx.Client(base_url=self.live.url, timeout=15.0)
        return self._http

    def logs(self) -> str:
        out = []
        for log in sorted(self.workdir.glob("server-*.log")):
            text = log.read_text(errors="replace").strip()
            if text:
                out.append(f"--- {log.name} ---\n{text[-3000:]}")
        return "\n".join(out)


class RealNetwork:
    """Server process + fault proxy + ledger + tablets over the test database ``settings``."""

    def __init__(
        self,
        settings: Settings,
        workdir: Path,
        *,
        seed: int,
        world: World | None = None,
        accounts_per_territory: int = 3,
        page_limit: int | None = 40,
    ) -> None:
        self.settings = settings
        self.url = settings.database_url
        self.workdir = workdir
        self.seed = seed
        self.page_limit = page_limit
        self.world = world or seed_world(self.url, accounts_per_territory=accounts_per_territory)
        self.ledger = Ledger()
        self.server_errors: list[str] = []
        self.exchanges: deque[Exchange] = deque(maxlen=200)
        """The last answers the server gave, for debugging a failure."""
        self.server = ServerProcess(
            self.url,
            workdir,
            {
                "FIELDLINE_ACCESS_TOKEN_TTL_S": str(settings.access_token_ttl_s),
                "FIELDLINE_WEBHOOKS_ENABLED": "false",
            },
        )
        self.server.start()
        self.proxy = FaultProxy(seed=seed, upstream_port=self.server.port, observer=self._observe)
        self.proxy.start()
        self.devices: list[SimDevice] = []
        self.by_label: dict[str, SimDevice] = {}

    # Tablets ----------------------------------------------------------------------------------
    def add_device(self, label: str, username: str, *, login: bool = False) -> SimDevice:
        http = httpx.Client(base_url=self.proxy.url, headers={DEVICE_HEADER: label}, timeout=15.0)
        client = FieldClient(
            self.workdir / f"{label}.db",
            http,
            token_store=MemoryTokenStore(),
            retry=RetryPolicy(attempts=4, base_s=0.02, cap_s=0.1),
            page_limit=self.page_limit,
        )
        if login:
            client.login(username, PASSWORD, device_name=label)
        else:
            # A login hashes a password (slow on purpose): one real login per run is enough.
            Simulation.sign_in(cast(Simulation, self), client, username, label)
        # The fault-injecting transport of the in-process test has no place here: the faults are
        # the proxy's, per label.
        device = SimDevice(label, username, client, cast(Any, None), http)
        device.device_id = str(client.store.get_meta("device_id"))
        device.user_id = self.world.user(username)
        self.ledger.labels[device.device_id] = label
        self.devices.append(device)
        self.by_label[label] = device
        return device

    def sync(self, device: SimDevice, faults: NetFaults | None = None) -> None:
        """One sync of ``device`` with the network doing ``faults`` to its requests; raises what
        the SDK raises (NetworkUnavailable when the network gave up)."""
        self.proxy.set_faults(device.label, faults or NetFaults.none())
        try:
            device.stats["syncs"] += 1
            device.client.sync()
        finally:
            self.proxy.set_faults(device.label, NetFaults.none())

    def close(self) -> None:
        for device in self.devices:
            device.client.close()
            device.http.close()
        self.proxy.close()
        self.server.stop()

    # The server ------------------------------------------------------------------------------
    def kill_server(self) -> None:
        self.server.kill()
        self.server.reap()
        self.proxy.upstream_port = None

    def restart_server(self) -> None:
        self.server.reap()
        self.server.start()
        self.proxy.upstream_port = self.server.port

    # What crossed the wire ---------------------------------------------------------------------
    def _observe(self, exchange: Exchange) -> None:
        """Runs on the proxy's thread, before the device can have read the answer."""
        self.exchanges.append(exchange)
        if exchange.status >= 500:
            self.server_errors.append(
                f"{exchange.label} {exchange.method} {exchange.path} ({exchange.copy}) answered "
                f"HTTP {exchange.status}: {exchange.response_body[:300]!r}"
            )
        if exchange.method != "POST" or exchange.path != PUSH_PATH:
            return
        request = httpx.Request(
            "POST",
            f"http://proxy{exchange.target}",
            headers=exchange.request_headers,
            content=exchange.request_body,
        )
        response = httpx.Response(
            exchange.status,
            headers=[(k, v) for k, v in exchange.response_headers if k not in _STALE_HEADERS],
            content=exchange.response_body,
            request=request,
        )
        self.ledger.observe_push(exchange.label, request, response, delivered=exchange.delivered)

    # The end state -----------------------------------------------------------------------------
    def view(self) -> ServerView:
        return read_server(self.url, {d.device_id: d.user_id for d in self.devices})

    def problems(self) -> list[str]:
        """Every invariant of the in-process test, plus: the server never answered 5xx, and
        the proxy's bookkeeping never failed."""
        problems = [f"no_server_errors: {e}" for e in self.server_errors]
        problems += [f"proxy_observer: {e}" for e in self.proxy.observer_errors]
        problems += self.no_seq_reused()
        problems += check_all(self.devices, self.ledger, self.view())
        return problems

    def no_seq_reused(self) -> list[str]:
        """The SDK never sends a seq twice with different content and never goes back: a
        refusal ``seq_reused`` means a resent, duplicated or late copy was not recognised as
        the mutation it is (its first answer lost, or the device's last seq moved past it). The
        device and the quarantine would agree on such a refusal, so the invariants of the
        in-process test stay silent about it."""
        return [
            f"no_seq_reused: {self.ledger.labels.get(device_id, device_id)} seq {seq} "
            f"({result.entity} {result.id[-8:]}) was refused seq_reused: {result.detail}"
            for (device_id, seq), result in sorted(self.ledger.answers.items())
            if isinstance(result, Rejected) and result.reason == "seq_reused"
        ]

    def summary(self) -> str:
        acks = Counter(type(a.result).__name__ for a in self.ledger.acks.values())
        return (
            f"proxy {dict(sorted(self.proxy.totals().items()))}; acks {dict(acks)}; "
            f"server kills {self.server.kills} (after {self.proxy.kills}), "
            f"starts {self.server.starts}"
        )


class NetworkSimulation(Simulation):
    """simulation.py's seeded day over ``RealNetwork``: device edits (the same actions), syncs
    in random order through the proxy's faults, the manager's REST edits and back-office ORM
    writes; at a random step a kill is armed, and the server is SIGKILLed while it handles the
    n-th request after that (before, during or after its commit), stays down a few steps and is
    started again on the same database; then two healthy final rounds."""

    def __init__(
        self,
        settings: Settings,
        workdir: Path,
        *,
        seed: int,
        steps: int,
        page_limit: int | None = None,
        devices: tuple[tuple[str, str], ...] = REAL_DEVICES,
    ) -> None:
        # Not Simulation.__init__: that one starts the in-process server.
        self.settings = settings
        self.url = settings.database_url
        self.seed = seed
        self.steps = steps
        self.rng = random.Random(seed)
        self.log: list[str] = []
        # Small pages: pulls of several pages, asked ahead, each a request the faults can hit.
        page_limit = page_limit or self.rng.choice((8, 40))
        self.note(0, f"page limit {page_limit}")
        self.net = RealNetwork(settings, workdir, seed=seed, page_limit=page_limit)
        self.world = self.net.world
        self.ledger = self.net.ledger
        self.server = self.net.server  # type: ignore[assignment]
        self.manager_token, _ = token_for(
            settings, self.world.user("mgr_north"), device_name="manager-desk"
        )
        self.devices = []
        try:
            for number, (label, username) in enumerate(devices):
                device = self.net.add_device(label, username, login=number == 0)
                self.net.sync(device)
                self.devices.append(device)
        except BaseException:
            self.net.close()
            raise
        self.down_until: int | None = None

    def close(self) -> None:
        self.net.close()

    def run(self, *, kills: int = 1) -> None:
        kill_steps = set(self.rng.sample(range(self.steps // 5, 4 * self.steps // 5 + 1), kills))
        for step in range(self.steps):
            self._server_lifecycle(step)
            if step in kill_steps:
                self._arm_kill(step)
            roll = self.rng.random()
            if roll < 0.45:
                self.device_edit(step)
            elif roll < 0.88:
                self.device_sync(step, self.rng.choice(self.devices), NetFaults.random(self.rng))
            else:
                self.server_write(step)
        self.net.proxy.disarm_kill()
        if self.net.server.up and self.net.server.kills < kills:
            # An armed kill never fired (too few requests), or one was due while the server was
            # down: kill now, between two syncs.
            self.net.server.kill()
            self.note(self.steps, "server SIGKILLed at the end of the run")
        if not self.net.server.up:
            self.net.restart_server()
            self.note(self.steps, "server restarted for the final rounds")
        self.settle()

    def _arm_kill(self, step: int) -> None:
        after = self.rng.randint(1, 8)
        delay = self.rng.choice((0.0, 0.002, 0.01, 0.03))
        if not self.net.server.up or self.net.proxy.kill_armed:
            self.note(step, "kill not armed: the server is down already")
            return
        self.net.proxy.arm_kill(after, self.net.server.kill, delay_s=delay)
        self.note(step, f"kill armed: after {after} forwarded requests (+{delay}s)")

    def _server_lifecycle(self, step: int) -> None:
        server = self.net.server
        if self.down_until is None:
            if server.up:
                return
            # The armed kill fired during an earlier step.
            server.reap()
            self.net.proxy.upstream_port = None
            self.down_until = step + self.rng.randint(0, 4)
            after = self.net.proxy.kills[-1] if self.net.proxy.kills else "?"
            self.note(step, f"server SIGKILLed after {after}; down until step {self.down_until}")
        if step >= self.down_until:
            self.net.restart_server()
            self.down_until = None
            self.note(step, f"server restarted on port {self.net.server.port}")

    def settle(self) -> None:
        for round_no in (1, 2):
            order = list(self.devices)
            self.rng.shuffle(order)
            for device in order:
                for _ in range(3):
                    self.device_sync(-round_no, device, NetFaults.none())
                    if device.client.outbox.pending_count() == 0:
                        break

    def device_sync(self, step: int, device: SimDevice, faults: Any) -> None:
        try:
            self.net.sync(device, faults)
        except NetworkUnavailable:
            device.stats["offline"] += 1
            self.note(step, f"{device.label} sync: network gave up ({faults})")
            return
        except Exception as exc:
            last_error = self.net.server_errors[-1:] or ["(no 5xx answer seen)"]
            raise AssertionError(
                f"seed {self.seed} step {step}: {device.label} sync failed with "
                f"{type(exc).__name__}: {exc}\nlast server error: {last_error[0]}\n"
                "recent events:\n" + "\n".join(self.log[-15:])
            ) from exc
        self.note(step, f"{device.label} synced ({faults})")

    def server_write(self, step: int) -> None:
        name, action = self.rng.choice(_SERVER_ACTIONS)
        if name in _REST_ACTIONS and (not self.net.server.up or self.net.proxy.kill_armed):
            # The REST call would race the kill; its effect could not be put in the ledger.
            self.note(step, f"server {name}: skipped (server down or kill armed)")
            return
        done = action(self)
        if done is not None:
            self.note(step, f"server {name} {done}")

    def problems(self) -> list[str]:
        return self.net.problems()
