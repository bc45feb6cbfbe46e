"""The doors agree: a write through REST and the same write pushed by a device of the same user
reach the same verdict, and a user's REST lists hold exactly what a fresh sync bootstrap sends.

1. ``test_both_doors_reach_the_same_verdict``: a Hypothesis property over every writable synced
   entity × role (the territory's rep, a rep of another territory, the region's manager, an
   admin) × operation (create, update) × generated values (valid, boundary and hostile ones).
   Each case runs through both doors on twin copies of its state; tests/server/doors.py maps
   the answers to verdict classes and says when they agree. Where REST has no door for a write
   (append-only records, leads) the case is judged against what the docs promise.
   ``test_a_managers_device_is_refused_what_rest_lets_the_manager_do`` holds the manager's
   cells: docs/sync.md makes a manager's device read-only, so there sync must refuse while
   REST may accept.
2. ``test_rest_lists_equal_a_fresh_bootstrap``: for every seeded user and every synced entity,
   the ids REST lists (every page) are the ids a fresh device's bootstrap receives.
3. Regression tests, one per defect, named for the behaviour.

The stores are the two the ``store`` fixture gives (SQLite, and PostgreSQL when
FIELDLINE_TEST_DATABASE_URL is set), each seeded once for the module: a fresh database per test
costs more on PostgreSQL than the whole property, and no case changes what another reads.
Hypothesis runs derandomized (the same examples on every run of the same code) and bounded
(about 45 s on SQLite, 85 s on PostgreSQL for the whole file). Every divergence met while the
property runs, shrinking included, is also written to test-artifacts/doors_divergences-<store>.txt,
so one run lists them all, not only the one Hypothesis reports per cell.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account, Contact
from server.app import create_app
from server.catalog.models import Product
from server.leads.models import Lead
from server.opportunities.models import Opportunity
from server.orders.models import Order
from server.settings import Settings
from server.suggestions.models import Suggestion
from server.sync.entities import model_for
from server.tickets.models import Ticket
from server.visits.models import Visit
from sync.ids import new_id
from sync.rules import RULES
from tests.conftest import make_settings
from tests.seed import World, auth_headers, run_db, seed_world, token_for
from tests.server.doors import (
    ENTITIES,
    Case,
    DoorsEnv,
    Outcome,
    Verdict,
    build_env,
    rest_verdict,
    run_case,
    sync_verdict,
)
from tests.server.resources.world import seed_records
from tests.server.sync.device import Device
from tests.stores import PG_ENV, Store, StoreFactory

STORES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def _make_store(kind: str, factory: StoreFactory) -> Store:
    if kind == "postgres":
        if factory.pg_url is None:
            pytest.skip(f"PostgreSQL run skipped: set {PG_ENV}=postgresql+asyncpg://… to run it")
        return factory.postgres()
    return factory.sqlite()


# ============================================================================================
# 1. The property.
#
# Each entity: the fields of a valid create (by role: a manager or an admin names whose record
# it is, as REST asks them to), the states an update's target (or a child's parent) starts in,
# and the options: field → the values to try in place of the valid one. Keys starting with "+"
# are bundles of fields (a check-in, a status move) merged in before the single fields.

_ID_HOSTILE = ["@nul_id", "@long_id", "@not_uuid"]
_ACCOUNT_REFS = [
    "@own_account_2",
    "@neighbour_account",
    "@foreign_account",
    "@missing_id",
    "@not_uuid",
    "@nul_id",
]
_DATES = ["2024-06-04", "0001-01-01", "9999-12-31", "2024-02-30"]
_PEOPLE = ["@other_rep", "@foreign_rep"]

_ACCOUNT_VALUES: dict[str, list[Any]] = {
    "name": ["Hafen Bakery", "", "@len:201", "@nul"],
    "segment": ["key", "", "@len:41"],
    "country": ["DE", "de", "DEU"],
    "email": ["ines@example.de", "not-an-email"],
    "phone": ["+49 40 555", "@len:41"],
    "lat": [53.545, 90.0, -90.0, 200.0, -500.0, "north-ish"],
    "lon": [9.966, 180.0, -180.0, 181.0, -500.0],
    "notes": ["call ahead", "@huge", "@nul"],
    "visit_radius_m": [350.0, -1.0],
    "owner_id": ["@me", *_PEOPLE],
}

CREATE: dict[str, dict[str, Any]] = {
    "account": {
        "base": {"name": "Doors Customer", "city": "Hamburg", "lat": 53.55, "lon": 9.99},
        "starts": ["-"],
        "options": {
            **_ACCOUNT_VALUES,
            "territory_id": ["@territory", "@neighbour_territory", "@foreign_territory"],
            "id": _ID_HOSTILE,
        },
    },
    "contact": {
        "base": {"account_id": "@own_account", "first_name": "Ines", "last_name": "Berg"},
        "starts": ["-"],
        "options": {
            "account_id": _ACCOUNT_REFS,
            "first_name": ["", "@len:101", "@nul"],
            "last_name": ["", "@len:101"],
            "title": ["Buyer", "@len:101"],
            "email": ["not-an-email"],
            "phone": ["@len:41"],
            "notes": ["@huge", "@nul"],
            "id": _ID_HOSTILE,
        },
    },
    "contact_consent": {
        "base": {
            "contact_id": "@parent",
            "purpose": "email_marketing",
            "status": "given",
            "channel": "in_person",
            "recorded_at": "@t0_plus_1h",
        },
        "starts": ["-"],
        "options": {
            "purpose": ["newsletter", "@nul", ""],
            "status": ["maybe"],
            "channel": ["pigeon"],
            "recorded_at": ["@year1", "@year9999", "@naive", "yesterday"],
            "contact_id": ["@missing_id", "@nul_id"],
            "recorded_by_id": ["@other_rep"],
            "id": _ID_HOSTILE,
        },
    },
    "lead_consent": {
        "base": {
            "lead_id": "@parent",
            "purpose": "phone_calls",
            "status": "withdrawn",
            "channel": "phone",
            "recorded_at": "@t0_plus_1h",
        },
        "starts": ["-"],
        "options": {
            "purpose": ["spam"],
            "status": ["", "@len:21"],
            "recorded_at": ["@year1"],
            "lead_id": ["@missing_id"],
            "recorded_by_id": ["@other_rep"],
        },
    },
    "visit": {
        "base": {"account_id": "@own_account", "status": "planned", "planned_for": "2024-06-03"},
        "person": "rep_id",
        "starts": ["-"],
        "options": {
            "+checkin": {
                "status": "in_progress",
                "check_in_at": "@now",
                "check_in_lat": 53.5511,
                "check_in_lon": 9.9937,
                "check_in_accuracy_m": 12.0,
            },
            "account_id": _ACCOUNT_REFS,
            "rep_id": ["@me", *_PEOPLE],
            "status": ["completed", "cancelled"],
            "planned_for": _DATES,
            "route_position": [0, 1000, -1, 1001, 2**31],
            "purpose": ["restock", "", "@len:201", "@nul"],
            "notes": ["@huge", "@nul"],
            "check_in_at": ["@year1", "@year9999", "@naive"],
            "check_in_lat": [90.0, 200.0, -500.0],
            "check_in_lon": [-180.0, 181.0],
            "check_in_accuracy_m": [0.0, -1.0, 1e9],
            "verified": [True],
            "id": _ID_HOSTILE,
        },
    },
    "visit_note": {
        "base": {"visit_id": "@parent", "body": "Met the buyer"},
        "starts": ["planned", "completed"],
        "options": {
            "body": ["", "@huge", "@nul", "@len:10001"],
            "visit_id": ["@foreign_visit", "@missing_id", "@nul_id"],
            "author_id": ["@other_rep"],
            "id": _ID_HOSTILE,
        },
    },
    "order": {
        "base": {
            "account_id": "@own_account",
            "status": "draft",
            "lines": [{"product_id": "@product", "quantity": 3, "discount_pct": "10"}],
        },
        "person": "rep_id",
        "starts": ["-"],
        "options": {
            "account_id": _ACCOUNT_REFS,
            "rep_id": ["@me", *_PEOPLE],
            "status": ["submitted", "accepted", "cancelled"],
            "notes": ["@huge", "@nul"],
            "price_list_id": ["@price_list", "@missing_id"],
            "currency": ["USD"],
            "total": ["0.01"],
            "lines": [
                [],
                [{"product_id": "@missing_id", "quantity": 1, "discount_pct": "0"}],
                [{"product_id": "@product", "quantity": 0, "discount_pct": "0"}],
                [{"product_id": "@product", "quantity": 2**31, "discount_pct": "0"}],
                [{"product_id": "@product", "quantity": 1, "discount_pct": "100.01"}],
                [{"product_id": "@product", "quantity": 1, "discount_pct": "-1"}],
            ],
            "id": _ID_HOSTILE,
        },
    },
    "order_line": {
        "base": {
            "order_id": "@parent",
            "product_id": "@product",
            "quantity": 3,
            "discount_pct": "0",
            "line_no": 2,
        },
        "starts": ["draft", "submitted"],
        "options": {
            "order_id": ["@foreign_order", "@missing_id"],
            "product_id": ["@missing_id", "@not_uuid"],
            "quantity": [1, 100_000, 0, -5, 100_001, 2**31],
            "discount_pct": ["100", "100.01", "-1", "abc"],
            "line_no": [0, 10_001],
            "unit_price": ["0.01"],
            "id": _ID_HOSTILE,
        },
    },
    "ticket": {
        "base": {"account_id": "@own_account", "subject": "Leaking valve"},
        "starts": ["-"],
        "options": {
            "account_id": _ACCOUNT_REFS,
            "subject": ["", "@len:201", "@nul"],
            "description": ["@huge", "@nul"],
            "category": ["billing", "", "@len:41"],
            "priority": ["urgent", "critical"],
            "opened_by_id": _PEOPLE,
            "assignee_id": ["@me", "@manager"],
            "status": ["resolved", "closed"],
            "id": _ID_HOSTILE,
        },
    },
    "ticket_comment": {
        "base": {"ticket_id": "@parent", "body": "Technician booked"},
        "starts": ["open", "closed"],
        "options": {
            "body": ["", "@huge", "@nul", "@len:10001"],
            "ticket_id": ["@foreign_ticket", "@missing_id", "@nul_id"],
            "author_id": ["@other_rep"],
            "id": _ID_HOSTILE,
        },
    },
    "lead": {
        "base": {"company": "Doors Lead GmbH", "city": "Hamburg", "country": "DE"},
        "starts": ["-"],
        "options": {
            "company": ["", "@len:201", "@nul"],
            "contact_name": ["@len:201"],
            "email": ["not-an-email"],
            "phone": ["@len:41"],
            "country": ["de", "DEU", "D1"],
            "lat": [-90.0, 200.0],
            "lon": [181.0, -500.0],
            "notes": ["@huge", "@len:4001", "@nul"],
            "language": ["d", "@len:11"],
            "product_line": ["@len:81"],
            "status": ["assigned", "converted"],
            "assignee_id": ["@me"],
            "captured_by_id": ["@other_rep"],
            "id": _ID_HOSTILE,
        },
    },
    "opportunity": {
        "base": {
            "account_id": "@own_account",
            "name": "Spring refit",
            "amount": "2500.00",
            "close_date": "2024-10-31",
        },
        "person": "owner_id",
        "starts": ["-"],
        "options": {
            "account_id": _ACCOUNT_REFS,
            "owner_id": _PEOPLE,
            "name": ["", "@len:201", "@nul"],
            "stage": ["negotiation", "closed_won"],
            "amount": ["0", "-5", "1e20", "abc", "12345678901234.00", "9.999"],
            "close_date": _DATES,
            "forecast_category": ["commit", "maybe"],
            "id": _ID_HOSTILE,
        },
    },
}

UPDATE: dict[str, dict[str, Any]] = {
    "account": {
        "base": {"notes": "call ahead"},
        "starts": ["-"],
        "options": {
            **_ACCOUNT_VALUES,
            "territory_id": ["@territory", "@neighbour_territory", "@foreign_territory", None],
        },
    },
    "contact": {
        "base": {"title": "Head buyer"},
        "starts": ["-"],
        "options": {
            "account_id": ["@own_account_2", "@neighbour_account", "@foreign_account"],
            "first_name": ["", "@len:101", "@nul"],
            "email": ["not-an-email"],
            "notes": ["@huge", "@nul"],
        },
    },
    "contact_consent": {
        "base": {"status": "withdrawn"},
        "starts": ["-"],
        "options": {"purpose": ["phone_calls"]},
    },
    "lead_consent": {
        "base": {"channel": "email"},
        "starts": ["-"],
        "options": {"status": ["given"]},
    },
    "visit": {
        "base": {"purpose": "restock"},
        "starts": ["planned", "in_progress", "completed"],
        "options": {
            "+checkin": {
                "status": "in_progress",
                "check_in_at": "@now",
                "check_in_lat": 53.5511,
                "check_in_lon": 9.9937,
                "check_in_accuracy_m": 12.0,
            },
            "+checkout": {"status": "completed", "check_out_at": "@t0_plus_1h", "outcome": "order"},
            "+checkout_early": {
                "status": "completed",
                "check_out_at": "@t0_minus_1h",
                "outcome": "order",
            },
            "+cancel": {"status": "cancelled"},
            "+replan": {"status": "planned"},
            "check_in_lat": [-90.0, 200.0, 53.6],
            "check_in_lon": [181.0, -500.0],
            "check_in_at": ["@year1", "@year9999", "@naive"],
            "check_out_at": ["@year9999", "@t0_minus_1h"],
            "planned_for": _DATES,
            "route_position": [-1, 2**31],
            "purpose": ["", "@len:201", "@nul"],
            "notes": ["@huge", "@nul"],
            "outcome": ["", "@len:41"],
            "rep_id": ["@other_rep"],
            "account_id": ["@own_account_2"],
            "verified": [True],
        },
    },
    "visit_note": {
        "base": {"body": "Changed my mind"},
        "starts": ["planned"],
        "options": {"body": ["", "@huge"]},
    },
    "order": {
        "base": {"notes": "deliver before noon"},
        "starts": ["draft", "submitted", "accepted"],
        "options": {
            "+submit": {"status": "submitted"},
            "+cancel": {"status": "cancelled"},
            "+accept": {"status": "accepted"},
            "+redraft": {"status": "draft"},
            "notes": ["@huge", "@nul"],
            "status_reason": ["out of stock"],
            "price_list_id": ["@price_list"],
            "erp_ref": ["ERP-9"],
            "rep_id": ["@other_rep"],
            "currency": ["USD"],
        },
    },
    "order_line": {
        "base": {"quantity": 5},
        "starts": ["draft", "submitted"],
        "options": {
            "quantity": [1, 0, -5, 100_001, 2**31],
            "discount_pct": ["100", "100.01", "-1", "abc"],
            "product_id": ["@product", "@missing_id"],
            "order_id": ["@foreign_order"],
            "unit_price": ["0.01"],
        },
    },
    "ticket": {
        "base": {"priority": "high"},
        "starts": ["open", "in_progress", "resolved", "closed"],
        "options": {
            "+progress": {"status": "in_progress"},
            "+wait": {"status": "waiting"},
            "+resolve": {"status": "resolved"},
            "+close": {"status": "closed"},
            "+reopen": {"status": "open"},
            "subject": ["", "@len:201", "@nul"],
            "description": ["@huge", "@nul"],
            "category": ["", "@len:41"],
            "priority": ["critical", "low"],
            "assignee_id": ["@me", "@manager", "@foreign_rep"],
            "opened_by_id": ["@other_rep"],
            "account_id": ["@own_account_2"],
        },
    },
    "ticket_comment": {
        "base": {"body": "Edited"},
        "starts": ["open"],
        "options": {"body": ["", "@huge"]},
    },
    "lead": {
        "base": {"notes": "called twice"},
        "starts": ["assigned", "contacted"],
        "options": {
            "+contacted": {"status": "contacted"},
            "+converted": {"status": "converted"},
            "+disqualify": {"status": "disqualified"},
            "company": ["", "@len:201", "@nul"],
            "email": ["not-an-email"],
            "country": ["de", "DEU"],
            "lat": [200.0],
            "lon": [-500.0],
            "notes": ["@huge", "@nul"],
            "assignee_id": ["@other_rep"],
        },
    },
    "opportunity": {
        "base": {"name": "Refit phase 2"},
        "starts": ["prospecting", "negotiation", "closed_won"],
        "options": {
            "+qualify": {"stage": "qualification"},
            "+win": {"stage": "closed_won"},
            "+lose": {"stage": "closed_lost"},
            "+reopen": {"stage": "prospecting"},
            "+jump": {"stage": "negotiation"},
            "amount": ["0", "-5", "1e20", "abc", "9.999"],
            "close_date": _DATES,
            "forecast_category": ["commit", "maybe"],
            "owner_id": ["@me", "@other_rep"],
            "account_id": ["@own_account_2"],
            "name": ["", "@nul"],
        },
    },
}


def cases(entity: str, op: str, role: str) -> st.SearchStrategy[Case]:
    spec = (CREATE if op == "create" else UPDATE)[entity]
    options: dict[str, list[Any]] = spec["options"]
    bundles = sorted(k for k in options if k.startswith("+"))
    singles = sorted(k for k in options if not k.startswith("+"))

    def build(start: str, chosen_bundle: str | None, chosen: dict[str, Any]) -> Case:
        fields = dict(spec["base"])
        person = spec.get("person")
        if op == "create" and person and role in ("manager", "admin"):
            fields[person] = "@rep"  # REST asks managers and admins to say whose record it is
        if chosen_bundle is not None:
            fields.update(options[chosen_bundle])
        fields.update(chosen)
        changes = ((chosen_bundle,) if chosen_bundle else ()) + tuple(chosen)
        return Case(entity, op, role, start, tuple(fields.items()), changes)

    chosen_singles = st.lists(st.sampled_from(singles), max_size=2, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({k: st.sampled_from(options[k]) for k in keys})
    )
    return st.builds(
        build,
        st.sampled_from(spec["starts"]),
        st.one_of(st.none(), st.sampled_from(bundles)) if bundles else st.none(),
        chosen_singles,
    )


_DIVERGENCES: dict[str, dict[str, Outcome]] = {}


@pytest.fixture(scope="module", params=STORES)
def doors(request: pytest.FixtureRequest, store_factory: StoreFactory) -> Iterator[DoorsEnv]:
    """One seeded world per store for the whole property: every case makes twin records of its
    own, so cases never share what they change."""
    store = _make_store(request.param, store_factory)
    app_settings = make_settings(store)
    world = seed_world(store.url)
    seen: dict[str, Outcome] = {}
    _DIVERGENCES[store.kind] = seen
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as client:
        env = build_env(client, app_settings, world)
        yield env
        env.db.close()
    _write_divergences(store.kind, seen)
    store_factory.drop(store)


def _write_divergences(kind: str, seen: dict[str, Outcome]) -> None:
    out = Path(__file__).parents[2] / "test-artifacts"
    out.mkdir(exist_ok=True)
    lines = [f"{len(seen)} divergences between REST and sync on {kind}", ""]
    lines += [o.line() for o in sorted(seen.values(), key=lambda o: o.case.describe())]
    (out / f"doors_divergences-{kind}.txt").write_text("\n".join(lines) + "\n")


def _cells(roles: tuple[str, ...]) -> list[Any]:
    return [
        pytest.param(entity, op, role, id=f"{entity}-{op}-{role}")
        for entity in ENTITIES
        for op in ("create", "update")
        for role in roles
    ]


_SETTINGS = {
    "deadline": None,
    # The same examples on every run, so a list of divergences can be compared run to run.
    "derandomize": True,
    "database": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
}


def _check(doors: DoorsEnv, case: Case) -> None:
    outcome = run_case(doors, case)
    if not outcome.agree:
        store = "sqlite" if doors.url.startswith("sqlite") else "postgres"
        _DIVERGENCES.setdefault(store, {})[case.describe()] = outcome
    assert outcome.agree, "the doors disagree:\n" + outcome.line()


@pytest.mark.parametrize(("entity", "op", "role"), _cells(("rep", "other_rep", "admin")))
@settings(max_examples=10, **_SETTINGS)
@given(data=st.data())
def test_both_doors_reach_the_same_verdict(
    doors: DoorsEnv, entity: str, op: str, role: str, data: st.DataObject
) -> None:
    _check(doors, data.draw(cases(entity, op, role), label="case"))


@pytest.mark.parametrize(("entity", "op", "role"), _cells(("manager",)))
@settings(max_examples=3, **_SETTINGS)
@given(data=st.data())
def test_a_managers_device_is_refused_what_rest_lets_the_manager_do(
    doors: DoorsEnv, entity: str, op: str, role: str, data: st.DataObject
) -> None:
    """docs/sync.md: a manager receives their region read-only, and every push from a
    manager's device is refused out_of_scope; docs/api.md lets managers edit what they see. The
    doors differ here by design: sync must answer out_of_scope, REST must not fail."""
    _check(doors, data.draw(cases(entity, op, role), label="case"))


# ============================================================================================
# 2. What REST lists is what a fresh bootstrap sends.

READERS = ("rep_n1", "rep_n2", "rep_s1", "mgr_north", "mgr_south", "admin")
SYNCED = tuple(RULES)


class ReadWorld:
    def __init__(self, client: TestClient[Litestar], settings: Settings, world: World) -> None:
        self.client = client
        self.settings = settings
        self.world = world
        self.headers: dict[str, dict[str, str]] = {}
        self.devices: dict[str, Device] = {}
        for username in READERS:
            token, device_id = token_for(settings, world.user(username), device_name="reader")
            self.headers[username] = auth_headers(token)
            self.devices[username] = Device(client=client, token=token, device_id=device_id)


def _seed_read_extras(url: str, world: World) -> None:
    """Records on the edges of the scopes: leads in each state of assignment, tickets opened by
    a rep on another region's account (both ways), a rep's own records on an account of another
    territory, another rep's order on the rep's account, an account moved to another territory
    after it was written, deleted records, an inactive product, suggestions on an account of
    each territory (one on the moved account, one withdrawn)."""
    n1, n2, s1 = world.user("rep_n1"), world.user("rep_n2"), world.user("rep_s1")
    n1_account, n2_account = world.accounts["N1"][2], world.accounts["N2"][2]

    async def work(session: AsyncSession) -> None:
        north, south = world.regions["NORTH"], world.regions["SOUTH"]
        moved = await session.get(Account, world.accounts["N1"][1])
        assert moved is not None
        moved.territory_id = world.territories["N2"]
        session.add_all(
            [
                Visit(account_id=n2_account, rep_id=n1, planned_for=date(2024, 6, 3)),
                Order(account_id=n1_account, rep_id=n2, price_list_id=world.price_list),
                Opportunity(
                    account_id=n2_account,
                    owner_id=n1,
                    name="Across the border",
                    amount=Decimal("10.00"),
                    close_date=date(2024, 9, 30),
                ),
                Ticket(account_id=n1_account, opened_by_id=s1, subject="Opened from the south"),
                Ticket(
                    account_id=n1_account,
                    opened_by_id=n1,
                    subject="Deleted",
                    deleted_at=datetime.now(UTC),
                ),
                Lead(
                    company="Assigned North",
                    source="field",
                    captured_by_id=n1,
                    assignee_id=n1,
                    region_id=north,
                    status="assigned",
                ),
                Lead(
                    company="Captured, not assigned",
                    source="field",
                    captured_by_id=n1,
                    region_id=north,
                    status="new",
                    unassigned_reason="no_location",
                ),
                Lead(company="Queue North", source="api", region_id=north, status="new"),
                Lead(
                    company="Assigned South",
                    source="api",
                    assignee_id=s1,
                    region_id=south,
                    status="assigned",
                ),
                Lead(company="Nowhere", source="api", status="new"),
                Ticket(account_id=world.accounts["S1"][1], opened_by_id=n1, subject="Seen in S1"),
                Contact(
                    account_id=world.accounts["N1"][1],
                    first_name="Gone",
                    last_name="Away",
                    deleted_at=datetime.now(UTC),
                ),
                *(
                    Suggestion(
                        account_id=account,
                        product_id=world.products[4],
                        kind="cross_sell",
                        rank=1,
                        score=0.5,
                        support=3,
                        lift=1.5,
                        reason="bought by 50 % of accounts that buy Product 1",
                        computed_at=datetime.now(UTC),
                        deleted_at=datetime.now(UTC) if withdrawn else None,
                    )
                    for account, withdrawn in (
                        (world.accounts["N1"][1], False),
                        (n1_account, False),
                        (n2_account, True),
                        (world.accounts["S1"][0], False),
                    )
                ),
                Product(
                    sku="SKU-OLD",
                    name="Retired",
                    category="tools",
                    product_line="industrial",
                    list_price=Decimal("1.00"),
                    active=False,
                ),
            ]
        )

    run_db(url, work)


@pytest.fixture(scope="module", params=STORES)
def readers(request: pytest.FixtureRequest, store_factory: StoreFactory) -> Iterator[ReadWorld]:
    store = _make_store(request.param, store_factory)
    app_settings = make_settings(store)
    world = seed_world(store.url)
    seed_records(store.url, world)
    _seed_read_extras(store.url, world)
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as client:
        yield ReadWorld(client, app_settings, world)
    store_factory.drop(store)


def _pages(rw: ReadWorld, username: str, path: str) -> list[dict[str, Any]]:
    """Every item of a REST list, following next_cursor to the end."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        params: dict[str, Any] = {"limit": 200 if "/leads" not in path else 500}
        if cursor:
            params["cursor"] = cursor
        response = rw.client.get(f"/api/v1{path}", headers=rw.headers[username], params=params)
        if response.status_code in (403, 404):
            return items
        assert response.status_code == 200, f"GET {path} as {username}: {response.text}"
        page = response.json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items
    raise AssertionError(f"GET {path} never ended")


