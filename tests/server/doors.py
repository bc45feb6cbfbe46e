"""The two doors of the server, side by side: the REST resources (``/api/v1/...``) and the sync
push (``/api/v1/sync/push``). Helpers for tests/server/test_doors_agree.py.

A *case* is one write described once, in the sync wire's field names, with symbolic values
(``"@own_account"``, ``"@huge"``…) that are resolved against the seeded world when the case runs,
so a failing example prints short and readable. Each case is carried out twice, on two identical
copies of the state it needs (twin records, made in one database transaction): once as the REST
request a client would send, once as the upsert a device of the same user would push. Each answer
is reduced to a *verdict class*; the doors agree when the classes are equal.

Verdict classes
---------------
=============== ==================================== =============================================
class           REST                                 sync
=============== ==================================== =============================================
accepted        2xx                                  ``applied`` / ``merged``
scope           403, 404                             ``out_of_scope``, ``read_only``,
                                                     ``server_owned_field``, ``unknown_record``,
                                                     ``deleted``
validation      400, 413, 422                        ``validation``; a 400/413 for the whole push
transition      409                                  ``illegal_transition``
inexpressible   400 naming a field the REST body     —
                does not have (an unknown field), or
                no REST door at all where the docs
                promise a refusal (append-only
                records)
server_error    5xx                                  5xx, or a push answer that cannot be read
=============== ==================================== =============================================

``inexpressible`` agrees with any refusal by sync, and with an acceptance that did *not* keep the
value REST could not take (the server put its own value there: ``author_id``, computed fields).
``server_error`` agrees with nothing: a 500 is never a verdict.

A case that changes more than one thing from its valid base (a caller of another territory counts
as one change) breaks several rules at once, and each door may name the first it checks: there
only accepted against refused is compared. A manager's pushes are refused by design (docs/sync.md:
a manager's device receives the region read-only): for a manager, sync must answer
``out_of_scope`` and REST must not fail.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account, Contact
from server.db.engine import create_engine, create_sessionmaker
from server.leads.models import Lead
from server.opportunities.models import Opportunity
from server.orders.models import Order, OrderLine
from server.privacy.models import ContactConsent, LeadConsent
from server.settings import Settings
from server.sync.entities import model_for
from server.tickets.models import Ticket, TicketComment
from server.visits.models import Visit, VisitNote
from sync import codec
from sync.ids import new_id
from sync.messages import Rejected, Upsert
from sync.rules import RULES
from tests.seed import World, auth_headers, token_for
from tests.server.sync.device import Device

T = TypeVar("T")

__all__ = [
    "ENTITIES",
    "ROLES",
    "Case",
    "DoorsEnv",
    "Verdict",
    "agree",
    "build_env",
    "rest_verdict",
    "run_case",
    "sync_verdict",
]

# --------------------------------------------------------------------------------------------
# Who acts. Every target record belongs to territory N1 (region NORTH) and its rep, rep_n1.

ROLES: dict[str, str] = {
    "rep": "rep_n1",  # the rep of the territory
    "other_rep": "rep_n2",  # a rep of another territory (same region)
    "manager": "mgr_north",  # the manager of the region
    "admin": "admin",
}

NO_REST_WRITE = frozenset({"attachment"})
"""Entities a device creates through sync alone: an attachment's metadata comes with its bytes
from the device that captured them (tests/server/attachments holds its sync door's refusals)."""

ENTITIES = tuple(
    entity for entity, rules in RULES.items() if not rules.read_only and entity not in NO_REST_WRITE
)

HUGE_CHARS = 1 << 20  # "@huge": 1 MiB of text


# --------------------------------------------------------------------------------------------
# The seeded world and the callers.


@dataclass
class Caller:
    role: str
    username: str
    user_id: str
    token: str
    device: Device

    @property
    def headers(self) -> dict[str, str]:
        return auth_headers(self.token)


class Db:
    """One engine on one event loop for the whole module: a fresh engine per preparation cost
    more than the case itself on PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.engine = create_engine(url, null_pool=False)
        self.sessions = create_sessionmaker(self.engine)

    def __call__(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def main() -> T:
            async with self.sessions() as session:
                result = await work(session)
                await session.commit()
                return result

        return self.loop.run_until_complete(main())

    def close(self) -> None:
        self.loop.run_until_complete(self.engine.dispose())
        self.loop.close()


@dataclass(repr=False)
class DoorsEnv:
    client: TestClient[Litestar]
    settings: Settings
    world: World
    callers: dict[str, Caller]
    db: Db
    foreign: dict[str, str] = field(default_factory=dict)
    """Records of rep_s1 (territory S1, region SOUTH): parents outside every N1 caller's scope."""

    def __repr__(self) -> str:
        return f"DoorsEnv({self.settings.database_url})"

    @property
    def url(self) -> str:
        return self.settings.database_url

    def caller(self, role: str) -> Caller:
        return self.callers[role]


def build_env(client: TestClient[Litestar], settings: Settings, world: World) -> DoorsEnv:
    callers: dict[str, Caller] = {}
    for role, username in ROLES.items():
        user_id = world.user(username)
        token, device_id = token_for(settings, user_id, device_name=f"doors-{role}")
        callers[role] = Caller(
            role, username, user_id, token, Device(client=client, token=token, device_id=device_id)
        )
    env = DoorsEnv(
        client=client, settings=settings, world=world, callers=callers, db=Db(settings.database_url)
    )
    s1_rep = world.user("rep_s1")
    s1_account = world.accounts["S1"][0]

    async def work(session: AsyncSession) -> dict[str, str]:
        visit = Visit(account_id=s1_account, rep_id=s1_rep, planned_for=date(2024, 5, 6))
        order = Order(account_id=s1_account, rep_id=s1_rep, price_list_id=world.price_list)
        ticket = Ticket(account_id=s1_account, opened_by_id=s1_rep, subject="Broken S1")
        session.add_all([visit, order, ticket])
        await session.flush()
        session.add(
            OrderLine(order_id=order.id, product_id=world.products[0], quantity=1, line_no=1)
        )
        return {"visit": visit.id, "order": order.id, "ticket": ticket.id}

    env.foreign = env.db(work)
    return env


# --------------------------------------------------------------------------------------------
# Cases.


@dataclass(frozen=True)
class Case:
    entity: str
    op: str  # "create" | "update"
    role: str
    start: str
    """The state the target (update) or parent (child create) starts in."""
    fields: tuple[tuple[str, Any], ...]
    """(name, symbolic value) in the sync wire's names, in the order they were chosen."""
    changes: tuple[str, ...] = ()
    """What was changed from the valid base: fields, and bundles such as a check-in."""

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.fields)

    @property
    def strict(self) -> bool:
        """One change at most (an out-of-scope caller counts as one): both doors must then
        refuse for the same class of reason. With several, each door may name the first rule
        it checks, and only accepting against refusing is compared."""
        return len(self.changes) + (self.role == "other_rep") <= 1

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.fields)
        return f"{self.entity} {self.op} as {self.role} (start {self.start}): {{{shown}}}"


