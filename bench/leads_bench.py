"""Lead assignment benchmark: 10,000 leads across 1,000 reps with the engine (grid index, in
memory, one process), the same with a full scan of the reps, and the brute-force reference on a
prefix of the same sequence (it evaluates geopy's geodesic for every rep, so the full run would
take hours; its per-lead time is measured and extrapolated). Then a simulated month with the
fairness figures. Prints JSON.

    .venv/bin/python -m bench.leads_bench [--leads 10000] [--reps 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from server.leads import bruteforce
from server.leads.engine import Engine, LeadFacts, RepLoad, RepProfile
from server.leads.fairness import entitlements, report
from server.leads.rules import AssignmentRules
from server.leads.simulate import SimLead, seed_for, simulate

_TABLE = Path(__file__).resolve().parent.parent / "server" / "leads" / "data" / "city_centroids.csv"
_LINES = ["pumps", "valves", "service", "automation"]
_LANGS = ["de", "en", "fr", "nl"]
_DAY = date(2026, 3, 2)


def _cities() -> list[tuple[float, float]]:
    with _TABLE.open(encoding="utf-8") as fh:
        return [(float(r["lat"]), float(r["lon"])) for r in csv.DictReader(fh)]


def make_reps(rng: random.Random, count: int) -> list[RepProfile]:
    cities = _cities()
    reps = []
    for i in range(count):
        lat, lon = rng.choice(cities)
        lat, lon = lat + rng.uniform(-0.15, 0.15), lon + rng.uniform(-0.15, 0.15)
        territory = None
        if rng.random() < 0.4:
            h = rng.uniform(0.2, 0.4)
            territory = (
                (lat - h, lon - h),
                (lat - h, lon + h),
                (lat + h, lon + h),
                (lat + h, lon - h),
            )
        reps.append(
            RepProfile(
                id=f"rep-{i:05d}",
                home_lat=lat,
                home_lon=lon,
                service_radius_km=rng.uniform(30, 90),
                territory=territory,
                skills=frozenset(rng.sample(_LINES, rng.randint(2, 4))),
                languages=frozenset(["en", *rng.sample(_LANGS, rng.randint(1, 2))]),
                capacity=rng.randint(40, 80),
                daily_quota=rng.randint(15, 30),
                weight=rng.choice([0.5, 1.0, 1.0, 1.0, 1.5, 2.0]),
                working_days=frozenset(range(7)),
            )
        )
    return reps


def make_leads(rng: random.Random, count: int) -> list[LeadFacts]:
    cities = _cities()
    leads = []
    for i in range(count):
        located = rng.random() < 0.95
        lat, lon = rng.choice(cities)
        leads.append(
            LeadFacts(
                id=f"lead-{i:06d}",
                lat=lat + rng.uniform(-0.3, 0.3) if located else None,
                lon=lon + rng.uniform(-0.3, 0.3) if located else None,
                product_line=rng.choice(_LINES),
                language=rng.choice([None, None, *_LANGS]),
            )
        )
    return leads


def _key(d: object) -> tuple[object, ...]:
    return (d.winner_id, d.reason, d.eligible, d.ties, d.draw)  # type: ignore[attr-defined]


def run_engine(reps, leads, rules, seeds, *, use_index: bool):  # type: ignore[no-untyped-def]
    cpu = time.process_time()
    started = time.perf_counter()
    engine = Engine(reps, rules, use_index=use_index)
    built = time.perf_counter()
    loads: dict[str, RepLoad] = {}
    decisions = [
        engine.assign(lead, loads, seed=s, today=_DAY) for lead, s in zip(leads, seeds, strict=True)
    ]
    done = time.perf_counter()
    return decisions, built - started, done - started, time.process_time() - cpu


def month(rng: random.Random, reps: list[RepProfile], per_day: int) -> dict[str, object]:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    sim_leads = []
    for day in range(30):
        for facts in make_leads(rng, per_day):
            at = start + timedelta(days=day, seconds=rng.uniform(8 * 3600, 18 * 3600))
            facts = LeadFacts(
                f"m{day:02d}-{facts.id}", facts.lat, facts.lon, facts.product_line, facts.language
            )
            sim_leads.append(
                SimLead(facts, at, at.date(), None, None, at + timedelta(days=rng.uniform(1, 10)))
            )
    started = time.perf_counter()
    result = simulate(reps, AssignmentRules(), sim_leads, start_loads={})
    elapsed = time.perf_counter() - started
    weights = {r.id: r.weight for r in reps}
    counts = {d.rep_id: d.simulated for d in result.reps}
    owed = entitlements([d.eligible for d in result.decisions if d.winner_id], weights)
    fair = report(counts, weights, entitled=owed)
    deviations = [abs(counts.get(rid, 0) - e) for rid, e in owed.items()]
    return {
        "leads": result.leads,
        "assigned": sum(counts.values()),
        "unassigned": result.unassigned_simulated,
        "seconds": round(elapsed, 3),
        "share_vs_target": {
            "spread": fair.spread,
            "max_abs_deviation": round(fair.max_abs_deviation, 6),
            "gini_per_weight": fair.gini,
        },
        "vs_entitlement": {
            "gini": fair.gini_vs_entitlement,
            "mean_abs_deviation_leads": round(statistics.fmean(deviations), 3),
            "max_abs_deviation_leads": round(max(deviations), 3),
        },
        "note": "targets by weight ignore geography; entitlement shares each lead by weight "
        "among the reps eligible for it",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--brute-force-leads", type=int, default=100)
    parser.add_argument("--month-per-day", type=int, default=330)
    args = parser.parse_args(argv)

    rng = random.Random(20260302)
    reps = make_reps(rng, args.reps)
    leads = make_leads(rng, args.leads)
    seeds = [seed_for(lead.id) for lead in leads]
    rules = AssignmentRules()

    runs = [run_engine(reps, leads, rules, seeds, use_index=True) for _ in range(args.repeats)]
    decisions = runs[0][0]
    engine_s = statistics.median(r[2] for r in runs)
    index_s = statistics.median(r[1] for r in runs)
    engine_cpu_s = statistics.median(r[3] for r in runs)
    scan, _, scan_s, _ = run_engine(reps, leads, rules, seeds, use_index=False)

    prefix = args.brute_force_leads
    loads: dict[str, RepLoad] = {}
    started = time.perf_counter()
    reference = bruteforce.assign_all(
        reps, leads[:prefix], loads, rules, today=_DAY, seeds=seeds[:prefix]
    )
    brute_s = time.perf_counter() - started

    reasons: dict[str, int] = {}
    for d in decisions:
        key = d.reason.value if d.reason else "assigned"
        reasons[key] = reasons.get(key, 0) + 1
    out = {
        "leads": args.leads,
        "reps": args.reps,
        "engine": {
            "seconds_median": round(engine_s, 3),
            "cpu_seconds_median": round(engine_cpu_s, 3),
            "index_build_seconds": round(index_s, 3),
            "leads_per_second": round(args.leads / engine_s),
            "target_seconds": 2.0,
            "repeats": args.repeats,
            "mean_candidates_scored": round(
                statistics.fmean(len(d.eligible) for d in decisions), 2
            ),
        },
        "full_scan_engine": {
            "seconds": round(scan_s, 3),
            "same_decisions_as_indexed": [_key(d) for d in scan] == [_key(d) for d in decisions],
        },
        "brute_force": {
            "leads_evaluated": prefix,
            "seconds": round(brute_s, 3),
            "seconds_per_lead": round(brute_s / prefix, 5),
            "extrapolated_seconds_for_all": round(brute_s / prefix * args.leads, 1),
            "same_decisions_as_engine": [_key(o) for o in reference]
            == [_key(d) for d in decisions[:prefix]],
            "speedup_vs_engine": round((brute_s / prefix) / (engine_s / args.leads), 1),
        },
        "outcomes": reasons,
        "simulated_month": month(random.Random(7), reps, args.month_per_day),
        "python": sys.version.split()[0],
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
