"""Two real server processes on one database, each scheduling the same jobs: every (job, slot)
runs exactly once across both, counted in ``job_runs`` and in the jobs' side effects."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest
from sqlalchemy import select

from server.audit.models import AuditEntry
from server.db.engine import create_engine, create_sessionmaker
from server.jobs.models import JobRun
from tests.stores import Store

ROOT = Path(__file__).resolve().parents[3]
RUN_SECONDS = 6.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(store: Store, port: int, log: BinaryIO) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FIELDLINE_DATABASE_URL": store.url,
        "FIELDLINE_ENV": "test",
        "FIELDLINE_AUTO_MIGRATE": "false",
        "FIELDLINE_SCHEDULER_ENABLED": "true",
        "FIELDLINE_JOBS_TEST_INTERVAL_S": "1",
        "FIELDLINE_LEADS_ASSIGN_EVERY_S": "2",
        "FIELDLINE_LOG_LEVEL": "WARNING",
        "FIELDLINE_LOG_REQUESTS": "false",
        "FIELDLINE_SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server on port {port} never became ready:\n{log.read_text()}")


def _collect(url: str) -> tuple[list[JobRun], list[AuditEntry]]:
    async def main() -> tuple[list[JobRun], list[AuditEntry]]:
        engine = create_engine(url, null_pool=True)
        try:
            async with create_sessionmaker(engine)() as session:
                runs = list((await session.execute(select(JobRun))).scalars())
                marks = list(
                    (
                        await session.execute(
                            select(AuditEntry).where(AuditEntry.action == "jobs.heartbeat")
                        )
                    ).scalars()
                )
                return runs, marks
        finally:
            await engine.dispose()

    return asyncio.run(main())


@pytest.mark.slow
@pytest.mark.e2e
def test_each_job_slot_runs_once_across_two_server_processes(store: Store, tmp_path: Path) -> None:
    ports = [_free_port(), _free_port()]
    logs = [tmp_path / f"server-{i}.log" for i in range(2)]
    handles = [log.open("wb") for log in logs]
    procs = [_start(store, port, fh) for port, fh in zip(ports, handles, strict=True)]
    try:
        for port, proc, log in zip(ports, procs, logs, strict=True):
            _wait_ready(port, proc, log)
        time.sleep(RUN_SECONDS)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for fh in handles:
            fh.close()

    runs, marks = _collect(store.url)
    heartbeat = [r for r in runs if r.job_name == "jobs.heartbeat"]
    assert len(heartbeat) >= RUN_SECONDS - 2, [r.slot_start for r in heartbeat]
    per_slot = Counter((r.job_name, r.slot_start) for r in runs)
    assert max(per_slot.values()) == 1
    assert all(r.status == "succeeded" for r in runs), [(r.job_name, r.error) for r in runs]
    # The side effect: one heartbeat entry per slot, from the run that claimed it.
    slots_marked = Counter(m.details["slot"] for m in marks)
    assert max(slots_marked.values()) == 1
    assert set(slots_marked) == {r.slot_start.isoformat() for r in heartbeat}
    assert {m.details["owner"] for m in marks} == {r.owner for r in heartbeat}
    assert any(r.job_name == "leads.assign_pending" for r in runs)
    for log in logs:
        assert "database is locked" not in log.read_text()
