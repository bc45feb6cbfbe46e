"""Client SDK benchmark: bootstrap a large scope into a new device store, and the latency of
capturing one order offline. Prints JSON.

Bootstrap: 100,000 records in server-sized pages (1,000 each, MessagePack) go through the SDK's
whole pull path — transport, decoding, page apply, rebase bookkeeping, commit per page — from an
httpx mock transport that replays pages encoded beforehand (so the figure is the client's, not a
server's). It runs in a child process so its peak RSS is the client's alone. The floor is a raw
SQLite ``executemany`` of the same rows into a bare table in the same run; the ratio says what
the SDK costs on top.

Capture: ``take_order`` (create, three lines priced from the cached catalogue, submit) on a
device holding 1,000 products and 200 accounts, repeated; median and p95 in milliseconds.

    .venv/bin/python -m bench.client_bench [--records 100000] [--orders 300]
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec

from client_sdk import FieldClient, MemoryTokenStore
from client_sdk.records import ref_of
from client_sdk.store import dumps
from sync import codec
from sync.ids import new_id
from sync.messages import Change, PullPage

PAGE = 1000


def _record(n: int) -> tuple[str, dict[str, Any]]:
    """A realistic mix: accounts, contacts, visits, orders and order lines."""
    kind = n % 5
    now = "2026-03-02T09:00:00Z"
    base: dict[str, Any] = {"created_at": now, "updated_at": now}
    if kind == 0:
        return "account", {
            **base,
            "name": f"Customer {n}",
            "segment": "standard",
            "address_line": f"{n} Harbour Street",
            "city": "Hamburg",
            "postal_code": "20095",
            "country": "DE",
            "lat": 53.55 + n * 1e-6,
            "lon": 9.99,
            "visit_radius_m": 200.0,
            "phone": "+49 40 123456",
            "email": f"buyer{n}@example.com",
            "notes": None,
            "territory_id": "t1",
            "owner_id": "u1",
        }
    if kind == 1:
        return "contact", {
            **base,
            "account_id": f"a{n}",
            "first_name": "Ada",
            "last_name": f"Buyer {n}",
            "title": "Purchasing",
            "phone": "+49 40 654321",
            "email": f"ada{n}@example.com",
            "notes": None,
        }
    if kind == 2:
        return "visit", {
            **base,
            "account_id": f"a{n}",
            "rep_id": "u1",
            "status": "completed",
            "planned_for": "2026-03-02",
            "check_in_at": now,
            "check_in_lat": 53.55,
            "check_in_lon": 9.99,
            "check_in_accuracy_m": 12.0,
            "check_out_at": now,
            "outcome": "met",
            "duration_s": 1800,
            "distance_m": 14.2,
            "verified": True,
            "verification_score": 1.0,
            "flags": [],
        }
    if kind == 3:
        return "order", {
            **base,
            "account_id": f"a{n}",
            "rep_id": "u1",
            "price_list_id": "pl1",
            "status": "fulfilled",
            "currency": "EUR",
            "subtotal": "120.00",
            "discount_total": "6.00",
            "total": "114.00",
            "client_total": "114.00",
            "repricing": None,
            "notes": None,
            "submitted_at": now,
            "erp_ref": f"ERP-{n}",
        }
    return "order_line", {
        **base,
        "order_id": f"o{n}",
        "product_id": "p1",
        "line_no": 1,
        "quantity": 4,
        "unit_price": "30.00",
        "discount_pct": "5.00",
        "line_total": "114.00",
    }


def _write_pages(directory: Path, records: int) -> int:
    pages = 0
    for start in range(0, records, PAGE):
        items = []
        for n in range(start, min(records, start + PAGE)):
            entity, fields = _record(n)
            items.append(
                Change(entity=entity, id=f"{n:012d}", op="upsert", version=1, fields=fields)
            )
        last = start + PAGE >= records
        page = PullPage(
            items=items,
            cursor=f"page-{pages + 1}",
            more=not last,
            snapshot=True,
            reset=pages == 0,
        )
        (directory / f"{pages}.msgpack").write_bytes(codec.encode(page, codec.MEDIA_MSGPACK))
        pages += 1
    return pages


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_bootstrap(pages_dir: Path, store_path: Path) -> dict[str, Any]:
    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        index = 0 if cursor is None else int(cursor.split("-")[1])
        body = (pages_dir / f"{index}.msgpack").read_bytes()
        return httpx.Response(200, content=body, headers={"content-type": codec.MEDIA_MSGPACK})

    http = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://bench.local")
    client = FieldClient(store_path, http, token_store=MemoryTokenStore(), verify_checksums=False)
    with client.store.atomic():
        client.store.set_meta("device_id", "bench-device")
    client.tokens.save(
        msgspec.convert(
            {
                "access_token": "x",
                "refresh_token": "y",
                "expires_at": "2099-01-01T00:00:00Z",
                "device_id": "bench-device",
            },
            type=__import__("client_sdk").Tokens,
        )
    )
    rss_before = _rss_mb()
    marks: dict[str, float] = {}
    applying = [0.0]

    def step(name: str) -> None:
        now = time.perf_counter()
        if name == "pull:received":
            marks["received"] = now
        elif name == "pull:applied":
            applying[0] += now - marks["received"]

    client._engine_options["step"] = step
    started = time.perf_counter()
    report = client.sync()
    elapsed = time.perf_counter() - started
    count = client.records.count()
    client.close()
    return {
        "records": count,
        "pages": report.pages,
        "seconds": round(elapsed, 3),
        "records_per_s": round(count / elapsed),
        "apply_seconds": round(applying[0], 3),
        "apply_records_per_s": round(count / applying[0]),
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(_rss_mb(), 1),
    }


def _floor(records: int, path: Path) -> dict[str, Any]:
    rows = []
    for n in range(records):
        entity, fields = _record(n)
        rows.append((entity, f"{n:012d}", 1, dumps(fields), ref_of(entity, fields)))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE records (entity TEXT, id TEXT, version INTEGER, data TEXT, ref TEXT, "
        "PRIMARY KEY (entity, id))"
    )
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return {"seconds": round(elapsed, 3), "records_per_s": round(records / elapsed)}


def _capture(orders: int, workdir: Path) -> dict[str, Any]:
    client = FieldClient(workdir / "capture.db", token_store=MemoryTokenStore())
    with client.store.atomic():
        client.store.set_meta("device_id", "bench-device")
        client.store.set_meta(
            "user", {"id": "u1", "username": "rep", "full_name": "Rep", "role": "rep"}
        )
        client.records.apply_server(
            "price_list",
            "pl1",
            1,
            {"id": "pl1", "name": "Standard", "currency": "EUR"},
            pending=False,
        )
        products = []
        for n in range(1000):
            pid = new_id()
            products.append(pid)
            client.records.apply_server(
                "product",
                pid,
                1,
                {
                    "id": pid,
                    "sku": f"SKU-{n}",
                    "name": f"P{n}",
                    "list_price": "10.00",
                    "active": True,
                },
                pending=False,
            )
            price_id = new_id()
            client.records.apply_server(
                "price",
                price_id,
                1,
                {"id": price_id, "price_list_id": "pl1", "product_id": pid, "unit_price": "9.50"},
                pending=False,
            )
        accounts = []
        for n in range(200):
            aid = new_id()
            accounts.append(aid)
            client.records.apply_server(
                "account",
                aid,
                1,
                {"id": aid, "name": f"A{n}", "lat": 53.5, "lon": 9.9},
                pending=False,
            )
    timings = []
    for n in range(orders):
        lines = [(products[(n * 7 + k) % len(products)], 1 + k) for k in range(3)]
        started = time.perf_counter()
        client.take_order(accounts[n % len(accounts)], lines)
        timings.append((time.perf_counter() - started) * 1000)
    lead_timings = []
    for n in range(orders):
        started = time.perf_counter()
        client.capture_lead(f"Lead {n}")
        lead_timings.append((time.perf_counter() - started) * 1000)
    mutations = client.outbox.pending_count()
    client.close()
    timings.sort()
    return {
        "orders": orders,
        "order_median_ms": round(statistics.median(timings), 3),
        "order_p95_ms": round(timings[int(len(timings) * 0.95) - 1], 3),
        "lead_median_ms": round(statistics.median(lead_timings), 3),
        "mutations_per_order": round((mutations - orders) / orders, 1),
        "durability": "WAL synchronous=NORMAL; fsync (checkpoint) before each push",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="client SDK benchmark")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--child", nargs=2, metavar=("PAGES_DIR", "STORE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child_bootstrap(Path(args.child[0]), Path(args.child[1]))))
        return 0
    with tempfile.TemporaryDirectory(prefix="fieldline-client-bench-") as tmp:
        workdir = Path(tmp)
        pages_dir = workdir / "pages"
        pages_dir.mkdir()
        _write_pages(pages_dir, args.records)
        child = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.client_bench",
                "--child",
                str(pages_dir),
                str(workdir / "device.db"),
            ],
            capture_output=True,
            check=True,
            text=True,
        )
        bootstrap = json.loads(child.stdout.strip().splitlines()[-1])
        floor = _floor(args.records, workdir / "floor.db")
        bootstrap["floor_raw_sqlite_records_per_s"] = floor["records_per_s"]
        bootstrap["ratio_apply_to_floor"] = round(
            bootstrap["apply_records_per_s"] / floor["records_per_s"], 3
        )
        capture = _capture(args.orders, workdir)
    print(json.dumps({"bootstrap": bootstrap, "capture": capture}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
