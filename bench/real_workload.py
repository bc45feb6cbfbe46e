"""The real workload: the demo world, a real server process, and a crowd of real SDK tablets.

    python -m bench.real_workload [--database-url postgresql+asyncpg://…] [--quick] [--devices N …]

The demo data set is loaded into a fresh store (a temporary SQLite file, or the empty
PostgreSQL database ``--database-url`` names) at scale 1 (``--quick``: 0.1). A server process
runs on it. Crowds of N tablets (default 100, then 500; ``--quick`` 20, then 40), spread
round-robin over the demo reps, each
a ``client_sdk.FieldClient`` with a SQLite store of its own, log in with the demo password and
bootstrap. Then each tablet lives a field day through the SDK's verbs only, offline, and all
tablets sync at once; then all sync once more with nothing changed.

JSON on stdout; every figure names its unit in its key, and "workload" says what was done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.server_process import ServerProcess
from client_sdk.client import FieldClient
from client_sdk.errors import LocalRuleViolation
from client_sdk.records import Record
from client_sdk.secrets import MemoryTokenStore
from client_sdk.sync_loop import SyncReport
from server.auth.models import Role
from server.db.migrate import upgrade
from server.demo import DEMO_PASSWORD, load_demo

SECRET = "bench-secret-key-that-is-long-enough-for-hs256-signing"
DEMO_SEED = 42
VISITS_PER_DEVICE = 3
ORDER_LINES = 3
# Logins verify an argon2 hash and bootstraps pull whole scopes: a morning where a handful of
# tablets start at the same moment, not all of them (the timed syncs below are all at once).
SETUP_CONCURRENCY = 10
# A GPS fix a few metres off the account's pin: inside any check-in radius.
GPS_JITTER_DEG = 0.0002


# Bytes on the wire --------------------------------------------------------------------------------
class _CountedStream(httpx.SyncByteStream):
    """A response body that adds its raw (still compressed) chunks to a meter as they arrive."""

    def __init__(self, inner: httpx.SyncByteStream, meter: WireMeter) -> None:
        self.inner = inner
        self.meter = meter

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.meter.received += len(chunk)
            yield chunk

    def close(self) -> None:
        self.inner.close()


def _header_bytes(raw: list[tuple[bytes, bytes]]) -> int:
    """Header lines as HTTP/1.1 frames them: name, colon, space, value, CRLF."""
    return sum(len(name) + len(value) + 4 for name, value in raw)


class WireMeter(httpx.BaseTransport):
    """An httpx transport that counts HTTP body bytes as sent (request bodies, and response
    bodies before gzip is undone) and, apart, the HTTP/1.1 head of each request and answer
    (start line and headers as framed on the socket), and the answers the SDK would retry.
    One per tablet, so no locking: a tablet's requests are sequential except the pull-ahead,
    whose counts may race by a chunk at worst."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests = 0
        self.sent = 0
        self.received = 0
        self.head_sent = 0
        self.head_received = 0
        self.retryable = 0

    def reset(self) -> None:
        self.requests = self.sent = self.received = self.retryable = 0
        self.head_sent = self.head_received = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.sent += len(request.read())
        target = request.url.raw_path
        self.head_sent += len(request.method) + len(target) + len(b"  HTTP/1.1\r\n\r\n")
        self.head_sent += _header_bytes(request.headers.raw)
        response = self.inner.handle_request(request)
        reason = response.extensions.get("reason_phrase", b"")
        self.head_received += len(b"HTTP/1.1 200 \r\n\r\n") + len(reason)
        self.head_received += _header_bytes(response.headers.raw)
        if response.status_code == 429 or response.status_code >= 500:
            self.retryable += 1
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_CountedStream(response.stream, self),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self.inner.close()


# The server ---------------------------------------------------------------------------------------
class MeteredServer(ServerProcess):
    """ServerProcess that also knows the server's pid, for its CPU time."""

    pid = 0

    def __enter__(self) -> MeteredServer:
        super().__enter__()
        return self

    def _sample(self, server: Any) -> None:
        self.pid = server.process.pid
        super()._sample(server)

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process and any children it started."""
        process = psutil.Process(self.pid)
        total = 0.0
        for proc in [process, *process.children(recursive=True)]:
            times = proc.cpu_times()
            total += times.user + times.system
        return total


def load_world(url: str, scale: float) -> list[str]:
    """Migrate, load the demo world, and return every rep's username."""
    upgrade(url)
    result = asyncio.run(load_demo(url, seed=DEMO_SEED, scale=scale))
    reps = [login.username for login in result.logins if login.role == Role.REP]
    for usernames in result.other_reps.values():
        reps.extend(usernames)
    return sorted(reps)


