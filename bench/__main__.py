"""``make bench``: every benchmark in turn, each in its own process, as one JSON document.

python -m bench [--database-url postgresql+asyncpg://…]   (PostgreSQL for the sync bench)

The real-workload bench always runs on its own temporary SQLite store: it loads the demo world
into an empty database, and the one ``--database-url`` names is the sync bench's by then (run
``python -m bench.real_workload --database-url …`` on another empty database for PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

BENCHES = (
    "sync_bench",
    "client_bench",
    "leads_bench",
    "forecast_bench",
    "forecast_accuracy",
    "suggest_bench",
    "real_workload",
    "peer_compare",
    "attachments_bench",
)
PEER_ENV = "FIELDLINE_PEER_DIR"
"""A copy of the PouchDB harness with its node_modules installed (bench/peer_compare.py)."""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "--database-url", help="run the sync bench on this (empty) PostgreSQL database"
    )
    parser.add_argument("--only", choices=BENCHES, action="append")
    args = parser.parse_args()
    report: dict[str, object] = {}
    for name in args.only or BENCHES:
        command = [sys.executable, "-m", f"bench.{name}"]
        if name == "sync_bench" and args.database_url:
            command += ["--database-url", args.database_url]
        if name == "peer_compare":
            if not os.environ.get(PEER_ENV):
                report[name] = {"skipped": f"set {PEER_ENV} to an installed PouchDB harness"}
                continue
            command += ["--peer", os.environ[PEER_ENV]]
        print(f"running {name}…", file=sys.stderr)
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            report[name] = {"error": done.stderr[-2000:]}
            continue
        try:
            report[name] = json.loads(done.stdout)
        except json.JSONDecodeError:
            report[name] = {"output": done.stdout[-2000:]}
        print(f"  {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(json.dumps(report, indent=2))
    return 0 if all("error" not in v for v in report.values() if isinstance(v, dict)) else 1


if __name__ == "__main__":
    sys.exit(main())
