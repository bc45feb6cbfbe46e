"""Fieldline side by side with PouchDB: the same work, the same machine, alternating, one run.

    python -m bench.peer_compare --peer DIR [--sizes 10000 50000] [--repeat 2]
                                 [--database-url postgresql+asyncpg://…/any]

``DIR`` is a copy of the pinned PouchDB harness (pouchdb-node 9 against pouchdb-server 4.2, with
its ``node_modules`` installed: ``npm ci``); for each size and repetition this runs its
``bench.js N`` and then the Fieldline equivalent below, and prints every phase of both with the
ratios. Without ``--peer`` only the Fieldline side runs (no ratios).

The work, on each side, for N records (a round robin of visit / order / ticket, ~100 characters
of text each, orders with three lines):
  capture      N records written on one device, offline. PouchDB: ``bulkDocs`` in chunks of
               1,000. Fieldline: the SDK's verbs, one user action per record — ``plan_visit``,
               ``take_order`` with three lines from the cached catalogue, ``open_ticket``.
  push         the device sends them all to the server. PouchDB: one-shot replication at batch
               1,000 (and at its default, 100). Fieldline: ``sync()`` with SDK defaults.
  bootstrap    a fresh device pulls all of them. PouchDB: replication at batch 1,000 (and 100).
               Fieldline: a second tablet of the same rep logs in and runs ``sync()``.
  incremental  1 % of the records edited on the device and 1 % on the server, half of them the
               same records, then one two-way sync. Fieldline edits visits' purpose through
               ``edit_visit`` on the device and through the REST API (another device of the rep)
               on the server: the same field on both sides, so every overlap is a conflict,
               which the rules resolve (the later write wins) and report to the losing device.
  empty        a sync with nothing to transfer. PouchDB's harness times only its first one,
               which walks the change feed for a checkpoint (``checkpoint_sync``); Fieldline's is
               timed as a device does it every time, with the scope checksums it verifies.

Units: "records" are the N documents / SDK records (an order with its lines is one record, as it
is one PouchDB document); "mutations" are what the Fieldline outbox sends (an order is four).
Wire bytes: ``wire_bytes_*`` are Fieldline's HTTP bodies as sent (MessagePack, compressed as
sent); ``socket_bytes`` are bodies plus the HTTP/1.1 heads, on both sides — PouchDB's counted on
the harness's client sockets (bench/pouchdb_wire.cjs, loaded with ``node -r``) during each
replication, Fieldline's by its client transport. The Fieldline server runs as its own process
on a fresh store; its CPU time is read per phase.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench.real_workload import MeteredServer, WireMeter
from client_sdk.client import FieldClient
from client_sdk.secrets import MemoryTokenStore
from server.db.migrate import upgrade
from tests.seed import PASSWORD, seed_world

WORDS = [
    "customer",
    "requested",
    "follow",
    "up",
    "on",
    "pricing",
    "shelf",
    "display",
    "restock",
    "promo",
    "needs",
    "approval",
    "manager",
    "absent",
    "call",
    "back",
    "next",
    "week",
    "delivery",
    "delayed",
    "invoice",
    "mismatch",
    "new",
    "contact",
    "competitor",
    "visit",
    "planogram",
    "updated",
    "samples",
    "left",
]
REP = "rep_n1"
ACCOUNTS = 40
EMPTY_SYNCS = 50


def _text(n: int) -> str:
    words: list[str] = []
    while len(" ".join(words)) < 100:
        words.append(WORDS[(n * 7 + len(words) * 13) % len(WORDS)])
    return " ".join(words)[:100]


# PouchDB ------------------------------------------------------------------------------------------
def run_peer(peer: Path, n: int) -> dict[str, Any]:
    done = subprocess.run(
        ["node", "-r", str(_WIRE_COUNTER), "bench.js", str(n), "--timeout=900"],
        cwd=peer,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.js {n} failed: {done.stderr[-2000:]}")
    phases = {}
    wire: dict[str, Any] | None = None
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            if "wire_call" in row:
                wire = row  # printed as the replication ends, just before its phase's line
                continue
            if wire is not None and row["phase"] in _REPLICATIONS:
                row["socket_bytes"] = wire["bytes_sent"] + wire["bytes_received"]
            wire = None
            phases[row["phase"]] = row
    return phases


_WIRE_COUNTER = Path(__file__).with_name("pouchdb_wire.cjs")
_REPLICATIONS = {
    "push_default",
    "push_b1000",
    "pull_default",
    "pull_b1000",
    "checkpoint_sync",
    "incremental_sync",
}


# Fieldline ----------------------------------------------------------------------------------------
class _Tablet:
    def __init__(self, path: Path, server_url: str) -> None:
        self.meter = WireMeter()
        self.http = httpx.Client(base_url=server_url, transport=self.meter, timeout=600.0)
        self.client = FieldClient(path, self.http, token_store=MemoryTokenStore())

    def close(self) -> None:
        self.client.close()
        self.http.close()


def _phase(server: MeteredServer, tablet: _Tablet, work: Any) -> tuple[Any, dict[str, Any]]:
    tablet.meter.reset()
    cpu = server.cpu_seconds()
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    return result, {
        "seconds": round(seconds, 3),
        "server_cpu_s": round(server.cpu_seconds() - cpu, 3),
        "wire_bytes_sent": tablet.meter.sent,
        "wire_bytes_received": tablet.meter.received,
        "socket_bytes": tablet.meter.sent
        + tablet.meter.received
        + tablet.meter.head_sent
        + tablet.meter.head_received,
        "http_requests": tablet.meter.requests,
    }


def _capture(tablet: _Tablet, n: int, accounts: list[str], products: list[str]) -> list[str]:
    """N records through the SDK's verbs; returns the visit ids (what the edits touch)."""
    client = tablet.client
    visits = []
    day = date.today() + timedelta(days=1)
    for i in range(n):
        account = accounts[i % len(accounts)]
        kind = i % 3
        if kind == 0:
            visits.append(client.plan_visit(account, day, purpose=_text(i)).id)
        elif kind == 1:
            lines = [(products[(i + k) % len(products)], 1 + (i + k) % 50) for k in range(3)]
            client.take_order(account, lines, notes=_text(i))
        else:
            client.open_ticket(account, f"Ticket {i}", description=_text(i))
    return visits


