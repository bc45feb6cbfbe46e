"""``fieldline simulate``: simulated reps living their days against a real server.

Each rep has a store of its own and a network that comes and goes (``offline_ratio`` is the
chance that any given sync finds no network). A day: plan a few visits, follow the route, check
in and out (now and then from the wrong place or too briefly), take orders, open tickets, capture
leads, edit accounts; try to sync in the morning, at noon and in the evening. At the end every
rep syncs online and the simulator checks, through a fresh device of each rep bootstrapped from
the server, that everything captured arrived (or was refused with a reason the rep can see).

A day is lived on whatever the server already holds (an earlier run on the same day, the demo's
history, the rep's other devices): a visit on the route already completed or cancelled is left
alone, one already checked in is only checked out, and orders and tickets are only ever created,
never moved, so every status move the simulator attempts is one the state machines allow a
device whatever state the day was left in.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec

from client_sdk.client import FieldClient
from client_sdk.errors import FieldlineClientError, LocalRuleViolation, NetworkUnavailable
from client_sdk.records import Record
from client_sdk.secrets import MemoryTokenStore
from client_sdk.transport import RetryPolicy
from sync.machines import allowed_next

__all__ = [
    "RepSummary",
    "SimConfig",
    "SimResult",
    "Switch",
    "discover_reps",
    "result_json",
    "simulate",
]

OUTCOMES = ("met", "order_taken", "follow_up", "not_available")


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Switch(httpx.BaseTransport):
    """An httpx transport with a network cable: unplugged, every request fails to connect."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.online = True

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.online:
            raise httpx.ConnectError("network unreachable (simulated)", request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@dataclass
class SimConfig:
    server: str
    reps: int = 3
    days: int = 2
    offline_ratio: float = 0.5
    password: str = "fieldline-demo"
    usernames: list[str] = field(default_factory=list)
    admin_user: str = "admin"
    admin_password: str | None = None
    seed: int = 7
    workdir: Path | None = None
    visits_per_day: int = 4


class RepSummary(msgspec.Struct, kw_only=True):
    username: str
    visits: int = 0
    flagged_visits: int = 0
    orders: int = 0
    tickets: int = 0
    leads: int = 0
    edits: int = 0
    syncs: int = 0
    offline_syncs: int = 0
    pushed: int = 0
    pulled: int = 0
    rejected: int = 0
    conflicts: int = 0
    captured: int = 0
    arrived: int = 0
    missing: list[str] = msgspec.field(default_factory=list)
    unsent: int = 0


class SimResult(msgspec.Struct, kw_only=True):
    reps: list[RepSummary]
    duration_s: float

    @property
    def ok(self) -> bool:
        return all(not r.missing and r.unsent == 0 for r in self.reps)


def discover_reps(config: SimConfig) -> list[str]:
    """Rep usernames: as given, else the first ``reps`` reps the admin can list."""
    if config.usernames:
        return config.usernames[: config.reps]
    with httpx.Client(base_url=config.server, timeout=30.0) as http:
        login = http.post(
            "/api/v1/auth/login",
            json={
                "username": config.admin_user,
                "password": config.admin_password or config.password,
                "device_name": "fieldline-simulator",
            },
        )
        login.raise_for_status()
        token = login.json()["access_token"]
        found: list[str] = []
        cursor: str | None = None
        while len(found) < config.reps:
            params = {"role": "rep", "limit": "100", "active": "true"}
            if cursor:
                params["cursor"] = cursor
            page = http.get(
                "/api/v1/users", params=params, headers={"Authorization": f"Bearer {token}"}
            )
            page.raise_for_status()
            body = page.json()
            found.extend(u["username"] for u in body["items"])
            cursor = body.get("next_cursor")
            if not cursor:
                break
    return found[: config.reps]


class _Rep:
    def __init__(self, username: str, config: SimConfig, workdir: Path, rng: random.Random) -> None:
        self.username = username
        self.config = config
        self.rng = rng
        self.switch = Switch()
        self.http = httpx.Client(base_url=config.server, transport=self.switch, timeout=60.0)
        self.clock = datetime.now(UTC)
        self.client = FieldClient(
            workdir / f"{username}.db",
            self.http,
            token_store=MemoryTokenStore(),
            retry=RetryPolicy(attempts=3, base_s=0.05, cap_s=0.2),
            now=lambda: self.clock,
        )
        self.summary = RepSummary(username=username)
        self.captured: dict[tuple[str, str], str] = {}

    def close(self) -> None:
        self.client.close()
        self.http.close()

    def login(self) -> None:
        self.client.login(self.username, self.config.password, device_name=f"sim-{self.username}")
        self.try_sync(force_online=True)

    def try_sync(self, *, force_online: bool = False) -> None:
        online = force_online or self.rng.random() >= self.config.offline_ratio
        self.switch.online = online
        try:
            report = self.client.sync()
        except NetworkUnavailable:
            self.summary.offline_syncs += 1
            return
        finally:
            self.switch.online = True
        self.summary.syncs += 1
        self.summary.pushed += report.pushed
        self.summary.pulled += report.pulled
        self.summary.conflicts += report.conflicts

    def _keep(self, entity: str, record_id: str, what: str) -> None:
        self.captured[(entity, record_id)] = what
        self.summary.captured += 1

    def live(self, day: date) -> None:
        rng = self.rng
        self.clock = datetime(day.year, day.month, day.day, 8, 0, tzinfo=UTC)
        self.try_sync()
        accounts = [a for a in self.client.accounts() if a.get("lat") is not None]
        if not accounts:
            return
        chosen = rng.sample(accounts, min(self.config.visits_per_day, len(accounts)))
        for account in chosen:
            visit = self.client.plan_visit(account.id, day, purpose="regular call")
            self._keep("visit", visit.id, "visit")
        products = [p.id for p in self.client.products()]
        worked = 0
        for n, stop in enumerate(self.client.route(day)):
            if stop.account is None:
                continue
            done = self.work_visit(stop.visit, stop.account, n)
            if done is None:
                continue
            worked += 1
            self.summary.visits += 1
            if done.get("flags"):
                self.summary.flagged_visits += 1
            if products and rng.random() < 0.6:
                lines = [
                    (p, rng.randint(1, 12)) for p in rng.sample(products, min(3, len(products)))
                ]
                try:
                    order = self.client.take_order(stop.account.id, lines)
                except LocalRuleViolation:
                    pass
                else:
                    self.summary.orders += 1
                    self._keep("order", order.id, "order")
            if rng.random() < 0.2:
                ticket = self.client.open_ticket(stop.account.id, "Service needed")
                self.client.comment(ticket.id, "Reported during the visit")
                self.summary.tickets += 1
                self._keep("ticket", ticket.id, "ticket")
            if rng.random() < 0.2:
                self.client.edit_account(stop.account.id, phone=f"+49 {rng.randint(10**7, 10**8)}")
                self.summary.edits += 1
            if worked == 2:
                self.try_sync()
        if rng.random() < 0.5:
            lead = self.client.capture_lead(
                f"Prospect {self.username} {day.isoformat()}", city="field", notes="met at a fair"
            )
            self.summary.leads += 1
            self._keep("lead", lead.id, "lead")
        self.clock += timedelta(hours=1)
        self.try_sync()

    def work_visit(self, visit: Record, account: Record, n: int) -> Record | None:
        """Do what is left of a visit on the route, in the moves its state machine allows a
        device: check in to a planned visit and out again; only check out of one already in
        progress (an earlier run, or the rep's other device, checked in); leave a finished one
        (completed, cancelled, or a visit whose creation the server refused) alone. Returns the
        visit once checked out here, or None."""
        rng = self.rng
        status = str(visit.get("status"))
        moves = allowed_next("visit", status, "device")
        if visit.rejected or not {"in_progress", "completed"} & set(moves):
            return None
        if "in_progress" in moves and account.get("lat") is None:
            return None  # nowhere to check in from
        if "in_progress" in moves:
            self.clock += timedelta(minutes=rng.randint(15, 45))
            ghost = rng.random() < 0.15
            lat = float(account["lat"]) + (0.05 if ghost else rng.uniform(-0.0005, 0.0005))
            lon = float(account["lon"])
            visit = self.client.check_in(
                visit.id, lat=lat, lon=lon, accuracy_m=rng.uniform(5, 40), at=self.clock
            )
            self.clock += timedelta(minutes=2 if ghost else rng.randint(10, 50))
        else:
            # Checked in before this run: check out after that check-in, never before it.
            checked_in = _parse_time(visit.get("check_in_at"))
            self.clock += timedelta(minutes=rng.randint(10, 50))
            if checked_in is not None and checked_in >= self.clock:
                self.clock = checked_in + timedelta(minutes=rng.randint(10, 50))
        return self.client.check_out(
            visit.id, outcome=rng.choice(OUTCOMES), notes=f"visit {n + 1}", at=self.clock
        )

    def finish(self, workdir: Path) -> None:
        for _ in range(2):
            self.try_sync(force_online=True)
        status = self.client.status()
        self.summary.unsent = status.unsent
        self.summary.rejected = status.rejected
        refused = {(r.entity, r.record_id) for r in self.client.rejected()}
        checker = FieldClient(
            workdir / f"{self.username}-check.db",
            server_url=self.config.server,
            token_store=MemoryTokenStore(),
        )
        try:
            checker.login(self.username, self.config.password, device_name="sim-check")
            checker.sync()
            for (entity, record_id), what in self.captured.items():
                if checker.get(entity, record_id) is not None:
                    self.summary.arrived += 1
                elif (entity, record_id) not in refused:
                    self.summary.missing.append(f"{what} {record_id}")
        finally:
            checker.close()


def simulate(
    config: SimConfig, *, on_day: Callable[[int, list[RepSummary]], None] | None = None
) -> SimResult:
    started = time.perf_counter()
    usernames = discover_reps(config)
    if not usernames:
        raise FieldlineClientError("no reps to simulate: give --usernames or an admin login")
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="fieldline-sim-"))
    workdir.mkdir(parents=True, exist_ok=True)
    master = random.Random(config.seed)
    reps = [_Rep(u, config, workdir, random.Random(master.random())) for u in usernames]
    first_day = datetime.now(UTC).date() - timedelta(days=config.days)
    workers = max(1, min(8, len(reps)))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda r: r.login(), reps))
            for d in range(config.days):
                day = first_day + timedelta(days=d)
                list(pool.map(lambda r, day=day: r.live(day), reps))
                if on_day is not None:
                    on_day(d + 1, [r.summary for r in reps])
            list(pool.map(lambda r: r.finish(workdir), reps))
    finally:
        for rep in reps:
            rep.close()
    return SimResult(reps=[r.summary for r in reps], duration_s=time.perf_counter() - started)


def result_json(result: SimResult) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(result)
    out["ok"] = result.ok
    return out