# Tablets ------------------------------------------------------------------------------------------
@dataclass
class Tablet:
    username: str
    index: int
    """Which of its rep's tablets this is (0-based), so tablets of one rep split the route."""
    of: int
    client: FieldClient
    meter: WireMeter
    http: httpx.Client
    refused_on_device: list[str] = field(default_factory=list)
    planned_visits: int = 0
    unplanned_visits: int = 0

    def close(self) -> None:
        self.client.close()
        self.http.close()


def open_tablets(workdir: Path, server_url: str, reps: list[str], count: int) -> list[Tablet]:
    """``count`` tablets dealt round-robin over the reps: several per rep when count > reps."""
    owners = [reps[n % len(reps)] for n in range(count)]
    tablets = []
    for n, username in enumerate(owners):
        meter = WireMeter()
        http = httpx.Client(base_url=server_url, transport=meter, timeout=120.0)
        client = FieldClient(workdir / f"tablet-{n}.db", http, token_store=MemoryTokenStore())
        index = owners[:n].count(username)
        tablets.append(Tablet(username, index, owners.count(username), client, meter, http))
    return tablets


def login_and_bootstrap(tablets: list[Tablet]) -> dict[str, Any]:
    def one(tablet: Tablet) -> tuple[int, float]:
        tablet.client.login(
            tablet.username, DEMO_PASSWORD, device_name=f"bench-{tablet.username}-{tablet.index}"
        )
        start = time.perf_counter()
        report = tablet.client.sync()
        return report.pulled, time.perf_counter() - start

    started = time.perf_counter()
    with ThreadPoolExecutor(SETUP_CONCURRENCY) as pool:
        results = list(pool.map(one, tablets))
    wall = time.perf_counter() - started
    records = [r for r, _ in results]
    return {
        "tablets": len(tablets),
        "concurrent": SETUP_CONCURRENCY,
        "records_per_tablet_median": statistics.median(records),
        "records_total": sum(records),
        "seconds_per_bootstrap_median": round(statistics.median(s for _, s in results), 3),
        "records_per_s_per_tablet_median": round(statistics.median(r / s for r, s in results)),
        "records_per_s_aggregate_incl_logins": round(sum(records) / wall),
        "wire_bytes_received": sum(t.meter.received for t in tablets),
    }


# The field day ------------------------------------------------------------------------------------
def _near(account: Record, rng: random.Random) -> tuple[float, float]:
    return (
        float(account["lat"]) + rng.uniform(-GPS_JITTER_DEG, GPS_JITTER_DEG),
        float(account["lon"]) + rng.uniform(-GPS_JITTER_DEG, GPS_JITTER_DEG),
    )


def _stops(tablet: Tablet, rng: random.Random) -> list[tuple[str | None, Record]]:
    """(visit id or None for an unplanned visit, account) for this tablet's visits: its share of
    the rep's planned route (tablets of one rep take turns, so no two check in to the same
    visit), topped up with unplanned visits to accounts of the territory."""
    client = tablet.client
    # Only stops still planned: a crowd after another finds some of the day's visits done.
    route = [
        s
        for s in client.route()
        if s.account is not None and s.account.get("lat") and s.visit.get("status") == "planned"
    ]
    mine = route[tablet.index :: tablet.of][:VISITS_PER_DEVICE]
    stops: list[tuple[str | None, Record]] = [(s.visit.id, s.account) for s in mine if s.account]
    placed = [a for a in client.accounts() if a.get("lat") is not None]
    missing = VISITS_PER_DEVICE - len(stops)
    stops += [(None, a) for a in rng.sample(placed, min(missing, len(placed)))]
    tablet.planned_visits += sum(1 for visit_id, _ in stops if visit_id is not None)
    tablet.unplanned_visits += sum(1 for visit_id, _ in stops if visit_id is None)
    return stops


def _visit(tablet: Tablet, visit_id: str | None, account: Record, at: datetime, n: int) -> None:
    rng = random.Random(f"{tablet.username}:{tablet.index}:{n}")
    lat, lon = _near(account, rng)
    visit = tablet.client.check_in(
        visit_id, lat=lat, lon=lon, accuracy_m=rng.uniform(5, 25), at=at, account_id=account.id
    )
    tablet.client.add_visit_note(visit.id, f"Spoke with the buyer ({tablet.username}, stop {n})")
    tablet.client.check_out(
        visit.id, outcome="met", notes="restock next week", at=at + timedelta(minutes=25)
    )


def _guarded(tablet: Tablet, verb: str, action: Callable[[], object]) -> None:
    """A verb the device refuses (a local rule) is counted, not fatal: it is part of a day."""
    try:
        action()
    except LocalRuleViolation as exc:
        tablet.refused_on_device.append(f"{verb}: {exc.reason}")


