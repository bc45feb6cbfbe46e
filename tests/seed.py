"""A small, known world for tests: two regions, each with two territories, a rep per territory,
a manager per region, an admin, accounts, contacts, a catalogue and a price list.

Everything is written through the ORM (so the sync change log sees it, as in production), with
a short-lived engine of the test's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account, Contact
from server.auth.models import Device, Role, User
from server.auth.passwords import hash_password
from server.auth.tokens import issue_access_token
from server.catalog.models import Price, PriceList, Product
from server.db.engine import create_engine, create_sessionmaker
from server.org.models import Region, Territory
from server.settings import Settings

__all__ = ["PASSWORD", "World", "auth_headers", "run_db", "seed_world", "token_for"]

PASSWORD = "correct horse battery staple"
T = TypeVar("T")

# Centres of the seeded territories (real city coordinates).
CITIES = {
    "N1": ("Hamburg", 53.5511, 9.9937),
    "N2": ("Bremen", 53.0793, 8.8017),
    "S1": ("Munich", 48.1351, 11.5820),
    "S2": ("Stuttgart", 48.7758, 9.1829),
}


@cache
def _password_hash() -> str:
    # argon2 is slow on purpose; one hash serves every seeded user of the run.
    return hash_password(PASSWORD)


def run_db(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction on the database at ``url``."""

    async def main() -> T:
        engine = create_engine(url, null_pool=True)
        try:
            async with create_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(main())


@dataclass
class World:
    regions: dict[str, str] = field(default_factory=dict)  # code -> id
    territories: dict[str, str] = field(default_factory=dict)  # code -> id
    users: dict[str, str] = field(default_factory=dict)  # username -> id
    accounts: dict[str, list[str]] = field(default_factory=dict)  # territory code -> ids
    contacts: dict[str, list[str]] = field(default_factory=dict)  # account id -> ids
    products: list[str] = field(default_factory=list)
    price_list: str = ""

    def user(self, username: str) -> str:
        return self.users[username]


def _square(lat: float, lon: float, half: float = 0.3) -> list[list[float]]:
    return [
        [lat - half, lon - half],
        [lat - half, lon + half],
        [lat + half, lon + half],
        [lat + half, lon - half],
    ]


def seed_world(url: str, *, accounts_per_territory: int = 3) -> World:
    """Usernames: rep_n1, rep_n2, rep_s1, rep_s2, mgr_north, mgr_south, admin, backoffice.
    All share the password ``PASSWORD``."""
    world = World()
    password_hash = _password_hash()

    async def work(session: AsyncSession) -> World:
        price_list = PriceList(name="Standard EUR", currency="EUR")
        session.add(price_list)
        await session.flush()
        world.price_list = price_list.id
        for i in range(1, 6):
            product = Product(
                sku=f"SKU-{i:03d}",
                name=f"Product {i}",
                category="tools" if i % 2 else "supplies",
                product_line="industrial" if i <= 3 else "office",
                list_price=Decimal(f"{i * 10}.00"),
            )
            session.add(product)
            await session.flush()
            world.products.append(product.id)
            session.add(
                Price(
                    price_list_id=price_list.id,
                    product_id=product.id,
                    unit_price=Decimal(f"{i * 9}.50"),
                )
            )
        for code, name in (("NORTH", "North"), ("SOUTH", "South")):
            region = Region(code=code, name=name, price_list_id=price_list.id)
            session.add(region)
            await session.flush()
            world.regions[code] = region.id
        for tcode, (city, lat, lon) in CITIES.items():
            region_id = world.regions["NORTH" if tcode.startswith("N") else "SOUTH"]
            territory = Territory(
                region_id=region_id,
                code=tcode,
                name=city,
                center_lat=lat,
                center_lon=lon,
                boundary=_square(lat, lon),
            )
            session.add(territory)
            await session.flush()
            world.territories[tcode] = territory.id
            rep = User(
                username=f"rep_{tcode.lower()}",
                full_name=f"Rep {city}",
                password_hash=password_hash,
                role=Role.REP,
                region_id=region_id,
                territory_id=territory.id,
                home_lat=lat,
                home_lon=lon,
                skills=["industrial", "office"],
                languages=["de", "en"],
            )
            session.add(rep)
            await session.flush()
            world.users[rep.username] = rep.id
            world.accounts[tcode] = []
            for n in range(accounts_per_territory):
                account = Account(
                    name=f"{city} Customer {n + 1}",
                    city=city,
                    lat=lat + 0.01 * n,
                    lon=lon + 0.01 * n,
                    territory_id=territory.id,
                    owner_id=rep.id,
                    segment="standard",
                )
                session.add(account)
                await session.flush()
                world.accounts[tcode].append(account.id)
                contact = Contact(account_id=account.id, first_name="Ada", last_name=f"Buyer{n}")
                session.add(contact)
                await session.flush()
                world.contacts[account.id] = [contact.id]
        for username, role, region in (
            ("mgr_north", Role.MANAGER, "NORTH"),
            ("mgr_south", Role.MANAGER, "SOUTH"),
            ("admin", Role.ADMIN, None),
            ("backoffice", Role.BACKOFFICE, None),
        ):
            user = User(
                username=username,
                full_name=username.replace("_", " ").title(),
                password_hash=password_hash,
                role=role,
                region_id=world.regions[region] if region else None,
            )
            session.add(user)
            await session.flush()
            world.users[username] = user.id
        return world

    return run_db(url, work)


def token_for(
    settings: Settings, user_id: str, *, device_name: str = "test-device"
) -> tuple[str, str]:
    """Register a device for ``user_id`` and mint an access token for it, without going through
    the login endpoint (which has its own tests). Returns (token, device_id)."""

    async def work(session: AsyncSession) -> Device:
        device = Device(user_id=user_id, name=device_name)
        session.add(device)
        await session.flush()
        return device

    device = run_db(settings.database_url, work)
    token, _ = issue_access_token(
        secret=settings.secret_key,
        user_id=user_id,
        device_id=device.id,
        generation=device.token_generation,
        now=datetime.now(UTC),
        ttl_s=settings.access_token_ttl_s,
    )
    return token, device.id


def auth_headers(token: str, **extra: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **{k: str(v) for k, v in extra.items()}}
