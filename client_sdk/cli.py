"""``fieldline rep …`` (a rep's device on the command line) and ``fieldline simulate``.

The device store defaults to ``~/.fieldline/rep.db`` (``--store`` or FIELDLINE_REP_STORE
override it); the server URL is given once, at login, and remembered in the store.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Building the parser must stay cheap (`fieldline rep --help`, and every `fieldline rep …` builds
# it): the client, rich and the sync rules are imported by the commands that use them.
if TYPE_CHECKING:
    from rich.console import Console

    from client_sdk.client import FieldClient
    from client_sdk.records import Record
    from client_sdk.sync_loop import Progress as SyncProgress

__all__ = ["register"]

Command = Callable[[argparse.Namespace], int]


def _default_store() -> str:
    return os.environ.get("FIELDLINE_REP_STORE") or str(Path.home() / ".fieldline" / "rep.db")


def register(subparsers: Any) -> None:
    rep = subparsers.add_parser(
        "rep",
        help="a field rep's device: log in, sync, route, visits, orders, tickets, leads",
        description="Works on a local store like the tablet app does: everything but login and "
        "sync works offline.",
    )
    rep.add_argument(
        "--store", default=None, help="device store file (default ~/.fieldline/rep.db)"
    )
    verbs = rep.add_subparsers(dest="rep_command", required=True)

    login = verbs.add_parser("login", help="log in once while online")
    login.add_argument("username")
    login.add_argument("--server", required=True, help="server URL, e.g. http://127.0.0.1:8000")
    login.add_argument("--password", help="prompted for when omitted")
    login.add_argument("--device-name", help="how this device is listed (default: host name)")
    login.set_defaults(func=_login)

    sync = verbs.add_parser("sync", help="push unsent changes and pull the server's")
    sync.set_defaults(func=_sync)

    status = verbs.add_parser("status", help="unsent changes, last sync, rejected changes")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)

    route = verbs.add_parser("route", help="today's visits in route order")
    route.add_argument("--date", type=date.fromisoformat, help="YYYY-MM-DD (default today)")
    route.add_argument("--lat", type=float, help="current position (default: first stop)")
    route.add_argument("--lon", type=float)
    route.set_defaults(func=_route)

    check_in = verbs.add_parser("check-in", help="check in to a visit with a GPS fix")
    check_in.add_argument("visit", nargs="?", help="visit id (omit with --account)")
    check_in.add_argument("--account", help="unplanned visit to this account")
    check_in.add_argument("--lat", type=float, required=True)
    check_in.add_argument("--lon", type=float, required=True)
    check_in.add_argument("--accuracy", type=float, help="fix accuracy in metres")
    check_in.set_defaults(func=_check_in)

    check_out = verbs.add_parser("check-out", help="check out of a visit")
    check_out.add_argument("visit")
    check_out.add_argument("--outcome", required=True)
    check_out.add_argument("--notes")
    check_out.add_argument("--duration", type=int, help="minutes (default: since check-in)")
    check_out.set_defaults(func=_check_out)

    order = verbs.add_parser("order", help="take an order from the cached catalogue")
    order.add_argument("account")
    order.add_argument(
        "--line",
        action="append",
        required=True,
        metavar="PRODUCT:QTY[:DISCOUNT%]",
        help="product id or SKU, quantity, optional discount (repeatable); the product id may "
        "be a suggestion's id, and the line then names the suggestion",
    )
    order.add_argument("--notes")
    order.add_argument("--draft", action="store_true", help="keep it as a draft")
    order.set_defaults(func=_order)

    suggestions = verbs.add_parser(
        "suggestions", help="what else an account might buy, with the reason and your price"
    )
    suggestions.add_argument("account")
    suggestions.set_defaults(func=_suggestions)

    ticket = verbs.add_parser("ticket", help="open a ticket, comment on one, or move it")
    ticket.add_argument("target", help="account id (to open) or ticket id (--comment/--move)")
    ticket.add_argument("subject", nargs="?", help="subject of a new ticket")
    ticket.add_argument("--description")
    ticket.add_argument("--priority", default="normal")
    ticket.add_argument("--comment", help="add this comment to the ticket")
    ticket.add_argument("--move", metavar="STATUS", help="move the ticket to this status")
    ticket.set_defaults(func=_ticket)

    lead = verbs.add_parser("lead", help="capture a lead met in the field")
    lead.add_argument("company")
    lead.add_argument("--contact")
    lead.add_argument("--email")
    lead.add_argument("--phone")
    lead.add_argument("--city")
    lead.add_argument("--notes")
    lead.set_defaults(func=_lead)

    attach = verbs.add_parser(
        "attach", help="attach a photo or document to a visit, ticket or order (sent on sync)"
    )
    attach.add_argument("owner", metavar="KIND", help="visit, ticket or order")
    attach.add_argument("owner_id", metavar="ID")
    attach.add_argument("file", type=Path)
    attach.add_argument("--type", dest="media_type", help="media type (default: from the name)")
    attach.set_defaults(func=_attach)

    consent = verbs.add_parser(
        "consent", help="record what a contact or lead said about one purpose, or list it"
    )
    consent.add_argument("subject", metavar="KIND", help="contact or lead")
    consent.add_argument("subject_id", metavar="ID")
    consent.add_argument("purpose", nargs="?", help="e.g. email_marketing (omit to list)")
    consent.add_argument("status", nargs="?", help="given or withdrawn")
    consent.add_argument("--channel", default="in_person", help="how they said it")
    consent.set_defaults(func=_consent)

    simulate = subparsers.add_parser(
        "simulate",
        help="simulated reps living their days against a real server",
        description="N reps, each with its own store, plan and make visits, take orders, open "
        "tickets, capture leads and edit accounts with the network coming and going; at the "
        "end every rep syncs and the simulator checks that everything captured arrived.",
    )
    simulate.add_argument("--reps", type=int, default=3)
    simulate.add_argument("--days", type=int, default=2)
    simulate.add_argument("--offline-ratio", type=float, default=0.5)
    simulate.add_argument("--server", required=True, help="server URL")
    simulate.add_argument("--password", default="fieldline-demo", help="the reps' password")
    simulate.add_argument("--usernames", help="comma-separated rep usernames (default: listed)")
    simulate.add_argument("--admin-user", default="admin", help="lists the reps when needed")
    simulate.add_argument("--admin-password", help="default: --password")
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument("--workdir", type=Path, help="where the reps' stores go")
    simulate.add_argument("--json", action="store_true", help="print the result as JSON")
    simulate.set_defaults(func=_simulate)


# Helpers ------------------------------------------------------------------------------------------
def _console() -> Console:
    from rich.console import Console

    return Console()


def _client(args: argparse.Namespace, server: str | None = None) -> FieldClient:
    from client_sdk.client import FieldClient

    return FieldClient(args.store or _default_store(), server_url=server)


def _run(args: argparse.Namespace, work: Callable[[FieldClient, Console], int]) -> int:
    from rich.console import Console

    from client_sdk.errors import FieldlineClientError

    console = _console()
    try:
        with _client(args, getattr(args, "server", None)) as client:
            return work(client, console)
    except FieldlineClientError as exc:
        Console(stderr=True).print(f"[red]fieldline rep:[/] {exc}")
        return 1


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _visit_line(visit: Record) -> str:
    flags = visit.get("flags") or []
    verified = "verified" if visit.get("verified") else "not verified"
    return f"{visit.get('status')} · {verified}" + (
        f" · flags: {', '.join(flags)}" if flags else ""
    )


# Commands -----------------------------------------------------------------------------------------
def _login(args: argparse.Namespace) -> int:
    import getpass

    password = args.password or getpass.getpass("password: ")

    def work(client: FieldClient, console: Console) -> int:
        user = client.login(args.username, password, device_name=args.device_name)
        console.print(f"Logged in as [bold]{user.full_name}[/] ({user.role}); syncing…")
        return _do_sync(client, console)

    return _run(args, work)


def _sync(args: argparse.Namespace) -> int:
    return _run(args, _do_sync)


def _do_sync(client: FieldClient, console: Console) -> int:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]sync[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        pending = client.outbox.pending_count()
        task = bar.add_task("pushing", total=pending or None, detail="")

        def progress(p: SyncProgress) -> None:
            if p.phase == "push":
                bar.update(
                    task, description="pushing", completed=p.pushed, detail=f"{p.pushed} sent"
                )
            else:
                bar.update(
                    task,
                    description="pulling",
                    total=None,
                    detail=f"{p.pages} pages · {p.records} records",
                )

        report = client.sync(progress)
    console.print(
        f"[green]synced[/] in {report.duration_s:.2f} s: pushed {report.pushed} "
        f"(applied {report.applied}, merged {report.merged}, rejected {report.rejected}), "
        f"pulled {report.pulled} in {report.pages} pages, evicted {report.evicted}, "
        f"conflicts {report.conflicts}" + (" · bootstrapped" if report.bootstrapped else "")
    )
    if report.rejected:
        console.print("[yellow]Some changes were refused: see `fieldline rep status`.[/]")
    for order in client.repriced_orders():
        diff = order.get("repricing") or {}
        console.print(
            f"[yellow]order {order.id} re-priced by the server:[/] "
            f"{diff.get('old_total')} → {diff.get('new_total')}"
        )
    return 0


def _status(args: argparse.Namespace) -> int:
    def work(client: FieldClient, console: Console) -> int:
        status = client.status()
        rejected = client.rejected()
        if args.json:
            import json

            import msgspec

            payload = msgspec.to_builtins(status)
            payload["rejected_changes"] = msgspec.to_builtins(rejected)
            console.print_json(json.dumps(payload))
            return 0
        from rich.table import Table

        user = status.user or {}
        table = Table(show_header=False, box=None)
        table.add_row("rep", f"{user.get('full_name', '-')} ({user.get('username', '-')})")
        table.add_row("device", status.device_id or "-")
        table.add_row("server", status.server_url or "-")
        table.add_row("logged in", "yes" if status.logged_in else "no")
        table.add_row("unsent changes", str(status.unsent))
        table.add_row("oldest unsent", _age(status.oldest_unsent_age_s))
        table.add_row("last sync", status.last_sync_at or "never")
        if status.last_sync_error:
            table.add_row("last error", status.last_sync_error)
        table.add_row("records on device", str(status.records))
        table.add_row("rejected changes", str(status.rejected))
        table.add_row("conflicts lost", str(status.conflicts))
        if status.max_offline_days:
            table.add_row("max offline", f"{status.max_offline_days} days")
        console.print(table)
        if rejected:
            listing = Table(title="Rejected changes")
            for column in ("seq", "entity", "record", "reason", "detail"):
                listing.add_column(column)
            for r in rejected:
                listing.add_row(str(r.seq), r.entity, r.record_id, r.reason, r.detail)
            console.print(listing)
        return 0

    return _run(args, work)


def _route(args: argparse.Namespace) -> int:
    from rich.table import Table

    def work(client: FieldClient, console: Console) -> int:
        position = (args.lat, args.lon) if args.lat is not None and args.lon is not None else None
        stops = client.route(args.date, position=position)
        table = Table(title=f"Route for {(args.date or client.now().date()).isoformat()}")
        for column in ("#", "visit", "account", "status", "last visit", "open orders", "tickets"):
            table.add_column(column)
        for stop in stops:
            last = stop.last_visit.get("check_in_at") if stop.last_visit else None
            table.add_row(
                str(stop.position),
                stop.visit.id,
                str(stop.account.get("name")) if stop.account else "?",
                _visit_line(stop.visit),
                str(last or "-")[:16],
                str(len(stop.open_orders)),
                str(len(stop.open_tickets)),
            )
        console.print(table if stops else "No visits planned for that day.")
        return 0

    return _run(args, work)


def _check_in(args: argparse.Namespace) -> int:
    def work(client: FieldClient, console: Console) -> int:
        visit = client.check_in(
            args.visit,
            lat=args.lat,
            lon=args.lon,
            accuracy_m=args.accuracy,
            account_id=args.account,
        )
        distance = visit.get("distance_m")
        console.print(
            f"checked in to visit {visit.id}: {_visit_line(visit)}"
            + (f" · {distance:.0f} m from the account" if distance is not None else "")
        )
        return 0

    return _run(args, work)


def _check_out(args: argparse.Namespace) -> int:
    def work(client: FieldClient, console: Console) -> int:
        visit = client.check_out(
            args.visit,
            outcome=args.outcome,
            notes=args.notes,
            duration_s=args.duration * 60 if args.duration is not None else None,
        )
        console.print(f"checked out of visit {visit.id}: {_visit_line(visit)}")
        return 0

    return _run(args, work)


def _suggestions(args: argparse.Namespace) -> int:
    from rich.table import Table

    def work(client: FieldClient, console: Console) -> int:
        views = client.suggestions(args.account)
        account = client.get("account", args.account)
        table = Table(title=f"Suggestions for {account.get('name') if account else args.account}")
        for column in ("suggestion", "product", "kind", "price", "why"):
            table.add_column(column)
        for view in views:
            table.add_row(
                view.id,
                f"{view.product.get('sku')} {view.product.get('name')}",
                view.kind.replace("_", "-"),
                f"{view.unit_price} {view.currency}",
                view.reason,
            )
        console.print(table if views else "No suggestions for this account.")
        return 0

    return _run(args, work)


def _product_id(client: FieldClient, ref: str) -> str:
    from client_sdk.errors import FieldlineClientError

    if client.get("product", ref) is not None:
        return ref
    for product in client.products(active_only=False):
        if product.get("sku") == ref:
            return product.id
    raise FieldlineClientError(f"no product {ref!r} in the cached catalogue")


def _order(args: argparse.Namespace) -> int:
    from decimal import Decimal

    from rich.table import Table

    from client_sdk.errors import FieldlineClientError

    def work(client: FieldClient, console: Console) -> int:
        with client.outbox.transaction():
            order = client.create_order(args.account, notes=args.notes)
            for spec in args.line:
                parts = spec.split(":")
                if len(parts) not in (2, 3):
                    raise FieldlineClientError(f"bad --line {spec!r}: PRODUCT:QTY[:DISCOUNT]")
                suggestion = client.get("suggestion", parts[0])
                client.add_line(
                    order.id,
                    str(suggestion.get("product_id"))
                    if suggestion
                    else _product_id(client, parts[0]),
                    int(parts[1]),
                    discount_pct=Decimal(parts[2]) if len(parts) == 3 else 0,
                    suggestion_id=suggestion.id if suggestion else None,
                )
            if not args.draft:
                order = client.submit_order(order.id)
        totals = client.order_totals(order.id)
        table = Table(title=f"Order {order.id} ({order.get('status')})")
        for column in ("line", "product", "qty", "unit price", "discount %", "total"):
            table.add_column(column, justify="right")
        for line in totals.lines:
            product = client.get("product", line.product_id)
            table.add_row(
                str(line.line_no),
                str(product.get("sku")) if product else line.product_id,
                str(line.quantity),
                str(line.unit_price),
                str(line.discount_pct),
                str(line.line_total),
            )
        console.print(table)
        console.print(
            f"subtotal {totals.subtotal} · discount {totals.discount_total} · "
            f"[bold]total {totals.total}[/]"
        )
        return 0

    return _run(args, work)


def _ticket(args: argparse.Namespace) -> int:
    from client_sdk.errors import FieldlineClientError

    def work(client: FieldClient, console: Console) -> int:
        if args.comment or args.move:
            if args.move:
                client.move_ticket(args.target, args.move, comment=args.comment)
            else:
                client.comment(args.target, args.comment)
            current = client.get("ticket", args.target)
            console.print(f"ticket {args.target}: {current.get('status') if current else '?'}")
            return 0
        if not args.subject:
            raise FieldlineClientError("give a subject to open a ticket")
        ticket = client.open_ticket(
            args.target, args.subject, description=args.description, priority=args.priority
        )
        console.print(f"opened ticket {ticket.id}: {ticket.get('subject')}")
        return 0

    return _run(args, work)


def _lead(args: argparse.Namespace) -> int:
    def work(client: FieldClient, console: Console) -> int:
        lead = client.capture_lead(
            args.company,
            contact_name=args.contact,
            email=args.email,
            phone=args.phone,
            city=args.city,
            notes=args.notes,
        )
        console.print(f"captured lead {lead.id}: {lead.get('company')} (sent on next sync)")
        return 0

    return _run(args, work)


def _attach(args: argparse.Namespace) -> int:
    import mimetypes

    from client_sdk.errors import LocalRuleViolation

    def work(client: FieldClient, console: Console) -> int:
        if not args.file.is_file():
            raise LocalRuleViolation(f"no file at {args.file}", field="file")
        media_type = args.media_type or mimetypes.guess_type(args.file.name)[0]
        if media_type is None:
            raise LocalRuleViolation(
                f"cannot tell the media type of {args.file.name}: name it with --type",
                field="media_type",
            )
        attached = client.attach(
            args.owner, args.owner_id, args.file, media_type=media_type, file_name=args.file.name
        )
        console.print(
            f"attached {attached.id}: {args.file.name} ({media_type}, "
            f"{attached.get('byte_size')} bytes) to {args.owner} {args.owner_id} "
            "(sent on next sync)"
        )
        return 0

    return _run(args, work)


def _consent(args: argparse.Namespace) -> int:
    from client_sdk.errors import LocalRuleViolation

    def work(client: FieldClient, console: Console) -> int:
        if args.subject not in ("contact", "lead"):
            raise LocalRuleViolation("consent is recorded for a contact or a lead", field="kind")
        subject = {f"{args.subject}_id": args.subject_id}
        if args.purpose is not None:
            if args.status is None:
                raise LocalRuleViolation("say given or withdrawn", field="status")
            recorded = client.record_consent(
                args.purpose, args.status, channel=args.channel, **subject
            )
            console.print(
                f"recorded {recorded.get('purpose')}: {recorded.get('status')} "
                f"({recorded.get('channel')}; sent on next sync)"
            )
        for purpose, status in sorted(client.consent(**subject).items()):
            console.print(f"{purpose}: {status}")
        return 0

    return _run(args, work)


def _simulate(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from client_sdk.errors import FieldlineClientError
    from client_sdk.simulate import SimConfig, result_json, simulate

    config = SimConfig(
        server=args.server,
        reps=args.reps,
        days=args.days,
        offline_ratio=args.offline_ratio,
        password=args.password,
        usernames=[u for u in (args.usernames or "").split(",") if u],
        admin_user=args.admin_user,
        admin_password=args.admin_password,
        seed=args.seed,
        workdir=args.workdir,
    )
    console = Console(stderr=args.json)
    console.print(
        f"simulating {config.reps} reps for {config.days} days "
        f"(offline ratio {config.offline_ratio}) against {config.server}"
    )
    try:
        result = simulate(
            config,
            on_day=lambda day, reps: console.print(
                f"day {day}: {sum(r.visits for r in reps)} visits, "
                f"{sum(r.orders for r in reps)} orders, {sum(r.syncs for r in reps)} syncs, "
                f"{sum(r.offline_syncs for r in reps)} without network"
            ),
        )
    except FieldlineClientError as exc:
        Console(stderr=True).print(f"[red]fieldline simulate:[/] {exc}")
        return 1
    if args.json:
        print(json.dumps(result_json(result), default=str))
        return 0 if result.ok else 1
    table = Table(title=f"Simulation ({result.duration_s:.1f} s)")
    for column in ("rep", "visits (flagged)", "orders", "tickets", "leads", "edits"):
        table.add_column(column, justify="right")
    for column in ("syncs (offline)", "pushed", "rejected", "conflicts", "arrived", "unsent"):
        table.add_column(column, justify="right")
    for r in result.reps:
        table.add_row(
            r.username,
            f"{r.visits} ({r.flagged_visits})",
            str(r.orders),
            str(r.tickets),
            str(r.leads),
            str(r.edits),
            f"{r.syncs} ({r.offline_syncs})",
            str(r.pushed),
            str(r.rejected),
            str(r.conflicts),
            f"{r.arrived}/{r.captured}",
            str(r.unsent),
        )
    console.print(table)
    if result.ok:
        console.print("[green]everything captured arrived[/] (or was refused with a reason)")
        return 0
    for r in result.reps:
        for missing in r.missing:
            console.print(f"[red]missing[/] {r.username}: {missing}")
    return 1


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m client_sdk.cli`` (the ``fieldline`` command registers these
    same commands)."""
    parser = argparse.ArgumentParser(prog="fieldline")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
