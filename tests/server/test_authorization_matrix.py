"""Every resource endpoint × every kind of caller × a record inside / outside the caller's scope
→ the status the table says. Then: no list ever leaks a record from across the scope line.

Callers: ``rep`` (rep_n1), ``manager`` (mgr_north), ``admin``, ``key+`` (an API key holding the
scope the endpoint wants, or every scope where the endpoint wants none), ``key-`` (an API key
without it), ``anonymous``. Targets: ``in`` (rep_n1's records, territory N1) and ``out``
(rep_s1's, territory S1, region SOUTH).

The rule each row follows unless it says otherwise: anonymous → 401; a caller the endpoint does
not admit → 403; an admitted caller → the success status for a record in scope and 404 for one
outside it (never 403, which would confirm the record exists); admins and admitted API keys see
both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from server.app import create_app
from sync.ids import new_id
from tests.conftest import make_settings as settings_for
from tests.seed import auth_headers, token_for
from tests.server.resources.world import Callers, Records, Side, build
from tests.stores import PG_ENV, Store, StoreFactory

CALLERS = ("rep", "manager", "admin", "key+", "key-", "anonymous")
TARGETS = ("in", "out")

Body = Callable[[Records, Side], Any]


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    """With ``{field}`` placeholders filled from the target side (e.g. ``{account}``)."""
    ok: int
    admits: frozenset[str]
    """Callers let in by the endpoint's guard (admin always is)."""
    scope: str | None = None
    """The API-key scope the endpoint wants (``key+`` holds it, ``key-`` does not)."""
    scoped: bool = True
    """False for the catalogue and admin-only resources: no record is out of anyone's scope."""
    body: Body | None = None
    fresh_token: bool = False
    """The request ends the caller's session (logout): use a token of its own."""
    overrides: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def _admits(*names: str) -> frozenset[str]:
    return frozenset(names) | {"admin"}


REP_MGR = _admits("rep", "manager")
REP = _admits("rep")
ADMIN = _admits()
ORDERS_READ = _admits("rep", "manager", "key+")


def _unique(prefix: str) -> str:
    return f"{prefix}{new_id()[-8:].upper()}"


