"""Sync throughput and latency against a real server process, with a raw-SQLite floor.

    python -m bench.sync_bench [--database-url postgresql+asyncpg://…] [--quick]

Figures (JSON on stdout):
  push_ingest      10 devices pushing batches of 500 field changes (100 new contacts × 5
                   fields) at once: field changes per second, median batch latency
  bootstrap_pull   a new device pulling a 50,000-record scope (MessagePack, gzip): records/s,
                   asking for each next page as soon as a page's headers name its cursor (and
                   decoding that page meanwhile), and one page at a time for comparison
  many_devices     100 reps, each with one already-bootstrapped tablet and a territory of
                   their own, syncing 20 changes as the SDK does (one push that also asks for
                   the pull page after it), all released at once: p50, p99, errors
  server_peak_rss  the server process's peak resident memory over the whole run
  floor            raw sqlite3 executemany of the same contact rows into an empty table, and
                   the ratio of push ingest to it
"""

from __future__ import annotations

import argparse
import gzip
import json
import sqlite3
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bench.server_process import ServerProcess
from server.accounts.models import Account, Contact
from server.auth.models import Role, User
from server.db.base import utcnow
from server.db.migrate import upgrade
from server.org.models import Territory
from server.settings import Settings
from server.sync.index import reindex_all
from sync import clock, codec
from sync.ids import new_id
from sync.messages import PullRequest, PushRequest, PushResponse, Upsert
from tests.seed import World, run_db, seed_world, token_for

SECRET = "bench-secret-key-that-is-long-enough-for-hs256-signing"
CONTACT_FIELDS = 5