def _consents(rw: ReadWorld, username: str, plural: str, subjects: list[Any]) -> set[str]:
    """The consent histories REST shows under each contact or lead."""
    found: set[str] = set()
    for subject in subjects:
        response = rw.client.get(
            f"/api/v1/{plural}/{subject['id']}/consents", headers=rw.headers[username]
        )
        assert response.status_code == 200, response.text
        found |= {c["id"] for c in response.json()["history"]}
    return found


def rest_ids(rw: ReadWorld, username: str) -> dict[str, set[str]]:
    """What REST shows ``username``, per synced entity. Visit notes and ticket comments have no
    list of their own: they are read under each visit and ticket REST lists; order lines come
    with their orders, prices under each price list."""
    ids: dict[str, set[str]] = {}
    accounts = _pages(rw, username, "/accounts")
    ids["account"] = {a["id"] for a in accounts}
    ids["suggestion"] = {
        s["id"] for a in accounts for s in _pages(rw, username, f"/accounts/{a['id']}/suggestions")
    }
    contacts = _pages(rw, username, "/contacts")
    ids["contact"] = {c["id"] for c in contacts}
    ids["contact_consent"] = _consents(rw, username, "contacts", contacts)
    visits = _pages(rw, username, "/visits")
    ids["visit"] = {v["id"] for v in visits}
    ids["visit_note"] = {
        n["id"] for v in visits for n in _pages(rw, username, f"/visits/{v['id']}/notes")
    }
    orders = _pages(rw, username, "/orders")
    ids["order"] = {o["id"] for o in orders}
    ids["order_line"] = {line["id"] for o in orders for line in o["lines"]}
    tickets = _pages(rw, username, "/tickets")
    ids["ticket"] = {t["id"] for t in tickets}
    ids["ticket_comment"] = {
        c["id"] for t in tickets for c in _pages(rw, username, f"/tickets/{t['id']}/comments")
    }
    leads = _pages(rw, username, "/leads")
    ids["lead"] = {lead["id"] for lead in leads}
    ids["lead_consent"] = _consents(rw, username, "leads", leads)
    ids["attachment"] = {a["id"] for a in _pages(rw, username, "/attachments")}
    ids["opportunity"] = {o["id"] for o in _pages(rw, username, "/opportunities")}
    ids["product"] = {p["id"] for p in _pages(rw, username, "/products")}
    price_lists = _pages(rw, username, "/price-lists")
    ids["price_list"] = {p["id"] for p in price_lists}
    ids["price"] = {
        p["id"]
        for pl in price_lists
        for p in _pages(rw, username, f"/price-lists/{pl['id']}/prices")
    }
    return ids


