"""Scale-out: the real workload's field-day syncs served by 1, 2 and 4 server processes on one
PostgreSQL database, crowd after crowd, to find how many devices per second each set-up serves
with a p99 of at most one second, and what saturates first.

    python -m bench.scaleout --database-url postgresql+asyncpg://…/empty_db [--quick]
                             [--servers 1 2 4] [--crowds 50 100 150 200]

The demo world is loaded once (scale 1; ``--quick``: 0.1). One crowd's worth of client_sdk
tablets (the largest crowd) log in and bootstrap once. Then for each number of server processes
N, N fresh processes are started on the database, each tablet is pinned to one of them
(round-robin, as a balancer without affinity spreads connections), and for each crowd size the
first C tablets live a field day offline (bench/real_workload.py's day: visits with GPS, a
3-line order, a ticket, an account edit) and sync at once; one untimed catch-up round follows.
Before the first crowd, one untimed round of syncs warms every fresh process. A set-up stops
growing its crowd once the p99 passes the limit.

"Devices per second" is the crowd divided by the burst's wall time: how many field-day syncs
the set-up completed per second while every device waited at most ``P99_LIMIT_S`` (99th
percentile). CPU is read with psutil over each burst for the server processes, the PostgreSQL
backends and this bench process (whose threads are the tablets), against the machine's cores.

JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.real_workload import (
    DEMO_SEED,
    SECRET,
    SETUP_CONCURRENCY,
    Burst,
    MeteredServer,
    Tablet,
    WireMeter,
    burst_figures,
    field_day,
    load_world,
    login_and_bootstrap,
    own_cpu_seconds,
    release_all,
)
from client_sdk.client import FieldClient
from client_sdk.secrets import MemoryTokenStore

P99_LIMIT_S = 1.0


class RoutedMeter(WireMeter):
    """A tablet's transport that sends each request to the replica it is pinned to."""

    def __init__(self) -> None:
        super().__init__()
        self.port = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.port:
            request.url = request.url.copy_with(port=self.port)
        return super().handle_request(request)


def _postgres_processes() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "username"]):
        if (proc.info["name"] or "").startswith("postgres"):
            found.append(proc)
    return found


def _cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def burst(tablets: list[Tablet], servers: list[MeteredServer]) -> tuple[Burst, dict[str, float]]:
    """Every tablet syncs on its own thread, all released by one barrier; CPU by party."""
    postgres = _postgres_processes()
    each_before = [s.cpu_seconds() for s in servers]
    before = (sum(each_before), _cpu(postgres), own_cpu_seconds())
    result = release_all(tablets)
    each_after = [s.cpu_seconds() for s in servers]
    after = (sum(each_after), _cpu(postgres), own_cpu_seconds())
    result.server_cpu_s = after[0] - before[0]
    result.client_cpu_s = after[2] - before[2]
    cores = psutil.cpu_count() or 1
    capacity = cores * result.wall_s
    shares = {
        "servers_cpu_s": round(after[0] - before[0], 3),
        "postgres_cpu_s": round(after[1] - before[1], 3),
        "bench_client_cpu_s": round(after[2] - before[2], 3),
        "machine_cores": cores,
        "servers_share_of_machine": round((after[0] - before[0]) / capacity, 3),
        "postgres_share_of_machine": round((after[1] - before[1]) / capacity, 3),
        "bench_client_share_of_machine": round((after[2] - before[2]) / capacity, 3),
        "busiest_server_process_share_of_one_core": round(
            max(a - b for a, b in zip(each_after, each_before, strict=True)) / result.wall_s, 3
        ),
    }
    return result, shares


