"""Two real server processes on one database, each scheduling the same jobs: every (job, slot)
runs exactly once across both, counted in ``job_runs`` and in the jobs' side effects."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import select

from server.audit.models import AuditEntry
from server.db.engine import create_engine, create_sessionmaker
from server.jobs.models import JobRun
from tests.live import live_server
from tests.stores import Store

RUN_SECONDS = 6.0
SCHEDULER_ENV = {
    "FIELDLINE_SCHEDULER_ENABLED": "true",
    "FIELDLINE_JOBS_TEST_INTERVAL_S": "1",
    "FIELDLINE_LEADS_ASSIGN_EVERY_S": "2",
}


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
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                live_server(store.url, tmp_path, env=SCHEDULER_ENV, ready_path="/health/ready")
            )
            for _ in range(2)
        ]
        time.sleep(RUN_SECONDS)

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
    for server in servers:
        assert "database is locked" not in server.log.read_text()