class BenchDevice:
    def __init__(self, base_url: str, token: str, device_id: str, account_id: str) -> None:
        self.client = httpx.Client(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {token}",
                codec.PROTOCOL_HEADER: "1",
                "Content-Type": codec.MEDIA_MSGPACK,
                "Accept": codec.MEDIA_MSGPACK,
            },
            timeout=120,
        )
        self.device_id = device_id
        self.account_id = account_id
        self.seq = 0
        self.hlc: clock.Hlc | None = None
        self.cursor: str | None = None

    def contacts(self, count: int) -> list[Upsert]:
        out = []
        for n in range(count):
            self.seq += 1
            self.hlc = clock.send(self.hlc, wall_ms=clock.wall_now_ms(), node=self.device_id)
            out.append(
                Upsert(
                    seq=self.seq,
                    tx=new_id(),
                    entity="contact",
                    id=new_id(),
                    fields={
                        "account_id": self.account_id,
                        "first_name": f"First{n}",
                        "last_name": f"Last{self.seq}",
                        "phone": "+49 40 123456",
                        "email": f"c{self.seq}@example.com",
                    },
                    hlc=self.hlc.encode(),
                )
            )
        return out

    def push(self, mutations: list[Upsert], pull: PullRequest | None = None) -> PushResponse:
        body = codec.encode(
            PushRequest(device_id=self.device_id, mutations=list(mutations), pull=pull),
            codec.MEDIA_MSGPACK,
        )
        response = self.client.post("/api/v1/sync/push", content=body)
        response.raise_for_status()
        result = codec.decode_push_response(response.content, codec.MEDIA_MSGPACK)
        bad = [r for r in result.results if r.__struct_config__.tag == "rejected"]
        if bad:
            raise RuntimeError(f"push refused: {bad[0]}")
        return result

    def sync(self, mutations: list[Upsert], limit: int) -> int:
        """Push, then pull until caught up, as the SDK does: the push asks for the first page.
        Returns the records pulled."""
        result = self.push(mutations, PullRequest(cursor=self.cursor, limit=limit))
        if result.page is None:
            raise RuntimeError("the server did not answer the pull inside the push")
        self.cursor = result.page.cursor
        records = len(result.page.items)
        if result.page.more:
            records += self.pull_all(limit, resume=True)[0]
        return records

    def pull_all(
        self, limit: int, *, resume: bool = False, ask_ahead: bool = True
    ) -> tuple[int, int]:
        """(records, bytes on the wire). ``resume``: continue from the last cursor (an
        incremental sync) instead of bootstrapping. ``ask_ahead``: ask for the next page as soon
        as a page's headers name its cursor, and decode that page while the server builds the
        next (docs/sync.md, "Pages"); otherwise one page at a time."""
        cursor = self.cursor if resume else None
        records = 0
        wire = 0
        with ThreadPoolExecutor(1) as ahead:
            pending = ahead.submit(self._fetch, cursor, limit)
            while True:
                raw, gzipped, next_cursor = pending.result()
                if ask_ahead and next_cursor:
                    pending = ahead.submit(self._fetch, next_cursor, limit)
                wire += len(raw)
                body = gzip.decompress(raw) if gzipped else raw
                page = codec.decode_pull_page(body, codec.MEDIA_MSGPACK)
                records += len(page.items)
                self.cursor = page.cursor
                if not page.more:
                    return records, wire
                if not (ask_ahead and next_cursor):
                    pending = ahead.submit(self._fetch, page.cursor, limit)

    def _fetch(self, cursor: str | None, limit: int) -> tuple[bytes, bool, str | None]:
        """One pull page as sent: (body, gzipped, the next page's cursor if the headers name
        it)."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        with self.client.stream(
            "GET", "/api/v1/sync/pull", params=params, headers={"Accept-Encoding": "gzip"}
        ) as response:
            response.raise_for_status()
            raw = b"".join(response.iter_raw())
        return (
            raw,
            response.headers.get("content-encoding") == "gzip",
            response.headers.get(codec.NEXT_CURSOR_HEADER),
        )


def _devices(
    url: str, base_url: str, world: World, username: str, count: int, account_id: str
) -> list[BenchDevice]:
    settings = Settings(env="test", database_url=url, secret_key=SECRET)
    out = []
    for n in range(count):
        token, device_id = token_for(settings, world.user(username), device_name=f"bench-{n}")
        out.append(BenchDevice(base_url, token, device_id, account_id))
    return out


def bench_push(url: str, server: ServerProcess, world: World, batches: int) -> dict[str, Any]:
    account = world.accounts["N1"][0]
    devices = _devices(url, server.url, world, "rep_n1", 10, account)
    prepared = [[d.contacts(100) for _ in range(batches)] for d in devices]
    latencies: list[float] = []

    def run(index: int) -> None:
        for batch in prepared[index]:
            start = time.perf_counter()
            devices[index].push(batch)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    with ThreadPoolExecutor(len(devices)) as pool:
        list(pool.map(run, range(len(devices))))
    elapsed = time.perf_counter() - start
    changes = len(devices) * batches * 100 * CONTACT_FIELDS
    return {
        "devices": len(devices),
        "batch_field_changes": 100 * CONTACT_FIELDS,
        "field_changes": changes,
        "seconds": round(elapsed, 3),
        "field_changes_per_s": round(changes / elapsed),
        "mutations_per_s": round(changes / CONTACT_FIELDS / elapsed),
        "batch_latency_median_s": round(statistics.median(latencies), 4),
    }


def _bulk_contacts(url: str, account_id: str, count: int) -> None:
    async def work(session: AsyncSession) -> None:
        now = utcnow()
        rows = [
            {
                "id": new_id(),
                "account_id": account_id,
                "first_name": f"Bulk{n}",
                "last_name": "Contact",
                "phone": "+49 40 000000",
                "email": f"bulk{n}@example.com",
                "version": 1,
                "field_clocks": {},
                "created_at": now,
                "updated_at": now,
            }
            for n in range(count)
        ]
        for start in range(0, count, 5000):
            await session.execute(insert(Contact.__table__), rows[start : start + 5000])
        await reindex_all(session)

    run_db(url, work)


def bench_bootstrap(url: str, server: ServerProcess, world: World, records: int) -> dict[str, Any]:
    account = world.accounts["N2"][0]
    _bulk_contacts(url, account, records)
    [device] = _devices(url, server.url, world, "rep_n2", 1, account)

    def median_seconds(ask_ahead: bool) -> tuple[float, int, int]:
        timings = []
        pulled = wire = 0
        for _ in range(3):
            start = time.perf_counter()
            pulled, wire = device.pull_all(limit=5000, ask_ahead=ask_ahead)
            timings.append(time.perf_counter() - start)
        return statistics.median(timings), pulled, wire

    one_at_a_time, _, _ = median_seconds(ask_ahead=False)
    median, pulled, wire = median_seconds(ask_ahead=True)
    return {
        "records": pulled,
        "page_size": 5000,
        "wire_bytes": wire,
        "seconds_median_of_3": round(median, 3),
        "records_per_s": round(pulled / median),
        "records_per_s_one_page_at_a_time": round(pulled / one_at_a_time),
    }


def _field_team(url: str, world: World, count: int) -> list[tuple[str, str]]:
    """``count`` reps, each with a territory of their own holding one account: (user id,
    account id) per rep. The seeded world's four reps are too few for a crowd."""

    async def work(session: AsyncSession) -> list[tuple[str, str]]:
        team = []
        for n in range(count):
            region = world.regions["NORTH" if n % 2 else "SOUTH"]
            territory = Territory(region_id=region, code=f"B{n:03d}", name=f"Bench {n}")
            session.add(territory)
            await session.flush()
            rep = User(
                username=f"bench_rep_{n}",
                full_name=f"Bench Rep {n}",
                password_hash="not-used",
                role=Role.REP,
                region_id=region,
                territory_id=territory.id,
            )
            session.add(rep)
            await session.flush()
            account = Account(name=f"Bench Customer {n}", territory_id=territory.id)
            session.add(account)
            await session.flush()
            team.append((rep.id, account.id))
        return team

    return run_db(url, work)


