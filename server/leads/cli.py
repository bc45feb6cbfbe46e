"""``fieldline leads simulate`` and ``fieldline leads assign-pending``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from server.auth.models import Role, User
from server.auth.principal import Principal
from server.db.base import utcnow
from server.db.engine import create_engine, create_sessionmaker
from server.errors import FieldlineError
from server.settings import Settings

__all__ = ["register"]

_SYSTEM = Principal(role=Role.ADMIN, username="cli")


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    return Settings.from_env(**overrides)


async def _simulate(
    settings: Settings, region: str, days: int, rules_path: str | None
) -> dict[str, Any]:
    from server.leads.reports import simulate_region
    from server.org.models import Region

    document = json.loads(Path(rules_path).read_text()) if rules_path else None
    if isinstance(document, dict) and "rules" in document and len(document) <= 2:
        document = document["rules"]
    engine = create_engine(settings.database_url, null_pool=True)
    try:
        async with create_sessionmaker(engine)() as session:
            # Codes and names as people type them: `--region north` is the NORTH region.
            wanted = region.strip().lower()
            found = (
                await session.execute(
                    select(Region.id, Region.name).where(
                        (func.lower(Region.code) == wanted)
                        | (func.lower(Region.name) == wanted)
                        | (Region.id == region.strip())
                    )
                )
            ).first()
            if found is None:
                known = ", ".join(
                    (await session.execute(select(Region.code).order_by(Region.code))).scalars()
                )
                raise SystemExit(f"fieldline: no region {region!r} (regions: {known})")
            region_id, region_name = found
            result, version = await simulate_region(
                session, _SYSTEM, region_id, days=days, document=document, now=utcnow()
            )
            names = dict(
                (
                    await session.execute(
                        select(User.id, User.full_name).where(
                            User.id.in_([r.rep_id for r in result.reps])
                        )
                    )
                ).all()
            )
            await session.rollback()
    finally:
        await engine.dispose()
    return {
        "region_id": region_id,
        "region": region_name,
        "days": days,
        "active_version": version,
        "leads": result.leads,
        "changed": result.changed,
        "reps": [
            {
                "rep_id": r.rep_id,
                "rep_name": names.get(r.rep_id),
                "actual": r.actual,
                "simulated": r.simulated,
                "difference": r.difference,
            }
            for r in result.reps
        ],
        "unassigned_actual": result.unassigned_actual,
        "unassigned_simulated": result.unassigned_simulated,
    }


async def _assign_pending(settings: Settings) -> dict[str, int]:
    from server.leads.service import assign_pending

    engine = create_engine(settings.database_url, null_pool=True)
    evaluated = assigned = 0
    after: str | None = None
    try:
        sessionmaker = create_sessionmaker(engine)
        while True:
            async with sessionmaker() as session:
                outcomes, after = await assign_pending(session, now=utcnow(), after_id=after)
                await session.commit()
            evaluated += len(outcomes)
            assigned += sum(1 for o in outcomes if o.assigned)
            if after is None:
                break
    finally:
        await engine.dispose()
    return {"evaluated": evaluated, "assigned": assigned, "still_unassigned": evaluated - assigned}


def _cmd_simulate(args: argparse.Namespace) -> int:
    try:
        out = asyncio.run(_simulate(_settings(args), args.region, args.days, args.rules))
    except FieldlineError as exc:
        print(
            f"fieldline: {exc.detail}" + (f" (field {exc.field})" if exc.field else ""),
            file=sys.stderr,
        )
        return 2
    print(json.dumps(out, indent=2))
    return 0


def _cmd_assign_pending(args: argparse.Namespace) -> int:
    print(json.dumps(asyncio.run(_assign_pending(_settings(args)))))
    return 0


def register(subparsers: Any) -> None:
    leads = subparsers.add_parser("leads", help="lead assignment: simulate rules, assign the queue")
    verbs = leads.add_subparsers(dest="leads_command", required=True)

    simulate = verbs.add_parser(
        "simulate", help="replay a region's recent leads under a draft rule set (prints JSON)"
    )
    simulate.add_argument("--region", required=True, help="region code or id")
    simulate.add_argument("--days", type=int, default=30)
    simulate.add_argument("--rules", help="JSON file with the draft rules (default: active rules)")
    simulate.set_defaults(func=_cmd_simulate)

    pending = verbs.add_parser("assign-pending", help="try to assign every unassigned lead now")
    pending.set_defaults(func=_cmd_assign_pending)
