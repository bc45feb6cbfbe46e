"""``fieldline demo``: load the demo data set, with a progress bar, and print the logins."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from server.demo.loader import DEFAULT_SEED, DemoError, DemoResult, run_demo
from server.settings import Settings

__all__ = ["register"]


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="load the seeded demo data set (regions, reps, accounts, four years of history)",
        description="Migrates the database if needed, loads a realistic, seeded data set and "
        "prints the logins it created (all share one demo password).",
    )
    demo.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing (but still print the logins) when the database already holds users",
    )
    demo.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 42)")
    demo.add_argument(
        "--scale",
        type=_positive_float,
        default=1.0,
        help="multiplies the number of accounts and the volume of history (default 1.0)",
    )
    demo.set_defaults(func=_cmd_demo)


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _cmd_demo(args: argparse.Namespace) -> int:
    overrides = {"database_url": args.database_url} if args.database_url else {}
    settings = Settings.from_env(**overrides)
    out = Console()
    err = Console(stderr=True)
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]demo[/] {task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as progress:
        task = progress.add_task("migrating", total=None)

        def on_progress(label: str, done: int, total: int) -> None:
            progress.update(task, description=label, completed=done, total=total)

        try:
            result = run_demo(
                settings.database_url,
                seed=args.seed,
                scale=args.scale,
                if_empty=args.if_empty,
                on_progress=on_progress,
            )
        except DemoError as exc:
            progress.stop()
            print(f"fieldline demo: {exc}", file=sys.stderr)
            return 1
        if not result.loaded:
            progress.update(task, description="already loaded", completed=1, total=1)
    _report(out, result, time.perf_counter() - started)
    return 0


def _report(out: Console, result: DemoResult, seconds: float) -> None:
    if result.loaded:
        rows = sum(result.counts.values())
        c = result.counts
        out.print(
            f"Loaded {rows:,} rows in {seconds:.1f} s: {c['accounts']:,} accounts, "
            f"{c['products']} products, {c['orders']:,} orders, "
            f"{c['opportunities']:,} opportunities, {c['tickets']:,} tickets, "
            f"{c['visits']:,} visits, {c['leads']:,} leads."
        )
    else:
        out.print("The database already holds users; the demo data set was not loaded again.")
    if not result.logins:
        out.print("No user has the demo password; log in with the accounts you created.")
        return
    table = Table(title="Demo logins")
    for column in ("role", "username", "password", "region"):
        table.add_column(column)
    for login in result.logins:
        table.add_row(login.role, login.username, login.password, login.region)
    out.print(table)
    for region, usernames in result.other_reps.items():
        out.print(f"More {region} reps (same password): {', '.join(usernames)}")