def bootstrap_ids(rw: ReadWorld, username: str) -> dict[str, set[str]]:
    device = rw.devices[username]
    device.cursor, device.records = None, {}
    device.pull(limit=50)
    return {entity: set(device.of(entity)) for entity in SYNCED}


_LABELS = ("subject", "name", "company", "first_name", "body", "sku", "status")


def _described(url: str, entity: str, ids: set[str]) -> list[str]:
    """Each id with what tells the record apart in the seeded world."""
    model = model_for(entity)
    assert model is not None

    async def work(session: AsyncSession) -> list[str]:
        out = []
        for record_id in sorted(ids):
            obj = await session.get(model, record_id)
            label = next((getattr(obj, a) for a in _LABELS if hasattr(obj, a)), "?")
            out.append(f"{record_id} ({label!r})")
        return out

    return run_db(url, work)


@pytest.mark.parametrize("username", READERS)
def test_rest_lists_equal_a_fresh_bootstrap(readers: ReadWorld, username: str) -> None:
    rest = rest_ids(readers, username)
    synced = bootstrap_ids(readers, username)
    url = readers.settings.database_url
    differences = []
    for entity in SYNCED:
        only_rest = rest[entity] - synced[entity]
        only_sync = synced[entity] - rest[entity]
        if only_rest or only_sync:
            differences.append(
                f"{entity}: REST {len(rest[entity])}, bootstrap {len(synced[entity])}; "
                f"only REST {_described(url, entity, only_rest)}; "
                f"only bootstrap {_described(url, entity, only_sync)}"
            )
    assert not differences, f"{username}:\n" + "\n".join(differences)