def field_day(tablet: Tablet) -> None:
    """Visits with GPS near the account and a note, one 3-line order from the cached
    catalogue, one ticket with a comment, one account edit; all offline, through the verbs."""
    client = tablet.client
    rng = random.Random(f"{tablet.username}:{tablet.index}")
    stops = _stops(tablet, rng)
    # Visits happened earlier today, 40 minutes apart, each 25 minutes long.
    at = datetime.now(UTC) - timedelta(minutes=40 * len(stops) + 5)
    for n, (visit_id, account) in enumerate(stops):
        _guarded(tablet, "visit", lambda: _visit(tablet, visit_id, account, at, n))  # noqa: B023
        at += timedelta(minutes=40)
    if not stops:
        return
    account = stops[0][1]
    products = [p.id for p in client.products()]
    lines = [(p, rng.randint(1, 12)) for p in rng.sample(products, min(ORDER_LINES, len(products)))]
    _guarded(tablet, "order", lambda: client.take_order(account.id, lines))

    def ticket() -> None:
        opened = client.open_ticket(account.id, "Drill press needs service")
        client.comment(opened.id, "Reported during the visit; customer waiting on parts")

    _guarded(tablet, "ticket", ticket)
    phone = f"+49 40 {rng.randint(10**6, 10**7 - 1)}"
    _guarded(tablet, "account edit", lambda: client.edit_account(account.id, phone=phone))


# Syncs --------------------------------------------------------------------------------------------
@dataclass
class Burst:
    latencies: list[float] = field(default_factory=list)
    reports: list[SyncReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    """The bench process: every tablet's SDK shares it (and its GIL)."""
    wall_s: float = 0.0
    wire: dict[str, int] = field(default_factory=dict)
    """Summed over the tablets' meters, read when the burst is over."""


def release_all(tablets: list[Tablet]) -> Burst:
    """Every tablet syncs on its own thread, all released by one barrier: latencies, reports,
    errors, the burst's wall time and its wire figures. CPU is the caller's to read, around this
    call, for whichever parties it measures."""
    burst = Burst()
    lock = threading.Lock()
    release = threading.Barrier(len(tablets))
    for tablet in tablets:
        tablet.meter.reset()

    def one(tablet: Tablet) -> None:
        release.wait()
        start = time.perf_counter()
        try:
            report = tablet.client.sync()
        except Exception as exc:
            with lock:
                burst.errors.append(f"{tablet.username}: {type(exc).__name__}: {exc}"[:300])
            return
        with lock:
            burst.latencies.append(time.perf_counter() - start)
            burst.reports.append(report)

    started = time.perf_counter()
    with ThreadPoolExecutor(len(tablets)) as pool:
        list(pool.map(one, tablets))
    burst.wall_s = time.perf_counter() - started
    burst.wire = {
        "http_requests": sum(t.meter.requests for t in tablets),
        "wire_bytes_sent": sum(t.meter.sent for t in tablets),
        "wire_bytes_received": sum(t.meter.received for t in tablets),
        "server_5xx_or_429_answers": sum(t.meter.retryable for t in tablets),
    }
    return burst


def sync_all(tablets: list[Tablet], server: MeteredServer) -> Burst:
    """``release_all``, with the server's CPU and this process's (the tablets') across it."""
    cpu_before = server.cpu_seconds()
    client_before = own_cpu_seconds()
    burst = release_all(tablets)
    burst.server_cpu_s = server.cpu_seconds() - cpu_before
    burst.client_cpu_s = own_cpu_seconds() - client_before
    return burst


def own_cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def sync_alone(tablet: Tablet) -> float:
    """One empty sync with no other tablet busy: what the crowd adds to the latency."""
    start = time.perf_counter()
    tablet.client.sync()
    return round(time.perf_counter() - start, 3)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 3)


def burst_figures(burst: Burst) -> dict[str, Any]:
    syncs = len(burst.latencies) + len(burst.errors)
    return {
        "syncs": syncs,
        "latency_p50_s": _percentile(burst.latencies, 0.5),
        "latency_p99_s": _percentile(burst.latencies, 0.99),
        "latency_max_s": _percentile(burst.latencies, 1.0),
        "burst_wall_s": round(burst.wall_s, 3),
        "errors": len(burst.errors),
        "first_error": burst.errors[0] if burst.errors else None,
        "mutations_pushed": sum(r.pushed for r in burst.reports),
        "mutations_rejected_by_server": sum(r.rejected for r in burst.reports),
        "conflicts_reported": sum(r.conflicts for r in burst.reports),
        "records_pulled": sum(r.pulled for r in burst.reports),
        **burst.wire,
        "server_cpu_s_total": round(burst.server_cpu_s, 3),
        "server_cpu_s_per_sync": round(burst.server_cpu_s / syncs, 4) if syncs else None,
        "bench_process_cpu_s_total_all_tablets": round(burst.client_cpu_s, 3),
    }


