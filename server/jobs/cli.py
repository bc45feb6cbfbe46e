"""``fieldline jobs list`` (each job with its last runs) and ``fieldline jobs run NAME``."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from sqlalchemy import select

from server.db.base import utcnow
from server.db.engine import create_engine, create_sessionmaker
from server.jobs.claim import process_owner
from server.jobs.models import JobRun
from server.jobs.registry import find_job, registered_jobs, run_occurrence
from server.settings import Settings

__all__ = ["register"]


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    return Settings.from_env(**overrides)


async def _last_runs(settings: Settings, names: list[str], per_job: int) -> dict[str, list[JobRun]]:
    engine = create_engine(settings.database_url, null_pool=True)
    try:
        async with create_sessionmaker(engine)() as session:
            runs: dict[str, list[JobRun]] = {}
            for name in names:
                runs[name] = list(
                    (
                        await session.execute(
                            select(JobRun)
                            .where(JobRun.job_name == name)
                            .order_by(JobRun.started_at.desc(), JobRun.id.desc())
                            .limit(per_job)
                        )
                    ).scalars()
                )
            return runs
    finally:
        await engine.dispose()


def _cmd_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    specs = registered_jobs(settings)
    runs = asyncio.run(_last_runs(settings, [s.name for s in specs], args.last))
    for spec in specs:
        print(f"{spec.name}  every {spec.every_s:g}s  {spec.description}")
        if not runs[spec.name]:
            print("    (never ran)")
        for run in runs[spec.name]:
            took = (
                f"{(run.finished_at - run.started_at).total_seconds():.2f}s"
                if run.finished_at
                else "-"
            )
            line = (
                f"    {run.started_at:%Y-%m-%d %H:%M:%S}  {run.status:<9}  {took:>7}  "
                f"{run.trigger:<8}  {run.owner}"
            )
            if run.error:
                line += f"  error: {run.error.splitlines()[-1][:120]}"
            elif run.result:
                line += f"  {json.dumps(run.result, sort_keys=True)}"
            print(line)
    return 0


async def _run(settings: Settings, name: str) -> int:
    spec = find_job(settings, name)
    if spec is None:
        known = ", ".join(s.name for s in registered_jobs(settings)) or "none"
        print(f"fieldline: no job {name!r} (known: {known})")
        return 2
    engine = create_engine(settings.database_url, null_pool=True)
    try:
        # A run by hand claims a slot of its own (the current instant), recorded like any other.
        outcome = await run_occurrence(
            spec,
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            slot_start=utcnow(),
            owner=f"cli:{process_owner()}",
            trigger="manual",
        )
    finally:
        await engine.dispose()
    print(
        json.dumps(
            {
                "job": name,
                "status": outcome.status,
                "result": outcome.result,
                "error": outcome.error,
            }
        )
    )
    return 0 if outcome.status == "succeeded" else 1


def _cmd_run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(_settings(args), args.name))


def register(subparsers: Any) -> None:
    jobs = subparsers.add_parser("jobs", help="scheduled jobs: list their last runs, run one now")
    verbs = jobs.add_subparsers(dest="jobs_command", required=True)
    listing = verbs.add_parser("list", help="every job with its last runs")
    listing.add_argument("--last", type=int, default=5, help="runs shown per job")
    listing.set_defaults(func=_cmd_list)
    run = verbs.add_parser("run", help="run one job now (recorded in job_runs)")
    run.add_argument("name")
    run.set_defaults(func=_cmd_run)