ROWS: list[Row] = [
    # auth ---------------------------------------------------------------------------------
    Row("POST", "/auth/logout", 204, _admits("rep", "manager"), scoped=False, fresh_token=True),
    Row(
        "POST",
        "/auth/password",
        400,  # a wrong current password: authorised, refused, nothing changed
        _admits("rep", "manager"),
        scoped=False,
        body=lambda r, s: {"current_password": "not it", "new_password": "long enough pw"},
    ),
    # devices ------------------------------------------------------------------------------
    Row("GET", "/devices", 200, REP_MGR, scoped=False),
    Row("GET", "/devices/{spare_device}", 200, REP_MGR),
    Row("POST", "/devices/{spare_device}/revoke", 200, REP_MGR),
    # API keys -----------------------------------------------------------------------------
    Row("GET", "/api-keys", 200, ADMIN, scoped=False),
    Row("GET", "/api-keys/{spare_key}", 200, ADMIN, scoped=False),
    Row(
        "POST",
        "/api-keys",
        201,
        ADMIN,
        scoped=False,
        body=lambda r, s: {"name": "ERP", "scopes": ["orders:read"]},
    ),
    Row("POST", "/api-keys/{spare_key}/revoke", 200, ADMIN, scoped=False),
    # users --------------------------------------------------------------------------------
    Row("GET", "/users", 200, REP_MGR, scoped=False),
    Row("GET", "/users/{rep}", 200, REP_MGR),
    Row(
        "POST",
        "/users",
        201,
        ADMIN,
        scoped=False,
        body=lambda r, s: {
            "username": _unique("u"),
            "password": "a long password",
            "full_name": "New Rep",
            "role": "rep",
            "territory_id": s.territory,
        },
    ),
    Row("PATCH", "/users/{rep}", 200, ADMIN, scoped=False, body=lambda r, s: {"capacity": 30}),
    # regions and territories --------------------------------------------------------------
    Row("GET", "/regions", 200, REP_MGR, scoped=False),
    Row("GET", "/regions/{region}", 200, REP_MGR),
    Row(
        "POST",
        "/regions",
        201,
        ADMIN,
        scoped=False,
        body=lambda r, s: {"code": _unique("R"), "name": "West"},
    ),
    Row(
        "PATCH",
        "/regions/{region}",
        200,
        ADMIN,
        scoped=False,
        body=lambda r, s: {"currency": "EUR"},
    ),
    Row("GET", "/territories", 200, REP_MGR, scoped=False),
    Row("GET", "/territories/{territory}", 200, REP_MGR),
    Row(
        "POST",
        "/territories",
        201,
        ADMIN,
        scoped=False,
        body=lambda r, s: {"region_id": s.region, "code": _unique("T"), "name": "Kiel"},
    ),
    Row(
        "PATCH",
        "/territories/{territory}",
        200,
        ADMIN,
        scoped=False,
        body=lambda r, s: {"center_lat": 50.0},
    ),
    # accounts and contacts ----------------------------------------------------------------
    Row("GET", "/accounts", 200, REP_MGR, scoped=False),
    Row("GET", "/accounts/{account}", 200, REP_MGR),
    Row(
        "POST",
        "/accounts",
        201,
        REP,
        body=lambda r, s: {"name": "Fresh Customer", "territory_id": s.territory},
    ),
    Row("PATCH", "/accounts/{account}", 200, REP_MGR, body=lambda r, s: {"notes": "call ahead"}),
    Row("GET", "/contacts", 200, REP_MGR, scoped=False),
    Row("GET", "/contacts/{contact}", 200, REP_MGR),
    Row(
        "POST",
        "/contacts",
        201,
        REP,
        body=lambda r, s: {"account_id": s.account, "first_name": "Grace", "last_name": "H"},
    ),
    Row("PATCH", "/contacts/{contact}", 200, REP_MGR, body=lambda r, s: {"title": "Buyer"}),
    # catalogue ----------------------------------------------------------------------------
    Row("GET", "/products", 200, REP_MGR, scoped=False),
    Row("GET", "/products/{product}", 200, REP_MGR, scoped=False),
    Row(
        "POST",
        "/products",
        201,
        ADMIN,
        scoped=False,
        body=lambda r, s: {
            "sku": _unique("SKU-"),
            "name": "Drill",
            "category": "tools",
            "product_line": "industrial",
            "list_price": "99.00",
        },
    ),
    Row(
        "PATCH", "/products/{product}", 200, ADMIN, scoped=False, body=lambda r, s: {"unit": "box"}
    ),
    Row("GET", "/price-lists", 200, REP_MGR, scoped=False),
    Row("GET", "/price-lists/{price_list}", 200, REP_MGR, scoped=False),
    Row("GET", "/price-lists/{price_list}/prices", 200, REP_MGR, scoped=False),
    Row(
        "POST",
        "/price-lists",
        201,
        ADMIN,
        scoped=False,
        body=lambda r, s: {"name": _unique("List "), "currency": "EUR"},
    ),
    Row(
        "PATCH",
        "/price-lists/{price_list}",
        200,
        ADMIN,
        scoped=False,
        body=lambda r, s: {"currency": "EUR"},
    ),
    Row(
        "PUT",
        "/price-lists/{price_list}/prices/{product}",
        200,
        ADMIN,
        scoped=False,
        body=lambda r, s: {"unit_price": "8.75"},
    ),
    # visits -------------------------------------------------------------------------------
    Row("GET", "/visits", 200, REP_MGR, scoped=False),
    Row("GET", "/visits/{visit}", 200, REP_MGR),
    Row(
        "POST",
        "/visits",
        201,
        REP_MGR,
        body=lambda r, s: {"account_id": s.account, "rep_id": s.rep, "planned_for": "2024-06-03"},
    ),
    Row("PATCH", "/visits/{visit}", 200, REP_MGR, body=lambda r, s: {"purpose": "restock"}),
    Row("GET", "/visits/{visit}/notes", 200, REP_MGR),
    Row("POST", "/visits/{visit}/notes", 201, REP_MGR, body=lambda r, s: {"body": "Buyer away"}),
    # orders -------------------------------------------------------------------------------
    Row("GET", "/orders", 200, ORDERS_READ, scope="orders:read", scoped=False),
    Row("GET", "/orders/{order}", 200, ORDERS_READ, scope="orders:read"),
    Row(
        "POST",
        "/orders",
        201,
        REP,
        scope="orders:write",
        body=lambda r, s: {
            "account_id": s.account,
            "rep_id": s.rep,
            "lines": [{"product_id": r.world.products[1], "quantity": 3}],
        },
    ),
    Row(
        "PATCH",
        "/orders/{order}",
        200,
        REP_MGR,
        scope="orders:write",
        body=lambda r, s: {"notes": "deliver before noon"},
    ),
    # tickets ------------------------------------------------------------------------------
    Row(
        "GET",
        "/tickets",
        200,
        _admits("rep", "manager", "key+"),
        scope="tickets:read",
        scoped=False,
    ),
    Row("GET", "/tickets/{ticket}", 200, _admits("rep", "manager", "key+"), scope="tickets:read"),
    Row(
        "POST",
        "/tickets",
        201,
        REP,
        scope="tickets:write",
        body=lambda r, s: {"account_id": s.account, "subject": "Leaking valve"},
    ),
    Row(
        "PATCH",
        "/tickets/{ticket}",
        200,
        _admits("rep", "manager", "key+"),
        scope="tickets:write",
        body=lambda r, s: {"priority": "high"},
    ),
    Row(
        "GET",
        "/tickets/{ticket}/comments",
        200,
        _admits("rep", "manager", "key+"),
        scope="tickets:read",
    ),
    Row(
        "POST",
        "/tickets/{ticket}/comments",
        201,
        REP_MGR,
        scope="tickets:write",
        body=lambda r, s: {"body": "Technician booked"},
    ),
    # opportunities ------------------------------------------------------------------------
    Row("GET", "/opportunities", 200, REP_MGR, scoped=False),
    Row("GET", "/opportunities/{opportunity}", 200, REP_MGR),
    Row(
        "POST",
        "/opportunities",
        201,
        REP_MGR,
        body=lambda r, s: {
            "account_id": s.account,
            "owner_id": s.rep,
            "name": "Spring refit",
            "amount": "2500.00",
            "close_date": "2024-10-31",
        },
    ),
    Row("PATCH", "/opportunities/{opportunity}", 200, REP_MGR, body=lambda r, s: {"name": "Refit"}),
]


