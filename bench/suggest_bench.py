"""Suggestions benchmark on the demo world. Prints JSON.

1. Accuracy, against what accounts actually bought next: the last ``--holdout-days`` of the
   demo's orders are held out; the learner (server/suggestions) learns on the year before the
   cut, through the same history reader the nightly job uses, and each account's top five are
   scored against the products it bought in the held-out months that it had not bought in the
   year before (what a suggestion could have caught). Side by side, in the same run and under
   the same exclusions (nothing already bought, nothing inactive, nothing off the account's
   price list): the popularity baseline (the products most accounts of the account's segment
   bought in the year), a random pick among the eligible products, and, as a ceiling, a pick
   that knows how the demo generates orders (random among the selling rep's product lines).
2. Cost: the nightly relearn over every account (seconds), and how much a demo rep's scope grows
   — records and bytes a fresh tablet bootstraps over HTTP before and after the relearn, and
   what an already synced tablet pulls when the suggestions first arrive.

    .venv/bin/python -m bench.suggest_bench [--scale 1.0] [--holdout-days 91] [--rep NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.server_process import ServerProcess
from client_sdk import FieldClient, MemoryTokenStore
from server.accounts.models import Account
from server.auth.models import User
from server.catalog.models import Product
from server.db.engine import create_engine, create_sessionmaker
from server.demo.loader import DEFAULT_SEED, DEMO_PASSWORD, run_demo
from server.orders.models import Order
from server.suggestions.learner import Params, learn
from server.suggestions.models import Suggestion
from server.suggestions.service import History, load_history, relearn

TOP = 5


class CountingTransport(httpx.BaseTransport):
    """Counts the bytes of every response body as they came over the wire (compressed)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.received = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        raw = b"".join(response.stream)  # type: ignore[union-attr]
        response.close()
        self.received += len(raw)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=raw,
            extensions=response.extensions,
        )

    def close(self) -> None:
        self.inner.close()


def _eligible(history: History, account: str, owned: Collection[str]) -> Callable[[str], bool]:
    offered = history.offered.get(account)

    def ok(product_id: str) -> bool:
        facts = history.products.get(product_id)
        return (
            facts is not None
            and facts.active
            and product_id not in owned
            and (offered is None or product_id in offered)
        )

    return ok


def popularity(history: History, segments: Mapping[str, str]) -> dict[str, list[str]]:
    """Each account's top products by how many accounts of its segment bought them in the
    learning year, under the learner's exclusions."""
    counts: dict[str, dict[str, int]] = {}
    for account, items in history.bought.items():
        tally = counts.setdefault(segments.get(account, "?"), {})
        for product in items:
            tally[product] = tally.get(product, 0) + 1
    ranked = {
        segment: sorted(tally, key=lambda p: (-tally[p], history.products[p].sku))
        for segment, tally in counts.items()
    }
    out = {}
    for account, items in history.bought.items():
        ok = _eligible(history, account, items)
        out[account] = [p for p in ranked[segments.get(account, "?")] if ok(p)][:TOP]
    return out


def random_pick(history: History, seed: int) -> dict[str, list[str]]:
    rng = random.Random(seed)
    ids = sorted(history.products)
    out = {}
    for account, items in sorted(history.bought.items()):
        ok = _eligible(history, account, items)
        eligible = [p for p in ids if ok(p)]
        out[account] = rng.sample(eligible, min(TOP, len(eligible)))
    return out


def generator_aware(
    history: History,
    lines: Mapping[str, str],
    skills: Mapping[str, Collection[str]],
    seed: int,
) -> dict[str, list[str]]:
    """A reference no real method has: it knows how the demo draws an order's products — three
    lines in four from the selling rep's product lines, evenly within a line — and picks five
    eligible products of those lines at random. What the demo lets any method reach."""
    rng = random.Random(seed)
    ids = sorted(history.products)
    out = {}
    for account, items in sorted(history.bought.items()):
        ok = _eligible(history, account, items)
        mine = set(skills.get(account, ()))
        eligible = [p for p in ids if ok(p) and lines.get(p) in mine]
        out[account] = rng.sample(eligible, min(TOP, len(eligible)))
    return out