@dataclass
class Copy:
    """The ids of one copy of a case's state."""

    target: str | None = None  # the record an update changes
    parent: str | None = None  # the parent a child create hangs on (visit, order, ticket)
    line: str | None = None  # an order's first line
    version: int = 1
    product: str | None = None  # the product of the order's first line


T0 = datetime(2024, 6, 3, 8, 0, tzinfo=UTC)
"""When a seeded in-progress visit was checked in."""


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def resolve(value: Any, env: DoorsEnv, copy: Copy, role: str) -> Any:
    """A symbolic value as sent on the wire (inside lists and dicts too)."""
    if isinstance(value, list):
        return [resolve(v, env, copy, role) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, env, copy, role) for k, v in value.items()}
    if not isinstance(value, str) or not value.startswith("@"):
        return value
    if value.startswith("@len:"):
        return "x" * int(value[5:])
    if value.startswith("@mib:"):
        return "n" * (int(value[5:]) << 20)
    world = env.world
    me = env.caller(role).user_id
    table: dict[str, Callable[[], Any]] = {
        "@own_account": lambda: world.accounts["N1"][0],
        "@own_account_2": lambda: world.accounts["N1"][1],
        "@neighbour_account": lambda: world.accounts["N2"][0],
        "@foreign_account": lambda: world.accounts["S1"][0],
        "@missing_id": new_id,
        "@not_uuid": lambda: "not-a-uuid",
        "@nul_id": lambda: new_id()[:-4] + "\x00abc",
        "@long_id": lambda: new_id() + "-0123456789abcdef",  # 53 characters; columns hold 36
        "@me": lambda: me,
        "@rep": lambda: world.user("rep_n1"),
        "@other_rep": lambda: world.user("rep_n2"),
        "@foreign_rep": lambda: world.user("rep_s1"),
        "@manager": lambda: world.user("mgr_north"),
        "@territory": lambda: world.territories["N1"],
        "@neighbour_territory": lambda: world.territories["N2"],
        "@foreign_territory": lambda: world.territories["S1"],
        "@product": lambda: world.products[1],
        "@price_list": lambda: world.price_list,
        "@parent": lambda: copy.parent,
        "@foreign_visit": lambda: env.foreign["visit"],
        "@foreign_order": lambda: env.foreign["order"],
        "@foreign_ticket": lambda: env.foreign["ticket"],
        "@huge": lambda: "n" * HUGE_CHARS,
        "@nul": lambda: "call\x00ahead",
        "@now": lambda: _now().isoformat().replace("+00:00", "Z"),
        "@t0_plus_1h": lambda: (T0 + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "@t0_minus_1h": lambda: (T0 - timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "@year1": lambda: "0001-01-01T00:00:00Z",
        "@year9999": lambda: "9999-12-31T23:59:59Z",
        "@naive": lambda: "2024-06-03T09:30:00",
    }
    try:
        return table[value]()
    except KeyError:
        raise KeyError(f"unknown symbolic value {value}") from None


def resolved(case: Case, env: DoorsEnv, copy: Copy) -> dict[str, Any]:
    return {k: resolve(v, env, copy, case.role) for k, v in case.fields}


# --------------------------------------------------------------------------------------------
# Preparing the state of one copy.


def _visit(account: str, rep: str, start: str) -> Visit:
    visit = Visit(account_id=account, rep_id=rep, planned_for=date(2024, 6, 3), status="planned")
    if start in ("in_progress", "completed"):
        visit.status = start
        visit.check_in_at = T0
        visit.check_in_lat, visit.check_in_lon, visit.check_in_accuracy_m = 53.5511, 9.9937, 10.0
    if start == "completed":
        visit.check_out_at = T0 + timedelta(minutes=40)
        visit.duration_s = 2400
        visit.outcome = "order"
    return visit


def _order(account: str, rep: str, price_list: str, start: str) -> Order:
    order = Order(account_id=account, rep_id=rep, price_list_id=price_list, status=start)
    if start != "draft":
        order.subtotal = order.total = Decimal("19.00")
        order.submitted_at = T0
    return order


def prepare(env: DoorsEnv, case: Case, copies: int = 2) -> list[Copy]:
    """``copies`` identical copies of the state ``case`` acts on, in one transaction."""
    world = env.world
    rep = world.user("rep_n1")
    account = world.accounts["N1"][0]
    entity, op, start = case.entity, case.op, case.start

    async def one(session: AsyncSession) -> Copy:
        copy = Copy()
        target: Any = None
        if entity == "account" and op == "update":
            target = Account(
                name="Twin Customer",
                city="Hamburg",
                lat=53.5511,
                lon=9.9937,
                territory_id=world.territories["N1"],
                owner_id=rep,
                segment="standard",
            )
        elif entity == "contact" and op == "update":
            target = Contact(account_id=account, first_name="Ada", last_name="Twin")
        elif entity == "visit" and op == "update":
            target = _visit(account, rep, start)
        elif entity == "visit_note":
            parent = _visit(account, rep, start)
            session.add(parent)
            await session.flush()
            copy.parent = parent.id
            if op == "update":
                target = VisitNote(visit_id=parent.id, author_id=rep, body="Met the buyer")
        elif entity in ("order", "order_line") and (op == "update" or entity == "order_line"):
            order = _order(account, rep, world.price_list, start)
            session.add(order)
            await session.flush()
            line = OrderLine(
                order_id=order.id,
                product_id=world.products[0],
                line_no=1,
                quantity=2,
                unit_price=Decimal("9.50"),
                line_total=Decimal("19.00"),
            )
            session.add(line)
            await session.flush()
            copy.parent, copy.line, copy.product = order.id, line.id, line.product_id
            copy.target = order.id if entity == "order" else line.id
            copy.version = order.version if entity == "order" else line.version
            return copy
        elif entity in ("contact_consent", "lead_consent"):
            subject: Any
            if entity == "contact_consent":
                subject = Contact(account_id=account, first_name="Ada", last_name="Twin")
            else:
                subject = Lead(
                    company="Twin Lead GmbH",
                    source="field",
                    captured_by_id=rep,
                    assignee_id=rep,
                    region_id=world.regions["NORTH"],
                    status="assigned",
                    assigned_at=T0,
                    assignment_kind="auto",
                )
            session.add(subject)
            await session.flush()
            copy.parent = subject.id
            if op == "update":
                model = ContactConsent if entity == "contact_consent" else LeadConsent
                target = model(
                    purpose="visit_notes",
                    status="given",
                    channel="in_person",
                    recorded_at=T0,
                    recorded_by_id=rep,
                    source="device",
                )
                setattr(target, f"{entity.removesuffix('_consent')}_id", subject.id)
        elif entity == "ticket" and op == "update":
            target = Ticket(account_id=account, opened_by_id=rep, subject="Twin", status=start)
            if start in ("resolved", "closed"):
                target.resolved_at = T0
        elif entity == "ticket_comment":
            parent = Ticket(account_id=account, opened_by_id=rep, subject="Twin", status=start)
            session.add(parent)
            await session.flush()
            copy.parent = parent.id
            if op == "update":
                target = TicketComment(ticket_id=parent.id, author_id=rep, body="Seen it")
        elif entity == "lead" and op == "update":
            target = Lead(
                company="Twin Lead GmbH",
                city="Hamburg",
                source="field",
                captured_by_id=rep,
                assignee_id=rep,
                region_id=world.regions["NORTH"],
                status=start,
                assigned_at=T0,
                assignment_kind="auto",
            )
        elif entity == "opportunity" and op == "update":
            target = Opportunity(
                account_id=account,
                owner_id=rep,
                name="Twin deal",
                stage=start,
                amount=Decimal("1000.00"),
                close_date=date(2024, 9, 30),
            )
            if start.startswith("closed"):
                target.closed_at = T0
        if target is not None:
            session.add(target)
            await session.flush()
            copy.target, copy.version = target.id, target.version
        return copy

    async def work(session: AsyncSession) -> list[Copy]:
        return [await one(session) for _ in range(copies)]

    return env.db(work)


# --------------------------------------------------------------------------------------------
# Verdicts.


@dataclass(frozen=True)
class Verdict:
    door: str
    cls: str
    answer: str
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.cls}: {self.answer}"


def _short(text: Any, limit: int = 160) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "…"


def rest_verdict(method: str, path: str, response: Any) -> Verdict:
    status = response.status_code
    head = f"{method} {path} → {status}"
    if 200 <= status < 300:
        return Verdict("rest", "accepted", head)
    try:
        problem = response.json()
    except ValueError:
        problem = {"detail": response.text}
    detail = problem.get("detail", "") if isinstance(problem, dict) else str(problem)
    fld = problem.get("field") if isinstance(problem, dict) else None
    answer = f"{head} field={fld}: {_short(detail)}"
    if status >= 500:
        return Verdict("rest", "server_error", answer, fld)
    if status in (403, 404):
        return Verdict("rest", "scope", answer, fld)
    if status == 409:
        return Verdict("rest", "transition", answer, fld)
    if status in (400, 422) and "unknown field" in str(detail):
        return Verdict("rest", "inexpressible", answer, fld)
    if status in (400, 413, 422):
        return Verdict("rest", "validation", answer, fld)
    return Verdict("rest", f"http_{status}", answer, fld)


_SYNC_CLASSES = {
    "validation": "validation",
    "out_of_scope": "scope",
    "read_only": "scope",
    "server_owned_field": "scope",
    "unknown_record": "scope",
    "unknown_entity": "validation",
    "illegal_transition": "transition",
    "deleted": "scope",  # REST answers a deleted record 404, like one never seen
}


def sync_verdict(response: Any) -> tuple[Verdict, list[Any]]:
    status = response.status_code
    if status != 200:
        try:
            problem = response.json()
            detail, fld = problem.get("detail", ""), problem.get("field")
        except ValueError:
            detail, fld = response.text, None
        answer = f"push → HTTP {status} field={fld}: {_short(detail)}"
        if status >= 500:
            return Verdict("sync", "server_error", answer, fld), []
        if status in (400, 413, 422):
            return Verdict("sync", "validation", answer, fld), []
        return Verdict("sync", f"http_{status}", answer, fld), []
    try:
        decoded = codec.decode_push_response(response.content, response.headers["content-type"])
    except Exception as exc:
        return Verdict("sync", "server_error", f"unreadable push answer: {exc}"), []
    results = list(decoded.results)
    culprit = next(
        (r for r in results if isinstance(r, Rejected) and r.reason != "transaction_failed"),
        None,
    )
    if culprit is None and any(isinstance(r, Rejected) for r in results):
        culprit = next(r for r in results if isinstance(r, Rejected))
    if culprit is not None:
        answer = (
            f"rejected {culprit.reason} ({culprit.entity}) field={culprit.field}: "
            f"{_short(culprit.detail)}"
        )
        return (
            Verdict(
                "sync", _SYNC_CLASSES.get(culprit.reason, culprit.reason), answer, culprit.field
            ),
            results,
        )
    kinds = sorted({type(r).__name__.lower() for r in results})
    return Verdict("sync", "accepted", "/".join(kinds)), results


def agree(
    rest: Verdict, sync: Verdict, *, kept_inexpressible: bool = False, strict: bool = True
) -> bool:
    if "server_error" in (rest.cls, sync.cls):
        return False
    if rest.cls == "inexpressible":
        return sync.cls != "accepted" or not kept_inexpressible
    if not strict and "accepted" not in (rest.cls, sync.cls):
        return True
    return rest.cls == sync.cls


# --------------------------------------------------------------------------------------------
# The two doors for each entity.


def _seg(value: Any) -> str:
    return urllib.parse.quote(str(value), safe="")


REST_UNKNOWN: dict[tuple[str, str], frozenset[str]] = {
    # Fields the sync wire has and the REST body does not: REST refuses them as unknown; sync may
    # refuse them, or accept the write while keeping its own value (author_id, computed fields).
    ("visit", "create"): frozenset({"verified", "distance_m", "check_out_at", "duration_s"}),
    ("visit", "update"): frozenset({"rep_id", "account_id", "verified", "distance_m"}),
    ("visit_note", "create"): frozenset({"author_id"}),
    ("order", "create"): frozenset({"total", "submitted_at", "erp_ref"}),
    ("order", "update"): frozenset({"rep_id", "account_id", "total", "erp_ref"}),
    ("ticket", "create"): frozenset({"opened_by_id", "status", "resolved_at"}),
    ("ticket", "update"): frozenset({"opened_by_id", "account_id"}),
    ("ticket_comment", "create"): frozenset({"author_id"}),
    ("contact_consent", "create"): frozenset({"recorded_by_id"}),
    ("lead_consent", "create"): frozenset({"recorded_by_id"}),
    ("lead", "create"): frozenset({"captured_by_id", "assignee_id", "status", "source"}),
    ("opportunity", "update"): frozenset({"account_id"}),
}


@dataclass
class RestCall:
    method: str
    path: str
    body: Any
    as_role: str


@dataclass
class NoRestDoor:
    """REST has no door for this write; the docs promise ``expected``."""

    reason: str
    expected: Verdict


def rest_call(case: Case, env: DoorsEnv, copy: Copy) -> RestCall | NoRestDoor:
    values = resolved(case, env, copy)
    e, op, role = case.entity, case.op, case.role
    if e == "account":
        return RestCall(
            "POST" if op == "create" else "PATCH",
            "/accounts" if op == "create" else f"/accounts/{copy.target}",
            values,
            role,
        )
    if e == "contact":
        return RestCall(
            "POST" if op == "create" else "PATCH",
            "/contacts" if op == "create" else f"/contacts/{copy.target}",
            values,
            role,
        )
    if e == "visit":
        return RestCall(
            "POST" if op == "create" else "PATCH",
            "/visits" if op == "create" else f"/visits/{copy.target}",
            values,
            role,
        )
    if e == "opportunity":
        return RestCall(
            "POST" if op == "create" else "PATCH",
            "/opportunities" if op == "create" else f"/opportunities/{copy.target}",
            values,
            role,
        )
    if e == "ticket":
        return RestCall(
            "POST" if op == "create" else "PATCH",
            "/tickets" if op == "create" else f"/tickets/{copy.target}",
            values,
            role,
        )
    if e in ("visit_note", "ticket_comment"):
        parent_field = "visit_id" if e == "visit_note" else "ticket_id"
        plural = "visits" if e == "visit_note" else "tickets"
        child = "notes" if e == "visit_note" else "comments"
        if op == "update":
            return NoRestDoor(
                f"REST has no way to change a {e} (docs/api.md: append-only)",
                Verdict("rest", "inexpressible", f"no REST door: {e} is append-only"),
            )
        parent = values.pop(parent_field)
        return RestCall("POST", f"/{plural}/{_seg(parent)}/{child}", values, role)
    if e in ("contact_consent", "lead_consent"):
        kind = e.removesuffix("_consent")
        if op == "update":
            return NoRestDoor(
                f"REST has no way to change a {e} (docs/privacy.md: append-only)",
                Verdict("rest", "inexpressible", f"no REST door: {e} is append-only"),
            )
        parent = values.pop(f"{kind}_id")
        return RestCall("POST", f"/{kind}s/{_seg(parent)}/consents", values, role)
    if e == "order":
        if op == "create":
            body = dict(values)
            return RestCall("POST", "/orders", body, role)
        return RestCall("PATCH", f"/orders/{copy.target}", values, role)
    if e == "order_line":
        if op == "create":
            order = values.pop("order_id", copy.parent)
            return RestCall("PATCH", f"/orders/{_seg(order)}", {"lines": [values]}, role)
        # An existing line is replaced by sending its line_no; a line's order is the URL's, so
        # an order_id in the line is a field REST does not have.
        line = {"line_no": 1, "product_id": copy.product, "quantity": 2, "discount_pct": "0"}
        line.update(values)
        return RestCall("PATCH", f"/orders/{copy.parent}", {"lines": [line]}, role)
    if e == "lead":
        # REST takes leads from managers, admins and API keys (POST /leads); reps capture them
        # in the field through sync only (docs/leads.md), and no REST call changes a lead's
        # fields. Where REST has no door, the admin's POST /leads judges the same values: it is
        # REST's statement of what a lead may hold.
        body = dict(values)
        if op == "update":
            body.setdefault("company", "Twin Lead GmbH")
        as_role = role if (op == "create" and role in ("manager", "admin")) else "admin"
        return RestCall("POST", "/leads", body, as_role)
    raise AssertionError(f"no REST mapping for {e}")


def send_rest(env: DoorsEnv, call: RestCall) -> Verdict:
    path = "/api/v1" + call.path
    response = env.client.request(
        call.method,
        path,
        headers={**env.caller(call.as_role).headers, "content-type": "application/json"},
        content=json.dumps(call.body),
    )
    return rest_verdict(call.method, call.path, response)


def sync_mutations(case: Case, env: DoorsEnv, copy: Copy) -> list[Upsert]:
    device = env.caller(case.role).device
    values = resolved(case, env, copy)
    e, op = case.entity, case.op
    if op == "update":
        return [device.upsert(e, copy.target or "", values, base_version=copy.version)]
    record_id = values.pop("id", None) or new_id()
    if e == "order":
        lines = values.pop("lines", [])
        tx = new_id()
        out = [device.upsert("order", record_id, values, tx=tx)]
        for i, line in enumerate(lines, start=1):
            fields = {"order_id": record_id, "line_no": i, **line}
            out.append(device.upsert("order_line", new_id(), fields, tx=tx))
        return out
    if e in ("visit_note", "ticket_comment", "order_line", "contact_consent", "lead_consent"):
        parent_field = {
            "visit_note": "visit_id",
            "ticket_comment": "ticket_id",
            "contact_consent": "contact_id",
            "lead_consent": "lead_id",
        }.get(e, "order_id")
        values.setdefault(parent_field, copy.parent)
    return [device.upsert(e, record_id, values)]


def send_sync(env: DoorsEnv, role: str, mutations: list[Upsert]) -> tuple[Verdict, list[Any]]:
    device = env.caller(role).device
    response = device.push_raw(list(mutations))
    return sync_verdict(response)


def stored_value(env: DoorsEnv, entity: str, record_id: str, name: str) -> Any:
    model = model_for(entity)
    assert model is not None

    async def work(session: AsyncSession) -> Any:
        obj = await session.get(model, record_id)
        return None if obj is None else getattr(obj, name)

    return env.db(work)


@dataclass
class Outcome:
    case: Case
    rest: Verdict
    sync: Verdict
    agree: bool
    note: str = ""

    def line(self) -> str:
        return f"{self.case.describe()}\n    REST: {self.rest}\n    sync: {self.sync}" + (
            f"\n    note: {self.note}" if self.note else ""
        )


def lead_update_oracle(env: DoorsEnv, case: Case, copy: Copy) -> tuple[Verdict, str]:
    """No REST call changes a lead's fields or status (docs/leads.md: leads arrive through
    POST /leads, are assigned by hand through POST /leads/{id}/assign, and reps work them in
    the field). What REST does promise, asked in turn: whether the caller may see the lead
    (GET /leads/{id}), who may assign it (the assign call), the lead state machine (the table
    REST's own status checks use) and the values a lead may hold (an admin's POST /leads)."""
    values = resolved(case, env, copy)
    headers = env.caller(case.role).headers
    got = env.client.get(f"/api/v1/leads/{copy.target}", headers=headers)
    if got.status_code != 200:
        return rest_verdict("GET", f"/leads/{copy.target}", got), "REST: the lead is not visible"
    if "assignee_id" in values:
        path = f"/leads/{copy.target}/assign"
        body = {"rep_id": values.pop("assignee_id"), "reason": "doors agree"}
        answer = env.client.post(f"/api/v1{path}", headers=headers, json=body)
        verdict = rest_verdict("POST", path, answer)
        if verdict.cls != "accepted":
            return verdict, "REST: assignment is POST /leads/{id}/assign"
    if "status" in values:
        from sync.errors import IllegalTransition
        from sync.machines import check_transition

        actor = "admin" if case.role == "admin" else "device"
        try:
            check_transition("lead", case.start, values.pop("status"), actor)  # type: ignore[arg-type]
        except IllegalTransition as exc:
            return (
                Verdict("rest", "transition", f"lead machine: {_short(exc)}", "status"),
                "REST has no lead status door; judged by the lead state machine",
            )
    if not values:
        return Verdict("rest", "accepted", "no value left to judge"), ""
    body = {"company": "Twin Lead GmbH", **values}
    call = RestCall("POST", "/leads", body, "admin")
    return send_rest(
        env, call
    ), "REST has no lead edit door; values judged by an admin's POST /leads"


def run_case(env: DoorsEnv, case: Case) -> Outcome:
    """Carry ``case`` out through both doors, each on its own copy of the state."""
    rest_copy, sync_copy = prepare(env, case)
    call = rest_call(case, env, rest_copy)
    if case.entity == "lead" and case.op == "update":
        rest, note = lead_update_oracle(env, case, rest_copy)
    elif isinstance(call, NoRestDoor):
        rest = call.expected
        note = call.reason
    else:
        rest = send_rest(env, call)
        note = ""
        if call.as_role != case.role:
            note = f"REST judged as {call.as_role}: {case.role} has no REST door for this write"
    mutations = sync_mutations(case, env, sync_copy)
    sync, _ = send_sync(env, case.role, mutations)
    kept = False
    if rest.cls == "inexpressible" and sync.cls == "accepted":
        kept, what = _kept_inexpressible(env, case, rest, mutations[0])
        if kept:
            note = (note + "; " if note else "") + what
    if case.role == "manager":
        # docs/sync.md: "manager: everything in their region, read-only (pushes from a
        # manager's device are refused out_of_scope)"; REST lets managers edit what they see.
        # The doors differ here by design: sync must refuse (out_of_scope, or the whole push
        # as malformed), and neither door may fail.
        ok = sync.cls not in ("accepted", "server_error") and rest.cls != "server_error"
        note = (note + "; " if note else "") + "manager: sync is read-only by design"
        return Outcome(case, rest, sync, ok, note)
    device_rule = sync.answer.startswith(
        ("rejected server_owned_field", "rejected illegal_transition")
    )
    if case.role == "admin" and device_rule and rest.cls != "server_error":
        # docs/sync.md: an admin's device is held to the device rules (sync/merge.py,
        # _DEVICE_SIDE): it never sets a server-owned field and edits an order only while it is
        # a draft; the admin makes those changes through REST, which may accept them (or refuse
        # the case for another of its faults).
        note = (note + "; " if note else "") + "admin: the device door keeps the device rules"
        return Outcome(case, rest, sync, True, note)
    verdict = agree(rest, sync, kept_inexpressible=kept, strict=case.strict)
    return Outcome(case, rest, sync, verdict, note)


def _kept_inexpressible(env: DoorsEnv, case: Case, rest: Verdict, head: Upsert) -> tuple[bool, str]:
    """REST refused a field it does not have; sync accepted the write. Did sync keep the pushed
    value, or put the server's own there? The same push without the field, on a third copy,
    says what the server's own value is: kept means stored as pushed, and not what the server
    would have put there anyway (a ticket opened in the caller's own name, a visit the server
    verified itself)."""
    unknown = set(REST_UNKNOWN.get((case.entity, case.op), frozenset()))
    if rest.field:
        unknown.add(rest.field)
    unknown &= set(head.fields)
    if not unknown:
        return False, ""
    without = Case(
        case.entity,
        case.op,
        case.role,
        case.start,
        tuple((k, v) for k, v in case.fields if k not in unknown),
        case.changes,
    )
    [copy] = prepare(env, without, copies=1)
    plain = sync_mutations(without, env, copy)
    send_sync(env, case.role, plain)
    for name in sorted(unknown):
        pushed = head.fields[name]
        if _same(stored_value(env, case.entity, head.id, name), pushed) and not _same(
            stored_value(env, case.entity, plain[0].id, name), pushed
        ):
            return True, f"sync stored the pushed {name} (without it the server stores another)"
    return False, ""


def _same(stored: Any, pushed: Any) -> bool:
    """Whether the stored column value is the pushed wire value."""
    if stored is None or pushed is None:
        return stored is pushed
    if isinstance(stored, Decimal):
        try:
            return stored == Decimal(str(pushed))
        except ArithmeticError:
            return False
    if isinstance(stored, datetime | date):
        return stored.isoformat() == str(pushed).replace("Z", "+00:00") or str(stored) == str(
            pushed
        )
    return bool(stored == pushed)