def expected(row: Row, caller: str, target: str) -> int:
    if (caller, target) in row.overrides:
        return row.overrides[(caller, target)]
    if caller == "anonymous":
        return 401
    if caller not in row.admits:
        return 403
    if caller in ("admin", "key+") or not row.scoped:
        return row.ok
    return row.ok if target == "in" else 404


@dataclass
class Env:
    client: TestClient[Litestar]
    records: Records
    callers: Callers
    settings: Any


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ],
)
def env(request: pytest.FixtureRequest, store_factory: StoreFactory) -> Iterator[Env]:
    # One seeded world per store for the whole table: every case only reads, or writes
    # something the other cases do not depend on.
    if request.param == "postgres":
        if store_factory.pg_url is None:
            pytest.skip(f"PostgreSQL run skipped: set {PG_ENV}=postgresql+asyncpg://… to run it")
        store: Store = store_factory.postgres()
    else:
        store = store_factory.sqlite()
    settings = settings_for(store)
    records, callers = build(settings)
    with TestClient(create_app(settings)) as client:
        yield Env(client, records, callers, settings)
    store_factory.drop(store)


def _fill(path: str, records: Records, side: Side) -> str:
    values = {
        **vars(side),
        "spare_key": records.spare_key,
        "product": records.world.products[0],
        "price_list": records.world.price_list,
    }
    return "/api/v1" + path.format(**values)


def _headers(env: Env, row: Row, caller: str) -> dict[str, str]:
    if caller == "key+":
        return env.callers[f"key:{row.scope}" if row.scope else "key:all"]
    if caller == "key-":
        return env.callers["key:none"]
    if row.fresh_token and caller in ("rep", "manager", "admin"):
        username = {"rep": "rep_n1", "manager": "mgr_north", "admin": "admin"}[caller]
        token, _ = token_for(env.settings, env.records.world.user(username))
        return auth_headers(token)
    return env.callers[caller]


CASES = [
    pytest.param(row, caller, target, id=f"{row.name}-{caller}-{target}")
    for row in ROWS
    for caller in CALLERS
    for target in (TARGETS if row.scoped else ("in",))
]


@pytest.mark.parametrize(("row", "caller", "target"), CASES)
def test_endpoint_answers_each_caller_as_the_table_says(
    env: Env, row: Row, caller: str, target: str
) -> None:
    side = env.records.sides[target]
    response = env.client.request(
        row.method,
        _fill(row.path, env.records, side),
        headers=_headers(env, row, caller),
        json=row.body(env.records, side) if row.body else None,
    )
    want = expected(row, caller, target)
    assert response.status_code == want, response.text
    if want >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")


LISTS = [
    ("/accounts", "account"),
    ("/contacts", "contact"),
    ("/visits", "visit"),
    ("/orders", "order"),
    ("/orders", "submitted_order"),
    ("/tickets", "ticket"),
    ("/opportunities", "opportunity"),
    ("/users", "rep"),
    ("/territories", "territory"),
    ("/regions", "region"),
    ("/devices", "spare_device"),
]


def _all_ids(client: TestClient[Litestar], path: str, headers: dict[str, str]) -> set[str]:
    ids: set[str] = set()
    cursor: str | None = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        response = client.get(f"/api/v1{path}", headers=headers, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        ids.update(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


@pytest.mark.parametrize(("path", "attr"), LISTS, ids=[f"{p}-{a}" for p, a in LISTS])
@pytest.mark.parametrize("caller", ["rep", "manager"])
def test_no_list_leaks_a_record_across_the_scope_line(
    env: Env, path: str, attr: str, caller: str
) -> None:
    seen = _all_ids(env.client, path, env.callers[caller])
    assert getattr(env.records.inside, attr) in seen
    assert getattr(env.records.outside, attr) not in seen


def test_no_rep_list_shows_another_territorys_accounts(env: Env) -> None:
    n1 = set(env.records.world.accounts["N1"])
    others = {a for t, ids in env.records.world.accounts.items() if t != "N1" for a in ids}
    seen = _all_ids(env.client, "/accounts", env.callers["rep"])
    assert n1 <= seen
    assert not seen & others


def test_a_managers_lists_stop_at_their_region(env: Env) -> None:
    north = {a for t in ("N1", "N2") for a in env.records.world.accounts[t]}
    south = {a for t in ("S1", "S2") for a in env.records.world.accounts[t]}
    seen = _all_ids(env.client, "/accounts", env.callers["manager"])
    assert north <= seen
    assert not seen & south


def test_admins_see_both_sides(env: Env) -> None:
    seen = _all_ids(env.client, "/orders", env.callers["admin"])
    assert {env.records.inside.order, env.records.outside.order} <= seen