def bench_many(url: str, server: ServerProcess, world: World, count: int) -> dict[str, Any]:
    settings = Settings(env="test", database_url=url, secret_key=SECRET)
    devices = []
    for n, (rep_id, account_id) in enumerate(_field_team(url, world, count)):
        token, device_id = token_for(settings, rep_id, device_name=f"crowd-{n}")
        devices.append(BenchDevice(server.url, token, device_id, account_id))
    for device in devices:  # each tablet has synced before; the timed sync is incremental
        device.pull_all(limit=5000)
    prepared = [d.contacts(20) for d in devices]
    latencies: list[float] = []
    errors: list[str] = []
    pulled: list[int] = []
    start_all = threading.Barrier(count)

    def run(index: int) -> None:
        device = devices[index]
        start_all.wait()
        start = time.perf_counter()
        try:
            records = device.sync(prepared[index], limit=1000)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
            return
        latencies.append(time.perf_counter() - start)
        pulled.append(records)

    started = time.perf_counter()
    with ThreadPoolExecutor(count) as pool:
        list(pool.map(run, range(count)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None
    return {
        "devices": count,
        "reps": count,
        "changes_each": 20,
        "records_pulled_median": statistics.median(pulled) if pulled else None,
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p99_s": round(p99, 3) if p99 is not None else None,
        "burst_s": round(elapsed, 3),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def floor(rows: int) -> dict[str, Any]:
    """Raw sqlite3: the same contact rows inserted with executemany in one transaction."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "floor.db")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE contacts (id TEXT PRIMARY KEY, account_id TEXT, first_name TEXT, "
            "last_name TEXT, phone TEXT, email TEXT, version INTEGER, field_clocks TEXT, "
            "created_at TEXT, updated_at TEXT)"
        )
        data = [
            (
                new_id(),
                "acc",
                f"First{n}",
                f"Last{n}",
                "+49 40 123456",
                f"c{n}@example.com",
                1,
                "{}",
                "2026-01-01",
                "2026-01-01",
            )
            for n in range(rows)
        ]
        start = time.perf_counter()
        with conn:
            conn.executemany("INSERT INTO contacts VALUES (?,?,?,?,?,?,?,?,?,?)", data)
        elapsed = time.perf_counter() - start
        conn.close()
    return {
        "rows": rows,
        "rows_per_s": round(rows / elapsed),
        "field_changes_per_s": round(rows * CONTACT_FIELDS / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", help="PostgreSQL URL of an empty database")
    parser.add_argument("--quick", action="store_true", help="smaller figures, for a smoke run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        world = seed_world(url)
        batches = 2 if args.quick else 10
        bootstrap = 5000 if args.quick else 50_000
        many = 20 if args.quick else 100
        with ServerProcess(url, env={"FIELDLINE_SECRET_KEY": SECRET}) as server:
            push = bench_push(url, server, world, batches)
            pull = bench_bootstrap(url, server, world, bootstrap)
            crowd = bench_many(url, server, world, many)
            peak = server.peak_rss
        raw = floor(push["field_changes"] // CONTACT_FIELDS)
    report = {
        "store": "postgresql" if args.database_url else "sqlite",
        "push_ingest": push,
        "bootstrap_pull": pull,
        "many_devices": crowd,
        "server_peak_rss_mb": round(peak / 2**20, 1),
        "floor_raw_sqlite_executemany": raw,
        "push_vs_floor_ratio": round(raw["field_changes_per_s"] / push["field_changes_per_s"], 1),
        "targets": {
            "push_field_changes_per_s": 20_000,
            "bootstrap_records_per_s": 100_000,
            "many_devices_p99_s": 1.0,
            "server_peak_rss_mb": 300,
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