def run(database_url: str, scale: float, server_counts: list[int], crowds: list[int]) -> Any:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="fieldline-scaleout-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        reps = load_world(database_url, scale)
        load_s = time.perf_counter() - started
        size = max(crowds)
        owners = [reps[n % len(reps)] for n in range(size)]
        tablets: list[Tablet] = []
        for n, username in enumerate(owners):
            meter = RoutedMeter()
            http = httpx.Client(base_url="http://127.0.0.1:1", transport=meter, timeout=120.0)
            client = FieldClient(workdir / f"tablet-{n}.db", http, token_store=MemoryTokenStore())
            index = owners[:n].count(username)
            tablets.append(Tablet(username, index, owners.count(username), client, meter, http))
        stages: dict[str, Any] = {}
        bootstrap: dict[str, Any] = {}
        try:
            for count in server_counts:
                stages[str(count)] = _stage(database_url, tablets, count, crowds, bootstrap)
        finally:
            for tablet in tablets:
                tablet.close()
    load_after = os.getloadavg()
    best = {
        n: max(
            (c for c in stage["crowds"].values() if c["within_p99_limit"]),
            key=lambda c: c["devices_per_s"],
            default=None,
        )
        for n, stage in stages.items()
    }
    return {
        "store": "postgresql",
        "workload": (
            f"demo world (seed {DEMO_SEED}, scale {scale}, {len(reps)} reps) loaded in "
            f"{load_s:.1f} s into one PostgreSQL database. {size} client_sdk tablets (threads "
            "of this process, each with its own SQLite store), dealt round-robin over the "
            f"reps, log in and bootstrap once ({SETUP_CONCURRENCY} at a time). For each "
            "number of server processes, that many fresh processes on the database, each "
            "tablet pinned to one (round-robin); for each crowd size C, the first C tablets "
            "live bench/real_workload.py's field day offline (3 visits with GPS, note and "
            "check-out; a 3-line order; a ticket with a comment; an account edit) and sync all "
            "at once (barrier), then one untimed catch-up round. Stages and crowds run one "
            "after the other on the same growing database. devices_per_s = C / burst wall "
            f"time; a crowd is within the limit when its p99 sync latency <= {P99_LIMIT_S} s "
            "with no error."
        ),
        "load_average_1_5_15_before": [round(x, 2) for x in load_before],
        "load_average_1_5_15_after": [round(x, 2) for x in load_after],
        "bootstrap": bootstrap,
        "servers": stages,
        "best_within_p99_limit": {
            n: (
                None
                if b is None
                else {k: b[k] for k in ("crowd", "devices_per_s", "latency_p99_s", "cpu")}
            )
            for n, b in best.items()
        },
    }


def _stage(
    url: str, tablets: list[Tablet], count: int, crowds: list[int], bootstrap: dict[str, Any]
) -> dict[str, Any]:
    with ExitStack() as stack:
        servers = [
            stack.enter_context(MeteredServer(url, env={"FIELDLINE_SECRET_KEY": SECRET}))
            for _ in range(count)
        ]
        for n, tablet in enumerate(tablets):
            assert isinstance(tablet.meter, RoutedMeter)
            tablet.meter.port = servers[n % count].port
        if not bootstrap:
            bootstrap.update(login_and_bootstrap(tablets))
        # Fresh processes pay for their first requests (caches, the pool's first statements):
        # one untimed round of syncs, several per process, so the first crowd is not measuring
        # start-up — which would count against a set-up with more processes.
        burst(tablets[: min(len(tablets), max(crowds[0], 4 * count))], servers)
        results: dict[str, Any] = {}
        for crowd in crowds:
            group = tablets[:crowd]
            for tablet in group:
                field_day(tablet)
            day, cpu = burst(group, servers)
            figures = burst_figures(day)
            within = (
                figures["errors"] == 0
                and figures["latency_p99_s"] is not None
                and figures["latency_p99_s"] <= P99_LIMIT_S
            )
            results[str(crowd)] = {
                "crowd": crowd,
                "devices_per_s": round(crowd / day.wall_s, 1),
                "within_p99_limit": within,
                **figures,
                "cpu": cpu,
            }
            burst(group, servers)  # catch-up, untimed: every tablet level for the next crowd
            if not within:
                break
        peaks = [round(s.peak_rss / 2**20, 1) for s in servers]
    return {
        "server_processes": count,
        "crowds": results,
        "server_peak_rss_mb": peaks,
        "server_peak_rss_mb_median": statistics.median(peaks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout")
    parser.add_argument("--database-url", required=True, help="an empty PostgreSQL database")
    parser.add_argument("--quick", action="store_true", help="scale 0.1, crowds of 10 and 20")
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--crowds", type=int, nargs="+", help="default 50 100 150 200")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        parser.error("scale-out needs PostgreSQL: several processes on one SQLite file queue")
    scale = 0.1 if args.quick else 1.0
    crowds = args.crowds or ([10, 20] if args.quick else [50, 100, 150, 200])
    print(json.dumps(run(args.database_url, scale, args.servers, crowds), indent=2))


if __name__ == "__main__":
    main()