# ============================================================================================
# 3. Regression tests, one per defect. They share the property's world (``doors``): each makes
# the records it changes, and pushes from rep_n1's device (the same user's token for REST).


def _rep(doors: DoorsEnv) -> Device:
    return doors.caller("rep").device


def _rest(device: Device, method: str, path: str, body: Any) -> Any:
    return device.client.request(
        method, f"/api/v1{path}", headers={"Authorization": f"Bearer {device.token}"}, json=body
    )


def _push(device: Device, *mutations: Any) -> Verdict:
    """The verdict on a push; an HTTP error is a verdict too."""
    verdict, _ = sync_verdict(device.push_raw(list(mutations)))
    return verdict


def _get(doors: DoorsEnv, model: type, record_id: str) -> Any:
    async def work(session: AsyncSession) -> Any:
        return await session.get(model, record_id)

    return doors.db(work)


def _add(doors: DoorsEnv, record: Any) -> str:
    async def work(session: AsyncSession) -> str:
        session.add(record)
        await session.flush()
        return str(record.id)

    return doors.db(work)


def test_a_rep_cannot_create_a_ticket_on_another_territorys_account_through_sync(
    doors: DoorsEnv,
) -> None:
    rep = _rep(doors)
    foreign = doors.world.accounts["S1"][0]
    body = {"account_id": foreign, "subject": "Not mine"}
    rest = _rest(rep, "POST", "/tickets", body)
    assert rest.status_code == 404, rest.text
    ticket_id = new_id()
    verdict = _push(rep, rep.upsert("ticket", ticket_id, body))
    assert verdict.cls == "scope", f"sync answered {verdict}; REST answered 404"
    assert _get(doors, Ticket, ticket_id) is None


