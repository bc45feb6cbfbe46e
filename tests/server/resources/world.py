"""A seeded world with records on both sides of every scope line, and callers of every kind.

"in" records belong to rep_n1 (territory N1, region NORTH); "out" records to rep_s1 (territory
S1, region SOUTH). rep_n1 and mgr_north see the first and must never see the second.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncSession

from server.attachments.models import Attachment
from server.auth import passwords
from server.auth.models import ApiKey, Device
from server.auth.tokens import digest, new_api_key
from server.opportunities.models import Opportunity
from server.orders.models import Order, OrderLine
from server.settings import Settings
from server.tickets.models import Ticket, TicketComment
from server.visits.models import Visit, VisitNote
from tests.seed import World, auth_headers, run_db, seed_world, token_for

__all__ = [
    "Callers",
    "Records",
    "Side",
    "api_key",
    "build",
    "callers_for",
    "cheap_argon2",
    "seed_records",
]


@dataclass
class Side:
    """One side of the scope line: ids of records belonging to one rep."""

    rep: str = ""
    manager: str = ""
    territory: str = ""
    region: str = ""
    account: str = ""
    contact: str = ""
    visit: str = ""
    order: str = ""
    submitted_order: str = ""
    ticket: str = ""
    opportunity: str = ""
    spare_device: str = ""


@dataclass
class Records:
    world: World
    sides: dict[str, Side] = field(default_factory=dict)
    spare_key: str = ""

    @property
    def inside(self) -> Side:
        return self.sides["in"]

    @property
    def outside(self) -> Side:
        return self.sides["out"]


def seed_records(url: str, world: World) -> Records:
    records = Records(world)

    async def work(session: AsyncSession) -> None:
        for side, tcode, rep, manager, region in (
            ("in", "N1", "rep_n1", "mgr_north", "NORTH"),
            ("out", "S1", "rep_s1", "mgr_south", "SOUTH"),
        ):
            rep_id = world.user(rep)
            account = world.accounts[tcode][0]
            s = Side(
                rep=rep_id,
                manager=world.user(manager),
                territory=world.territories[tcode],
                region=world.regions[region],
                account=account,
                contact=world.contacts[account][0],
            )
            visit = Visit(account_id=account, rep_id=rep_id, planned_for=date(2024, 5, 6))
            order = Order(account_id=account, rep_id=rep_id, price_list_id=world.price_list)
            submitted = Order(
                account_id=account,
                rep_id=rep_id,
                price_list_id=world.price_list,
                status="submitted",
                total=Decimal("19.00"),
                subtotal=Decimal("19.00"),
            )
            ticket = Ticket(account_id=account, opened_by_id=rep_id, subject=f"Broken {tcode}")
            opportunity = Opportunity(
                account_id=account,
                owner_id=rep_id,
                name=f"Deal {tcode}",
                amount=Decimal("1000.00"),
                close_date=date(2024, 9, 30),
            )
            device = Device(user_id=rep_id, name=f"spare tablet {tcode}")
            session.add_all([visit, order, submitted, ticket, opportunity, device])
            await session.flush()
            session.add_all(
                [
                    OrderLine(
                        order_id=order.id,
                        product_id=world.products[0],
                        quantity=2,
                        unit_price=Decimal("9.50"),
                        line_total=Decimal("19.00"),
                    ),
                    OrderLine(
                        order_id=submitted.id,
                        product_id=world.products[0],
                        quantity=2,
                        unit_price=Decimal("9.50"),
                        line_total=Decimal("19.00"),
                    ),
                    VisitNote(visit_id=visit.id, author_id=rep_id, body="Met the buyer"),
                    TicketComment(ticket_id=ticket.id, author_id=rep_id, body="Seen it"),
                    *(
                        Attachment(
                            owner_entity=kind,
                            owner_id=owner.id,
                            file_name=f"{kind}.jpg",
                            media_type="image/jpeg",
                            byte_size=4,
                            sha256=hashlib.sha256(kind.encode()).hexdigest(),
                            captured_at=datetime(2024, 6, 4, 10, tzinfo=UTC),
                            author_id=rep_id,
                        )
                        for kind, owner in (("visit", visit), ("ticket", ticket), ("order", order))
                    ),
                ]
            )
            s.visit, s.order, s.submitted_order = visit.id, order.id, submitted.id
            s.ticket, s.opportunity, s.spare_device = ticket.id, opportunity.id, device.id
            records.sides[side] = s
        key, prefix = new_api_key()
        spare = ApiKey(name="spare", prefix=prefix, key_hash=digest(key), scopes=["orders:read"])
        session.add(spare)
        await session.flush()
        records.spare_key = spare.id

    run_db(url, work)
    return records


def api_key(url: str, scopes: list[str], name: str = "erp") -> str:
    """Store a back-office API key with ``scopes``; returns the full key."""
    key, prefix = new_api_key()

    async def work(session: AsyncSession) -> None:
        session.add(ApiKey(name=name, prefix=prefix, key_hash=digest(key), scopes=scopes))

    run_db(url, work)
    return key


@dataclass
class Callers:
    """Request headers per caller."""

    headers: dict[str, dict[str, str]]

    def __getitem__(self, name: str) -> dict[str, str]:
        return self.headers[name]


KEY_SCOPES = {
    "key:orders:read": ["orders:read"],
    "key:orders:write": ["orders:write"],
    "key:tickets:read": ["tickets:read"],
    "key:tickets:write": ["tickets:write"],
    "key:all": [
        "orders:read",
        "orders:write",
        "tickets:read",
        "tickets:write",
        "leads:write",
        "webhooks:manage",
    ],
    "key:none": ["leads:write"],
}


def callers_for(settings: Settings, world: World) -> Callers:
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for name, username in (
        ("rep", "rep_n1"),
        ("rep_s1", "rep_s1"),
        ("manager", "mgr_north"),
        ("mgr_south", "mgr_south"),
        ("admin", "admin"),
    ):
        token, _ = token_for(settings, world.user(username))
        headers[name] = auth_headers(token)
    for name, scopes in KEY_SCOPES.items():
        headers[name] = {"X-API-Key": api_key(settings.database_url, scopes, name=name)}
    return Callers(headers)


def build(settings: Settings) -> tuple[Records, Callers]:
    world = seed_world(settings.database_url)
    return seed_records(settings.database_url, world), callers_for(settings, world)


@contextmanager
def cheap_argon2() -> Iterator[None]:
    """Argon2id with the smallest cost parameters, so tests that log in many times stay fast.
    Hashes keep the production format and are verified for real; only the work factor drops
    (production keeps OWASP's configuration, server/auth/passwords.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        )
        yield