def score(picks: Mapping[str, list[str]], truth: Mapping[str, set[str]]) -> dict[str, Any]:
    precision, recall, hits = [], [], 0
    for account, wanted in truth.items():
        chosen = picks.get(account, [])
        found = len(set(chosen) & wanted)
        precision.append(found / TOP)
        recall.append(found / len(wanted))
        hits += found > 0
    n = len(truth)
    return {
        "precision_at_5": round(statistics.fmean(precision), 4) if n else None,
        "recall_at_5": round(statistics.fmean(recall), 4) if n else None,
        "hit_rate_at_5": round(hits / n, 4) if n else None,
        "accounts_with_a_pick": sum(1 for a in truth if picks.get(a)),
    }


async def accuracy(url: str, holdout_days: int, seed: int) -> dict[str, Any]:
    engine = create_engine(url, null_pool=True)
    try:
        async with create_sessionmaker(engine)() as session:
            end = await session.scalar(
                select(func.max(func.coalesce(Order.submitted_at, Order.created_at)))
            )
            assert end is not None
            end = end.replace(tzinfo=UTC) if end.tzinfo is None else end
            end += timedelta(seconds=1)
            cut = end - timedelta(days=holdout_days)
            learned_on = await load_history(session, now=cut)
            held_out = await load_history(session, now=end, window_days=holdout_days)
            segments = dict((await session.execute(select(Account.id, Account.segment))).all())
            lines = dict((await session.execute(select(Product.id, Product.product_line))).all())
            # The rep who sold to the account last, and that rep's product lines.
            sellers = (
                await session.execute(
                    select(Order.account_id, User.skills)
                    .join(User, User.id == Order.rep_id)
                    .where(func.coalesce(Order.submitted_at, Order.created_at) < cut)
                    .order_by(func.coalesce(Order.submitted_at, Order.created_at))
                )
            ).all()
            skills = {account: rep_skills for account, rep_skills in sellers}
            await session.rollback()
    finally:
        await engine.dispose()
    started = time.perf_counter()
    learned = learn(
        learned_on.bought, learned_on.products, offered=learned_on.offered, params=Params()
    )
    learn_s = time.perf_counter() - started
    # What a suggestion could have caught: bought in the held-out months, not in the year
    # before the cut (those are excluded from every method's picks alike).
    truth = {
        account: new
        for account, items in held_out.bought.items()
        if account in learned_on.bought and (new := set(items) - set(learned_on.bought[account]))
    }
    methods = {
        "learner": {a: [s.product_id for s in found] for a, found in learned.items()},
        "segment_popularity": popularity(learned_on, segments),
        "random": random_pick(learned_on, seed),
        "generator_aware_reference": generator_aware(learned_on, lines, skills, seed),
    }
    kinds: dict[str, int] = {}
    for found in learned.values():
        for s in found:
            kinds[s.kind] = kinds.get(s.kind, 0) + 1
    return {
        "workload": (
            f"demo world; learn on the 365 days before the cut, score against the last "
            f"{holdout_days} days of orders; top {TOP} per account"
        ),
        "cut": cut.isoformat(),
        "accounts_learned": len(learned_on.bought),
        "accounts_scored": len(truth),
        "new_products_per_scored_account": round(
            statistics.fmean(len(t) for t in truth.values()), 2
        )
        if truth
        else None,
        "learn_s": round(learn_s, 3),
        "suggestions_by_kind": kinds,
        "methods": {name: score(picks, truth) for name, picks in methods.items()},
    }


def bootstrap(
    server_url: str, username: str, path: Path
) -> tuple[FieldClient, CountingTransport, int, int]:
    transport = CountingTransport()
    http = httpx.Client(base_url=server_url, transport=transport, timeout=120)
    device = FieldClient(path, http, token_store=MemoryTokenStore())
    device.login(username, DEMO_PASSWORD, device_name=path.stem)
    transport.received = 0
    device.sync()
    return device, transport, device.status().records, transport.received