@pytest.mark.parametrize("someone_else", ["rep_n2", "rep_s1", "mgr_north"])
def test_a_rep_cannot_open_a_ticket_in_another_reps_name_through_sync(
    doors: DoorsEnv, someone_else: str
) -> None:
    rep = _rep(doors)
    own = doors.world.accounts["N1"][0]
    other = doors.world.user(someone_else)
    body = {"account_id": own, "subject": "In your name", "opened_by_id": other}
    # REST has no way to say it: a ticket is opened by its caller, and the field is unknown.
    rest = _rest(rep, "POST", "/tickets", body)
    assert rest.status_code == 400, rest.text
    ticket_id = new_id()
    verdict = _push(rep, rep.upsert("ticket", ticket_id, body))
    stored = _get(doors, Ticket, ticket_id)
    assert stored is None or stored.opened_by_id != other, (
        f"sync opened a ticket in {someone_else}'s name: {verdict}"
    )
    assert verdict.cls != "accepted", f"sync accepted the ticket ({verdict}); REST refuses it"


_IN_SOMEONES_NAME = [
    pytest.param("visit", "rep_id", {"planned_for": "2024-06-03"}, id="visit.rep_id"),
    pytest.param("order", "rep_id", {"status": "draft"}, id="order.rep_id"),
    pytest.param(
        "opportunity",
        "owner_id",
        {"name": "Yours now", "amount": "10.00", "close_date": "2024-10-31"},
        id="opportunity.owner_id",
    ),
]


