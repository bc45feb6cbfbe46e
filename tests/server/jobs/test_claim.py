"""The run-once claim: one (job, slot) row, inserted with ON CONFLICT DO NOTHING, decides who
runs an occurrence."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from server.app import create_app
from server.audit.models import AuditEntry
from server.db.engine import create_engine, create_sessionmaker
from server.jobs.claim import claim, slot_for
from server.jobs.models import JobRun
from server.jobs.registry import JobContext, JobSpec, registered_jobs, run_occurrence
from server.settings import Settings
from tests.conftest import make_settings
from tests.stores import Store

SLOT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _rows(url: str) -> list[JobRun]:
    async def main() -> list[JobRun]:
        engine = create_engine(url, null_pool=True)
        try:
            async with create_sessionmaker(engine)() as session:
                return list((await session.execute(select(JobRun).order_by(JobRun.id))).scalars())
        finally:
            await engine.dispose()

    return asyncio.run(main())


def test_slots_round_to_the_nearest_multiple_of_the_interval() -> None:
    assert slot_for(datetime(2026, 3, 2, 9, 0, 0, 300_000, tzinfo=UTC), 1) == datetime(
        2026, 3, 2, 9, 0, 0, tzinfo=UTC
    )
    assert slot_for(datetime(2026, 3, 2, 9, 2, 1, tzinfo=UTC), 120) == datetime(
        2026, 3, 2, 9, 2, tzinfo=UTC
    )
    assert slot_for(datetime(2026, 3, 2, 9, 1, 59, tzinfo=UTC), 120) == datetime(
        2026, 3, 2, 9, 2, tzinfo=UTC
    )


def test_two_concurrent_claimers_of_the_same_slots_win_each_exactly_once(store: Store) -> None:
    slots = [SLOT + timedelta(minutes=i) for i in range(15)]

    async def main() -> tuple[list[int | None], list[int | None]]:
        # Two engines: two connection pools, as two replicas would have.
        first, second = create_engine(store.url), create_engine(store.url)
        try:

            async def contender(engine: AsyncEngine, owner: str) -> list[int | None]:
                return [await claim(engine, "race", s, owner=owner) for s in slots]

            a, b = await asyncio.gather(contender(first, "a"), contender(second, "b"))
            return a, b
        finally:
            await first.dispose()
            await second.dispose()

    a, b = asyncio.run(main())
    for won_a, won_b in zip(a, b, strict=True):
        assert (won_a is None) != (won_b is None)
    rows = _rows(store.url)
    assert len(rows) == len(slots)
    assert sorted(r.slot_start for r in rows) == slots
    assert {r.owner for r in rows if r.id in a} <= {"a"}


def test_a_claimed_slot_is_not_run_again(store: Store) -> None:
    calls: list[datetime] = []

    async def work(ctx: JobContext) -> dict[str, int]:
        calls.append(ctx.slot_start)
        return {"n": len(calls)}

    spec = JobSpec(name="once", every_s=60, func=work)
    settings = make_settings(store)

    async def main() -> tuple[bool, bool]:
        engine = create_engine(store.url, null_pool=True)
        try:
            kwargs = {
                "settings": settings,
                "engine": engine,
                "sessionmaker": create_sessionmaker(engine),
                "slot_start": SLOT,
            }
            first = await run_occurrence(spec, owner="a", **kwargs)  # type: ignore[arg-type]
            again = await run_occurrence(spec, owner="b", **kwargs)  # type: ignore[arg-type]
            return first.ran, again.ran
        finally:
            await engine.dispose()

    assert asyncio.run(main()) == (True, False)
    assert calls == [SLOT]
    (row,) = _rows(store.url)
    assert (row.status, row.owner, row.result) == ("succeeded", "a", {"n": 1})
    assert row.finished_at is not None


def test_a_failing_job_is_recorded_with_its_error(store: Store) -> None:
    async def broken(ctx: JobContext) -> None:
        raise RuntimeError("warehouse unreachable")

    async def main() -> str | None:
        engine = create_engine(store.url, null_pool=True)
        try:
            outcome = await run_occurrence(
                JobSpec(name="broken", every_s=60, func=broken),
                settings=make_settings(store),
                engine=engine,
                sessionmaker=create_sessionmaker(engine),
                slot_start=SLOT,
                owner="a",
            )
            return outcome.status
        finally:
            await engine.dispose()

    assert asyncio.run(main()) == "failed"
    (row,) = _rows(store.url)
    assert row.status == "failed" and row.error == "RuntimeError: warehouse unreachable"


def test_jobs_are_declared_in_code_and_the_heartbeat_only_when_asked_for() -> None:
    plain = {spec.name for spec in registered_jobs(Settings(env="test"))}
    assert {"leads.assign_pending", "leads.first_touch_sla"} <= plain
    assert "jobs.heartbeat" not in plain
    with_heartbeat = registered_jobs(Settings(env="test", jobs_test_interval_s=1))
    assert "jobs.heartbeat" in {spec.name for spec in with_heartbeat}


def test_the_scheduler_runs_in_the_app_lifespan_and_stops_with_it(store: Store) -> None:
    settings = make_settings(store, scheduler_enabled=True, jobs_test_interval_s=0.5)
    with TestClient(create_app(settings)):
        time.sleep(2.6)
    runs = [r for r in _rows(store.url) if r.job_name == "jobs.heartbeat"]
    assert len(runs) >= 3
    assert all(r.status == "succeeded" for r in runs)
    time.sleep(1.0)
    assert len([r for r in _rows(store.url) if r.job_name == "jobs.heartbeat"]) == len(runs)


def test_the_scheduler_is_off_when_disabled(store: Store) -> None:
    settings = make_settings(store, scheduler_enabled=False, jobs_test_interval_s=0.5)
    with TestClient(create_app(settings)) as client:
        time.sleep(1.2)
        assert getattr(client.app.state, "scheduler", None) is None

    async def heartbeats() -> int:
        engine = create_engine(store.url, null_pool=True)
        try:
            async with create_sessionmaker(engine)() as session:
                rows = await session.execute(
                    select(AuditEntry).where(AuditEntry.action == "jobs.heartbeat")
                )
                return len(rows.scalars().all())
        finally:
            await engine.dispose()

    assert asyncio.run(heartbeats()) == 0
