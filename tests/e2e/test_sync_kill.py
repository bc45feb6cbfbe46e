"""Kill the syncing process at any point — before, during or after a push or a pull page — and
the next sync finishes the job: nothing duplicated, nothing lost. A real server process, a real
device process, SIGKILL."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from client_sdk import FieldClient
from server.leads.models import Lead
from server.orders.models import Order, OrderLine
from server.sync.models import PushReceipt
from server.tickets.models import TicketComment
from tests.live import ROOT, live_server
from tests.seed import PASSWORD, World, run_db, seed_world
from tests.stores import Store

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KILL_POINTS = [
    ("push:before", 1),
    ("push:received", 2),
    ("push:answered", 1),
    ("pull:received", 2),
    ("pull:applying", 1),
    ("pull:applied", 3),
]


def _worker(store_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.e2e.sync_worker",
            "--store",
            str(store_path),
            "--batch-size",
            "3",
            "--page-limit",
            "4",
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


class Captured:
    def __init__(self) -> None:
        self.orders: dict[str, int] = {}
        self.leads: list[str] = []
        self.comments: dict[str, int] = Counter()


def _capture_some(device: FieldClient, world: World, captured: Captured, round_no: int) -> None:
    accounts = world.accounts["N1"]
    for n in range(2):
        lines = [(world.products[n], 1 + round_no), (world.products[n + 2], 2)]
        order = device.take_order(accounts[n % len(accounts)], lines)
        captured.orders[order.id] = len(lines)
    company = f"Kill round {round_no}"
    device.capture_lead(company)
    captured.leads.append(company)
    ticket = device.open_ticket(accounts[0], f"Ticket {round_no}")
    device.comment(ticket.id, "first")
    device.comment(ticket.id, "second")
    captured.comments[ticket.id] = 2


def _server_view(url: str, rep_id: str) -> dict[str, object]:
    async def work(session: AsyncSession) -> dict[str, object]:
        orders = list(
            (await session.execute(select(Order.id).where(Order.rep_id == rep_id))).scalars()
        )
        lines = Counter((await session.execute(select(OrderLine.order_id))).scalars())
        leads = list(
            (
                await session.execute(select(Lead.company).where(Lead.company.like("Kill round %")))
            ).scalars()
        )
        comments = Counter((await session.execute(select(TicketComment.ticket_id))).scalars())
        receipts = len(list((await session.execute(select(PushReceipt.seq))).scalars()))
        return {
            "orders": orders,
            "lines": lines,
            "leads": leads,
            "comments": comments,
            "receipts": receipts,
        }

    return run_db(url, work)


def test_a_sync_killed_at_any_point_is_finished_by_the_next_one(
    store: Store, tmp_path: Path
) -> None:
    world = seed_world(store.url)
    rng = random.Random(20260302)
    with live_server(store.url, tmp_path) as server:
        path = tmp_path / "rep.db"
        device = FieldClient(path, server_url=server.url)
        device.login("rep_n1", PASSWORD, device_name="kill-test")
        device.sync()
        captured = Captured()
        kills = 0
        for round_no, (step, count) in enumerate(KILL_POINTS):
            _capture_some(device, world, captured, round_no)
            worker = _worker(path, "--kill-at", step, "--kill-count", str(count))
            out, err = worker.communicate(timeout=60)
            if worker.returncode == 0:
                # The sync had fewer than `count` such steps: it finished, which is fine too.
                continue
            assert worker.returncode == -9, err.decode()
            kills += 1
        for round_no in range(len(KILL_POINTS), len(KILL_POINTS) + 3):
            _capture_some(device, world, captured, round_no)
            worker = _worker(path)
            time.sleep(rng.uniform(0.05, 0.6))
            worker.kill()
            worker.communicate(timeout=60)
        assert kills >= 4
        device.close()

        final = _worker(path)
        out, err = final.communicate(timeout=120)
        assert final.returncode == 0, err.decode()
        report = json.loads(out.decode().strip().splitlines()[-1])
        assert report["rejected"] == 0 and report["repaired"] == []

        device = FieldClient(path, server_url=server.url)
        assert device.status().unsent == 0 and device.rejected() == []
        view = _server_view(store.url, world.user("rep_n1"))
        assert sorted(view["orders"]) == sorted(captured.orders)  # type: ignore[arg-type]
        lines: Counter[str] = view["lines"]  # type: ignore[assignment]
        assert {o: lines[o] for o in captured.orders} == captured.orders
        assert sorted(view["leads"]) == sorted(captured.leads)  # type: ignore[arg-type]
        comments: Counter[str] = view["comments"]  # type: ignore[assignment]
        assert {t: comments[t] for t in captured.comments} == dict(captured.comments)
        # The device holds what the server holds: every captured order, once, as submitted.
        local = {o.id: o["status"] for o in device.orders()}
        assert {o: local.get(o) for o in captured.orders} == dict.fromkeys(
            captured.orders, "submitted"
        )
        device.close()


def test_a_bootstrap_killed_between_pages_resumes_to_a_complete_store(
    store: Store, tmp_path: Path
) -> None:
    world = seed_world(store.url, accounts_per_territory=12)
    with live_server(store.url, tmp_path) as server:
        path = tmp_path / "fresh.db"
        device = FieldClient(path, server_url=server.url)
        device.login("rep_n1", PASSWORD, device_name="fresh")
        device.close()
        for step, count in (("pull:applying", 2), ("pull:applied", 3)):
            worker = _worker(path, "--kill-at", step, "--kill-count", str(count))
            worker.communicate(timeout=60)
            assert worker.returncode == -9
        final = _worker(path)
        out, err = final.communicate(timeout=60)
        assert final.returncode == 0, err.decode()
        assert json.loads(out.decode().strip().splitlines()[-1])["repaired"] == []
        device = FieldClient(path, server_url=server.url)
        assert sorted(a.id for a in device.accounts()) == sorted(world.accounts["N1"])
        assert len(device.records.all("contact")) == len(world.accounts["N1"])
        device.close()