@pytest.mark.parametrize(("entity", "person", "fields"), _IN_SOMEONES_NAME)
@pytest.mark.parametrize("someone_else", ["rep_n2", "rep_s1"])
def test_a_rep_cannot_create_a_record_in_another_reps_name_through_sync(
    doors: DoorsEnv, entity: str, person: str, fields: dict[str, Any], someone_else: str
) -> None:
    """The same rule as for tickets, for the records a rep owns: REST answers 404 naming the
    person (docs/api.md: an id in a body outside the caller's scope)."""
    rep = _rep(doors)
    other = doors.world.user(someone_else)
    body = {"account_id": doors.world.accounts["N1"][0], person: other, **fields}
    path = {"visit": "/visits", "order": "/orders", "opportunity": "/opportunities"}[entity]
    rest = _rest(rep, "POST", path, body)
    record_id = new_id()
    verdict = _push(rep, rep.upsert(entity, record_id, body))
    assert rest.status_code == 404, rest.text
    assert verdict.cls != "accepted", f"sync made a {entity} in {someone_else}'s name: {verdict}"


def _visit(doors: DoorsEnv, *, account: str | None = None, checked_in: bool = False) -> str:
    visit = Visit(
        account_id=account or doors.world.accounts["N1"][0],
        rep_id=doors.world.user("rep_n1"),
        planned_for=date(2024, 6, 3),
    )
    if checked_in:
        visit.status = "in_progress"
        visit.check_in_at = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
        visit.check_in_lat, visit.check_in_lon, visit.check_in_accuracy_m = 53.5511, 9.9937, 10.0
    return _add(doors, visit)