def scope_growth(url: str, username: str, workdir: Path) -> dict[str, Any]:
    with ServerProcess(url) as server:
        before, transport, records_before, bytes_before = bootstrap(
            server.url, username, workdir / "a.db"
        )
        suggestions_held = 0
        sample: list[dict[str, Any]] = []
        try:
            started = time.perf_counter()
            summary = asyncio.run(_relearn(url))
            relearn_s = time.perf_counter() - started
            transport.received = 0
            report = before.sync()
            incremental_bytes = transport.received
            suggestions_held = len(before.records.all("suggestion"))
            sample = next(
                (
                    [
                        {
                            "account": account.get("name"),
                            "sku": v.product.get("sku"),
                            "product": v.product.get("name"),
                            "kind": v.kind,
                            "unit_price": str(v.unit_price),
                            "reason": v.reason,
                        }
                        for v in views[:3]
                    ]
                    for account in before.accounts()
                    if (views := before.suggestions(account.id))
                ),
                [],
            )
        finally:
            before.close()
        after, _, records_after, bytes_after = bootstrap(server.url, username, workdir / "b.db")
        after.close()
    accounts = records_of(url, username)
    return {
        "workload": f"demo rep {username}: a fresh tablet's bootstrap over HTTP (msgpack, "
        "gzip) before and after the first relearn; an already synced tablet's pull of the new "
        "suggestions",
        "relearn": {**summary, "seconds": round(relearn_s, 2)},
        "rep_accounts": accounts,
        "bootstrap_records_before": records_before,
        "bootstrap_records_after": records_after,
        "bootstrap_bytes_before": bytes_before,
        "bootstrap_bytes_after": bytes_after,
        "records_growth_pct": round(100 * (records_after - records_before) / records_before, 1),
        "bytes_growth_pct": round(100 * (bytes_after - bytes_before) / bytes_before, 1),
        "suggestions_on_the_tablet": suggestions_held,
        "bound_records": accounts * TOP,
        "incremental_pull_records": report.pulled,
        "incremental_pull_bytes": incremental_bytes,
        "sample_on_the_tablet": sample,
    }


async def _relearn(url: str) -> dict[str, Any]:
    engine = create_engine(url, null_pool=True)
    try:
        summary = await relearn(create_sessionmaker(engine), now=datetime.now(UTC))
    finally:
        await engine.dispose()
    return summary.as_dict()


def has_suggestions(url: str) -> bool:
    async def main() -> bool:
        engine = create_engine(url, null_pool=True)
        try:
            async with create_sessionmaker(engine)() as session:
                return bool(await session.scalar(select(func.count()).select_from(Suggestion)))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def records_of(url: str, username: str) -> int:
    async def main() -> int:
        engine = create_engine(url, null_pool=True)
        try:
            async with create_sessionmaker(engine)() as session:
                territory = await session.scalar(
                    select(User.territory_id).where(User.username == username)
                )
                return int(
                    await session.scalar(
                        select(func.count())
                        .select_from(Account)
                        .where(Account.territory_id == territory)
                    )
                    or 0
                )
        finally:
            await engine.dispose()

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.suggest_bench")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--holdout-days", type=int, default=91)
    parser.add_argument("--rep", default="christian.klein")
    parser.add_argument("--skip-scope", action="store_true", help="accuracy only")
    parser.add_argument(
        "--demo-db",
        type=Path,
        help="SQLite file to load the demo into, or reuse when it is there (the scope is then "
        "measured only while it holds no suggestions)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path = args.demo_db or workdir / "demo.db"
        url = f"sqlite:///{path.resolve()}"
        started = time.perf_counter()
        if not path.exists():
            print("loading the demo world…", file=sys.stderr)
            # Without the demo's own first relearn: the scope is measured before and after it.
            run_demo(url, seed=args.seed, scale=args.scale, suggestions=False)
        load_s = time.perf_counter() - started
        print("scoring…", file=sys.stderr)
        report: dict[str, Any] = {
            "machine_load": os.getloadavg(),
            "demo": {"seed": args.seed, "scale": args.scale, "load_s": round(load_s, 1)},
            "accuracy": asyncio.run(accuracy(url, args.holdout_days, args.seed)),
        }
        if not args.skip_scope and not has_suggestions(url):
            print("measuring the scope…", file=sys.stderr)
            report["scope"] = scope_growth(url, args.rep, workdir)
        report["machine_load_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