def _edit_on_server(server_url: str, visits: list[str], stamp: str) -> None:
    """The server side's edits, through the REST API as another device of the same rep."""
    with httpx.Client(base_url=server_url, timeout=60.0) as http:
        login = http.post(
            "/api/v1/auth/login",
            json={"username": REP, "password": PASSWORD, "device_name": "office browser"},
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for visit_id in visits:
            answer = http.patch(
                f"/api/v1/visits/{visit_id}", json={"purpose": stamp}, headers=headers
            )
            answer.raise_for_status()


def run_fieldline(n: int, database_url: str | None, workdir: Path) -> dict[str, Any]:
    url = database_url or f"sqlite:///{workdir / 'server.db'}"
    upgrade(url)
    world = seed_world(url, accounts_per_territory=ACCOUNTS)
    accounts = world.accounts["N1"]
    out: dict[str, Any] = {}
    with MeteredServer(url) as server:
        device = _Tablet(workdir / "device.db", server.url)
        device.client.login(REP, PASSWORD, device_name="bench device")
        device.client.sync()
        visits, out["capture"] = _phase(
            server, device, lambda: _capture(device, n, accounts, world.products)
        )
        report, out["push"] = _phase(server, device, device.client.sync)
        out["push"]["mutations"] = report.pushed
        assert report.rejected == 0 and device.client.status().unsent == 0, report

        fresh = _Tablet(workdir / "fresh.db", server.url)
        fresh.client.login(REP, PASSWORD, device_name="bench fresh tablet")
        report, out["bootstrap"] = _phase(server, fresh, fresh.client.sync)
        out["bootstrap"]["records_pulled"] = report.pulled
        empties = []
        cpu = server.cpu_seconds()
        for _ in range(EMPTY_SYNCS):
            _, empty = _phase(server, fresh, fresh.client.sync)
            empties.append(empty)
        # The process's CPU clock ticks in 10 ms: one empty sync reads as 0 or 10 ms, so the
        # figure is the total over all of them, divided.
        out["empty"] = {key: statistics.median(e[key] for e in empties) for key in empties[0]} | {
            "runs": len(empties),
            "server_cpu_ms_per_sync": round((server.cpu_seconds() - cpu) * 1000 / EMPTY_SYNCS, 2),
        }

        k = max(1, round(n * 0.01))
        half = k // 2
        mine = visits[:k]
        theirs = visits[half : half + k]
        for visit_id in mine:
            device.client.edit_visit(visit_id, purpose="edited on the device " + _text(k))
        _edit_on_server(server.url, theirs, "edited on the server")
        report, out["incremental"] = _phase(server, device, device.client.sync)
        out["incremental"].update(
            edited_device=len(mine),
            edited_server=len(theirs),
            overlap=len(set(mine) & set(theirs)),
            pushed=report.pushed,
            pulled=report.pulled,
            conflicts_reported_to_the_device=report.conflicts,
        )
        out["server_peak_rss_mb"] = round(server.peak_rss / 2**20, 1)
        device.close()
        fresh.close()
    for phase in ("capture", "push", "bootstrap"):
        out[phase]["records_per_s"] = round(n / out[phase]["seconds"], 1)
    for phase in ("push", "bootstrap", "incremental"):
        moved = out[phase]["wire_bytes_sent"] + out[phase]["wire_bytes_received"]
        out[phase]["wire_bytes_per_record"] = round(moved / n, 1)
        out[phase]["socket_bytes_per_record"] = round(out[phase]["socket_bytes"] / n, 1)
    return out


@contextmanager
def _fresh(database_url: str | None) -> Iterator[str | None]:
    """An empty PostgreSQL database for one run, made beside the one ``database_url`` names
    (which only has to exist) and dropped afterwards; None (SQLite in the run's directory)
    without a URL."""
    if database_url is None:
        yield None
        return
    url = make_url(database_url)
    name = f"{url.database}_run_{os.getpid()}_{next(_RUNS)}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def run(statement: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


_RUNS = itertools.count(1)


def _ratios(fieldline: dict[str, Any], pouch: dict[str, Any]) -> dict[str, Any]:
    def rate(phase: str) -> float:
        return float(pouch[phase]["docs_per_s"])

    return {
        "capture_records_per_s": round(
            fieldline["capture"]["records_per_s"] / rate("client_local_write"), 3
        ),
        "push_records_per_s_vs_batch_1000": round(
            fieldline["push"]["records_per_s"] / rate("push_b1000"), 3
        ),
        "push_records_per_s_vs_batch_100": round(
            fieldline["push"]["records_per_s"] / rate("push_default"), 3
        ),
        "bootstrap_records_per_s_vs_batch_1000": round(
            fieldline["bootstrap"]["records_per_s"] / rate("pull_b1000"), 3
        ),
        "incremental_time": round(
            fieldline["incremental"]["seconds"] / float(pouch["incremental_sync"]["seconds"]), 3
        ),
        # Bytes a record costs on the wire, headers included (as the radio carries them).
        "push_socket_bytes_per_record_vs_batch_1000": _bytes_ratio(
            fieldline["push"]["socket_bytes"], pouch["push_b1000"]
        ),
        "bootstrap_socket_bytes_per_record_vs_batch_1000": _bytes_ratio(
            fieldline["bootstrap"]["socket_bytes"], pouch["pull_b1000"]
        ),
        "incremental_socket_bytes": _bytes_ratio(
            fieldline["incremental"]["socket_bytes"], pouch["incremental_sync"]
        ),
        "conflicts": [
            fieldline["incremental"]["conflicts_reported_to_the_device"],
            pouch["incremental_sync"]["conflicts"],
        ],
    }


def _bytes_ratio(fieldline_bytes: int, pouch_phase: dict[str, Any]) -> float | None:
    pouch_bytes = pouch_phase.get("socket_bytes")
    return round(fieldline_bytes / pouch_bytes, 3) if pouch_bytes else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peer_compare")
    parser.add_argument("--peer", type=Path, help="the PouchDB harness, installed (npm ci)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL database (else SQLite); each run gets an empty one made beside it",
    )
    args = parser.parse_args(argv)
    runs = []
    for n in args.sizes:
        for repetition in range(1, args.repeat + 1):
            row: dict[str, Any] = {"n": n, "repetition": repetition, "loadavg_1m_before": None}
            row["loadavg_1m_before"] = round(os.getloadavg()[0], 2)
            if args.peer:
                print(f"pouchdb N={n} #{repetition}", file=sys.stderr)
                row["pouchdb"] = run_peer(args.peer, n)
            print(f"fieldline N={n} #{repetition}", file=sys.stderr)
            with tempfile.TemporaryDirectory() as tmp, _fresh(args.database_url) as url:
                row["fieldline"] = run_fieldline(n, url, Path(tmp))
            if args.peer:
                row["ratios"] = _ratios(row["fieldline"], row["pouchdb"])
            runs.append(row)
    summary: dict[str, Any] = {}
    for n in args.sizes:
        mine = [r["ratios"] for r in runs if r["n"] == n and "ratios" in r]
        if mine:
            summary[str(n)] = {
                key: statistics.median(r[key] for r in mine)
                for key in mine[0]
                if key != "conflicts"
            }
    print(
        json.dumps(
            {
                "workload": __doc__.split("The work, on each side")[1].strip() if __doc__ else "",
                "store": "postgresql" if args.database_url else "sqlite",
                "runs": runs,
                "median_ratios_fieldline_over_pouchdb": summary,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