def _account(doors: DoorsEnv) -> str:
    return _add(
        doors,
        Account(
            name="Twin",
            lat=53.55,
            lon=9.99,
            territory_id=doors.world.territories["N1"],
            owner_id=doors.world.user("rep_n1"),
        ),
    )


_CHECK_IN = {
    "status": "in_progress",
    "check_in_at": "2024-06-03T09:30:00Z",
    "check_in_lat": 53.5511,
    "check_in_lon": 9.9937,
    "check_in_accuracy_m": 12.0,
}

HOSTILE_VALUES = [
    pytest.param("account", {"lat": 200.0}, "lat", id="account-lat-200"),
    pytest.param("account", {"lon": -500.0}, "lon", id="account-lon-minus-500"),
    pytest.param("account", {"notes": "n" * (7 << 20)}, "notes", id="account-notes-7MiB"),
    pytest.param("check_in", {"check_in_lon": 181.0}, "check_in_lon", id="check-in-lon-181"),
    pytest.param(
        "check_in", {"check_in_at": "0001-01-01T00:00:00Z"}, "check_in_at", id="check-in-year-1"
    ),
    pytest.param(
        "check_in",
        {"check_in_at": "9999-12-31T23:59:59Z"},
        "check_in_at",
        id="check-in-year-9999",
    ),
    pytest.param(
        "check_out",
        {"check_out_at": "2024-06-03T08:00:00Z"},
        "check_out_at",
        id="check-out-before-check-in",
    ),
]


@pytest.mark.parametrize(("what", "values", "culprit"), HOSTILE_VALUES)
def test_sync_refuses_the_values_rest_refuses(
    doors: DoorsEnv, what: str, values: dict[str, Any], culprit: str
) -> None:
    rep = _rep(doors)
    if what == "account":
        rest_target, sync_target = _account(doors), _account(doors)
        rest = _rest(rep, "PATCH", f"/accounts/{rest_target}", values)
        mutation = rep.upsert("account", sync_target, values, base_version=1)
    elif what == "check_in":
        rest_target, sync_target = _visit(doors), _visit(doors)
        rest = _rest(rep, "PATCH", f"/visits/{rest_target}", {**_CHECK_IN, **values})
        mutation = rep.upsert("visit", sync_target, {**_CHECK_IN, **values}, base_version=1)
    else:
        rest_target, sync_target = _visit(doors, checked_in=True), _visit(doors, checked_in=True)
        body = {"status": "completed", "outcome": "order", **values}
        rest = _rest(rep, "PATCH", f"/visits/{rest_target}", body)
        mutation = rep.upsert("visit", sync_target, body, base_version=1)
    rest_answer = rest_verdict("PATCH", f"({what})", rest)
    verdict = _push(rep, mutation)
    assert (verdict.cls, verdict.field) == ("validation", culprit), (
        f"sync answered {verdict}; REST answered {rest_answer}"
    )
    assert rest_answer.cls == "validation", f"REST answered {rest_answer}; sync {verdict}"