# Running it ---------------------------------------------------------------------------------------
def run(database_url: str | None, scale: float, crowds: list[int]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fieldline-real-") as tmp:
        workdir = Path(tmp)
        # The named (empty) PostgreSQL database, or a new SQLite file.
        url = database_url or f"sqlite:///{workdir / 'server.db'}"
        started = time.perf_counter()
        reps = load_world(url, scale)
        load_s = time.perf_counter() - started
        results = {}
        with MeteredServer(url, env={"FIELDLINE_SECRET_KEY": SECRET}) as server:
            for devices in crowds:
                # Each crowd is new tablets on the same server, after the crowds before it:
                # their field day plans around what the day already holds.
                results[str(devices)] = _crowd(server, workdir / f"crowd-{devices}", reps, devices)
            peak = server.peak_rss
    return {
        "store": "postgresql" if database_url else "sqlite",
        "workload": (
            f"demo world (seed {DEMO_SEED}, scale {scale}, {len(reps)} reps) loaded in "
            f"{load_s:.1f} s; one server process; crowds of {crowds} client_sdk FieldClient "
            "tablets, one crowd after the other on the same server, each dealt round-robin "
            "over the reps, each tablet with its own SQLite store. Bootstrap: login "
            f"+ first sync, {SETUP_CONCURRENCY} tablets at a time. Field day per tablet, "
            f"offline through the SDK verbs: {VISITS_PER_DEVICE} visits (its share of the "
            "rep's planned route, else unplanned visits to territory accounts) each checked in "
            "with GPS within ~20 m of the account, a visit note and a check-out; one submitted "
            f"order of {ORDER_LINES} lines from the cached catalogue; one ticket with one "
            "comment; one account phone edit. Then every tablet of the crowd syncs at once "
            "(threads released by a barrier); one untimed catch-up round (all at once) so every "
            "tablet holds what the others pushed; then all at once again with nothing changed "
            "(empty sync), and one tablet's empty sync alone. "
            "Latencies are client-side wall time of FieldClient.sync() (SDK retries included; "
            "server_5xx_or_429_answers counts them). Wire bytes are HTTP bodies as sent "
            "(compressed responses before decompression; headers excluded). Server CPU is "
            "user+system of the server process (psutil) across the burst. The tablets run as "
            "threads of one client process on the same machine as the server."
        ),
        "crowds": results,
        "server_peak_rss_mb": round(peak / 2**20, 1),
        "server_peak_rss_covers": "logins, bootstraps, every sync of every crowd (not the load)",
    }


def _crowd(server: MeteredServer, workdir: Path, reps: list[str], devices: int) -> dict[str, Any]:
    workdir.mkdir(parents=True)
    tablets = open_tablets(workdir, server.url, reps, devices)
    try:
        bootstrap = login_and_bootstrap(tablets)
        for tablet in tablets:
            field_day(tablet)
        day = sync_all(tablets, server)
        # Tablets that synced early missed what later ones pushed: one untimed round
        # brings every tablet level, so the empty sync below really has nothing to do.
        catch_up = sync_all(tablets, server)
        empty = sync_all(tablets, server)
        alone = sync_alone(tablets[0])
    finally:
        for tablet in tablets:
            tablet.close()
    refused = [r for t in tablets for r in t.refused_on_device]
    return {
        "bootstrap": bootstrap,
        "field_day_sync": burst_figures(day),
        "catch_up_records_pulled": sum(r.pulled for r in catch_up.reports),
        "empty_sync": {**burst_figures(empty), "one_tablet_alone_latency_s": alone},
        "visits_planned_route": sum(t.planned_visits for t in tablets),
        "visits_unplanned": sum(t.unplanned_visits for t in tablets),
        "refused_on_device": len(refused),
        "first_refused_on_device": refused[0] if refused else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.real_workload")
    parser.add_argument("--database-url", help="PostgreSQL URL of an empty database")
    parser.add_argument("--quick", action="store_true", help="scale 0.1, crowds of 20 and 40")
    parser.add_argument(
        "--devices", type=int, nargs="+", help="crowd sizes (default 100 500; --quick 20 40)"
    )
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    crowds = args.devices or ([20, 40] if args.quick else [100, 500])
    print(json.dumps(run(args.database_url, scale, crowds), indent=2))


if __name__ == "__main__":
    main()