def test_a_check_in_at_an_account_stored_with_lat_200_is_no_server_error(
    doors: DoorsEnv,
) -> None:
    account = new_id()

    async def odd_account(session: AsyncSession) -> None:
        # Straight into the table: the ORM's flush checks values, and this row stands for one
        # stored before those checks existed (or written by another tool).
        await session.execute(
            insert(Account.__table__).values(
                id=account,
                name="Stored before the checks",
                lat=200.0,
                lon=9.99,
                territory_id=doors.world.territories["N1"],
                owner_id=doors.world.user("rep_n1"),
            )
        )

    doors.db(odd_account)
    rep = _rep(doors)
    rest_visit, sync_visit = _visit(doors, account=account), _visit(doors, account=account)
    rest = _rest(rep, "PATCH", f"/visits/{rest_visit}", _CHECK_IN)
    verdict = _push(rep, rep.upsert("visit", sync_visit, _CHECK_IN, base_version=1))
    after = _push(
        rep,
        rep.upsert(
            "contact",
            new_id(),
            {
                "account_id": doors.world.accounts["N1"][0],
                "first_name": "Next",
                "last_name": "Push",
            },
        ),
    )
    assert rest.status_code < 500, f"REST: {rest.status_code} {rest.text}"
    assert verdict.cls != "server_error", f"sync: {verdict}"
    assert after.cls == "accepted", f"the next push: {after}"


NUL = "nul\x00byte"
NUL_ID = "@nul_id"

NUL_CASES = [
    # entity, the pushed fields (the NUL-bearing one named by the id), the record id (None: new)
    pytest.param("account", {"name": NUL}, None, id="account.name"),
    pytest.param("account", {"name": "A", "notes": NUL}, None, id="account.notes"),
    pytest.param("account", {"name": "A", "city": NUL}, None, id="account.city"),
    pytest.param(
        "contact",
        {"first_name": NUL, "last_name": "B", "account_id": "@own"},
        None,
        id="contact.first_name",
    ),
    pytest.param("visit", {"purpose": NUL, "account_id": "@own"}, None, id="visit.purpose"),
    pytest.param("visit", {"notes": NUL, "account_id": "@own"}, None, id="visit.notes"),
    pytest.param("visit_note", {"visit_id": "@visit", "body": NUL}, None, id="visit_note.body"),
    pytest.param(
        "order", {"notes": NUL, "account_id": "@own", "status": "draft"}, None, id="order.notes"
    ),
    pytest.param("ticket", {"subject": NUL, "account_id": "@own"}, None, id="ticket.subject"),
    pytest.param(
        "ticket",
        {"description": NUL, "subject": "S", "account_id": "@own"},
        None,
        id="ticket.description",
    ),
    pytest.param(
        "ticket_comment", {"ticket_id": "@ticket", "body": NUL}, None, id="ticket_comment.body"
    ),
    pytest.param("lead", {"company": NUL}, None, id="lead.company"),
    pytest.param("lead", {"company": "C", "notes": NUL}, None, id="lead.notes"),
    pytest.param(
        "opportunity",
        {"name": NUL, "account_id": "@own", "amount": "10.00", "close_date": "2024-10-31"},
        None,
        id="opportunity.name",
    ),
    pytest.param("account", {"name": "A"}, NUL_ID, id="account.id"),
    pytest.param(
        "contact",
        {"account_id": NUL_ID, "first_name": "A", "last_name": "B"},
        None,
        id="contact.account_id",
    ),
    pytest.param("visit", {"account_id": "@own", "rep_id": NUL_ID}, None, id="visit.rep_id"),
    pytest.param(
        "visit_note", {"visit_id": NUL_ID, "body": "Fine"}, None, id="visit_note.visit_id"
    ),
    pytest.param("ticket", {"account_id": NUL_ID, "subject": "S"}, None, id="ticket.account_id"),
]


@pytest.mark.parametrize(("entity", "fields", "record_id"), NUL_CASES)
def test_a_nul_byte_pushed_is_refused_as_validation_and_the_next_push_works(
    doors: DoorsEnv, entity: str, fields: dict[str, Any], record_id: str | None
) -> None:
    rep = _rep(doors)
    own = doors.world.accounts["N1"][0]
    symbols: dict[str, str] = {"@own": own, NUL_ID: new_id()[:-4] + "\x00abc"}
    if "@visit" in fields.values():
        symbols["@visit"] = _visit(doors)
    if "@ticket" in fields.values():
        symbols["@ticket"] = _add(
            doors, Ticket(account_id=own, opened_by_id=doors.world.user("rep_n1"), subject="T")
        )
    values = {k: symbols.get(v, v) for k, v in fields.items()}
    verdict = _push(rep, rep.upsert(entity, symbols[record_id] if record_id else new_id(), values))
    after = _push(
        rep,
        rep.upsert(
            "contact", new_id(), {"account_id": own, "first_name": "After", "last_name": "NUL"}
        ),
    )
    assert verdict.cls == "validation", f"sync answered {verdict}"
    assert after.cls == "accepted", f"the next push answered {after}"
