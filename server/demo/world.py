"""The demo organisation and its customers: regions, territories (Voronoi cells around real
cities), managers and reps with home bases, the catalogue with two price lists, accounts with
addresses and coordinates, contacts, and leads."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from server.demo import catalogue, names
from server.demo.geo import cells, haversine_km, inside, offset
from server.demo.places import REGIONS, Anchor, City
from server.demo.records import Row, cents, plain, stochastic_round, syncable

__all__ = [
    "ADMIN_USERNAME",
    "BACKOFFICE_USERNAME",
    "MAX_ACCOUNT_DISTANCE_KM",
    "Rep",
    "Territory",
    "World",
    "build_world",
    "company_name",
]

ADMIN_USERNAME = "admin"
BACKOFFICE_USERNAME = "backoffice"
MAX_ACCOUNT_DISTANCE_KM = 30.0
FULL_ACCOUNTS = 4000
FULL_LEADS = 150
REPS_PER_TERRITORY = 2
KEY_ACCOUNT_DISCOUNT = {
    "power_tools": Decimal("0.90"),
    "fasteners": Decimal("0.85"),
    "safety": Decimal("0.88"),
    "workshop": Decimal("0.92"),
    "consumables": Decimal("0.86"),
}
_LINE_SKU = {
    "power_tools": "PT",
    "fasteners": "FA",
    "safety": "SA",
    "workshop": "WS",
    "consumables": "CO",
}
_CITY_WEIGHT = {"BER": 1.8, "HAM": 1.5, "MUC": 1.5, "CGN": 1.3}
_OTHER_LANGUAGES = ("tr", "pl", "ru", "it", "fr", "ar")


@dataclass
class Rep:
    id: str
    username: str
    region_code: str
    territory_id: str
    home: tuple[float, float]
    skills: list[str]
    performance: float
    """Multiplies this rep's order volume (rep-to-rep variation)."""
    win_rate: float
    accounts: list[Row] = field(default_factory=list)


@dataclass
class Territory:
    id: str
    region_id: str
    city: City
    boundary: list[list[float]]
    reps: list[Rep] = field(default_factory=list)
    accounts: list[Row] = field(default_factory=list)


@dataclass
class World:
    tables: dict[str, list[Row]]
    regions: dict[str, Row]
    territories: list[Territory]
    reps: list[Rep]
    managers: dict[str, Row]
    backoffice_id: str
    products: list[Row]
    unit_prices: dict[str, dict[str, Decimal]]
    """price list id -> product id -> unit price."""
    standard_list_id: str
    key_list_id: str


def build_world(seed: int, scale: float, now: datetime, password_hash: str) -> World:
    tables: dict[str, list[Row]] = {}
    long_ago = now - timedelta(days=3 * 365)

    # Catalogue and price lists ---------------------------------------------------------
    rng = random.Random(f"fieldline-demo:{seed}:catalogue")
    standard = syncable(long_ago, name="Standard EUR", currency="EUR")
    key = syncable(long_ago, name="Key accounts EUR", currency="EUR")
    products: list[Row] = []
    prices: list[Row] = []
    unit_prices: dict[str, dict[str, Decimal]] = {standard["id"]: {}, key["id"]: {}}
    for line, categories in catalogue.LINES.items():
        for category, items in categories.items():
            for index, (item, unit, base) in enumerate(items, start=1):
                for suffix, sku_suffix, factor in catalogue.VARIANTS:
                    list_price = _shelf_price(base * factor * rng.uniform(0.94, 1.06))
                    product = syncable(
                        long_ago,
                        sku=f"{_LINE_SKU[line]}-{category[:3].upper()}{index:02d}-{sku_suffix}",
                        name=f"{item}{suffix}",
                        category=category,
                        product_line=line,
                        unit=unit,
                        list_price=list_price,
                        active=True,
                    )
                    products.append(product)
                    for price_list, price in (
                        (standard, list_price),
                        (key, cents(list_price * KEY_ACCOUNT_DISCOUNT[line])),
                    ):
                        prices.append(
                            syncable(
                                long_ago,
                                price_list_id=price_list["id"],
                                product_id=product["id"],
                                unit_price=price,
                            )
                        )
                        unit_prices[price_list["id"]][product["id"]] = price
    tables["price_lists"] = [standard, key]
    tables["products"] = products
    tables["prices"] = prices

    # Regions and territories ------------------------------------------------------------
    all_cities = [city for spec in REGIONS for city in spec.cities]
    polygons = cells([(c.lat, c.lon) for c in all_cities], [c.cell_radius_km for c in all_cities])
    boundary_of = {city.code: polygon for city, polygon in zip(all_cities, polygons, strict=True)}
    regions: dict[str, Row] = {}
    territories: list[Territory] = []
    for spec in REGIONS:
        regions[spec.code] = plain(
            long_ago,
            code=spec.code,
            name=spec.name,
            timezone="Europe/Berlin",
            currency="EUR",
            price_list_id=standard["id"],
        )
        for city in spec.cities:
            row = plain(
                long_ago,
                region_id=regions[spec.code]["id"],
                code=f"{spec.code[0]}-{city.code}",
                name=city.name,
                center_lat=city.lat,
                center_lon=city.lon,
                boundary=boundary_of[city.code],
            )
            tables.setdefault("territories", []).append(row)
            territories.append(Territory(row["id"], row["region_id"], city, boundary_of[city.code]))
    tables["regions"] = list(regions.values())

    # People ------------------------------------------------------------------------------
    rng = random.Random(f"fieldline-demo:{seed}:people")
    people = _People(rng)
    users: list[Row] = []

    def user(role: str, username: str, full_name: str, **extra: object) -> Row:
        row = plain(
            long_ago,
            username=username,
            full_name=full_name,
            email=f"{username}@fieldline.example",
            password_hash=password_hash,
            role=role,
            **extra,
        )
        users.append(row)
        return row

    user("admin", ADMIN_USERNAME, "Fieldline Administrator")
    backoffice = user("backoffice", BACKOFFICE_USERNAME, "Back Office (ERP)")
    managers: dict[str, Row] = {}
    reps: list[Rep] = []
    lines = list(catalogue.LINES)
    today = now.date()
    for spec in REGIONS:
        main_city = spec.cities[0]
        managers[spec.code] = user(
            "manager",
            f"manager.{spec.code.lower()}",
            people.full_name(),
            region_id=regions[spec.code]["id"],
            home_lat=main_city.lat,
            home_lon=main_city.lon,
            languages=["de", "en"],
        )
        region_territories = [t for t in territories if t.city in spec.cities]
        for n, territory in enumerate(
            t for t in region_territories for _ in range(REPS_PER_TERRITORY)
        ):
            first, last = people.name()
            home = _home_base(rng, territory)
            skills = sorted({lines[n % len(lines)], *rng.sample(lines, rng.randint(1, 3))})
            languages = ["de"]
            if rng.random() < 0.6:
                languages.append("en")
            if rng.random() < 0.2:
                languages.append(rng.choice(_OTHER_LANGUAGES))
            part_time = rng.random() < 0.1
            row = user(
                "rep",
                people.username(first, last),
                f"{first} {last}",
                region_id=regions[spec.code]["id"],
                territory_id=territory.id,
                home_lat=home[0],
                home_lon=home[1],
                service_radius_km=float(rng.choice((30, 40, 40, 50, 50, 60))),
                capacity=rng.randint(15, 40),
                daily_quota=rng.randint(4, 12),
                weight=0.5 if part_time else rng.choice((0.8, 1.0, 1.0, 1.0, 1.2)),
                skills=skills,
                languages=languages,
                working_days=[0, 1, 2] if part_time else [0, 1, 2, 3, 4],
                on_leave_until=None,
                active=True,
            )
            rep = Rep(
                id=row["id"],
                username=row["username"],
                region_code=spec.code,
                territory_id=territory.id,
                home=home,
                skills=skills,
                performance=math.exp(rng.gauss(0.0, 0.3)) * (0.5 if part_time else 1.0),
                win_rate=rng.uniform(0.25, 0.6),
            )
            territory.reps.append(rep)
            reps.append(rep)
    # One rep is on holiday: the lead engine must route around them.
    on_leave = rng.choice(reps).id
    next(u for u in users if u["id"] == on_leave)["on_leave_until"] = today + timedelta(days=7)
    tables["users"] = users

    # Accounts and contacts ---------------------------------------------------------------
    rng = random.Random(f"fieldline-demo:{seed}:accounts")
    accounts: list[Row] = []
    contacts: list[Row] = []
    seen_names: set[str] = set()
    weights = [_CITY_WEIGHT.get(t.city.code, 1.0) for t in territories]
    count = max(len(territories), round(FULL_ACCOUNTS * scale))
    for n in range(count):
        # Every territory gets at least one account, however small the scale.
        territory = territories[n] if n < len(territories) else rng.choices(territories, weights)[0]
        anchor, (lat, lon) = _place(rng, territory)
        name = company_name(rng, anchor.name, seen_names)
        domain = f"{names.ascii_slug(_without_legal_form(name))[:40]}.de"
        created = now - timedelta(days=rng.uniform(60, 1500))
        segment = rng.choices(("key_account", "standard", "small_business"), (6, 70, 24))[0]
        owner = rng.choice(territory.reps)
        account = syncable(
            created,
            created + timedelta(days=rng.uniform(0, (now - created).days)),
            name=name,
            segment=segment,
            address_line=f"{rng.choice(names.STREETS)} {rng.randint(1, 180)}",
            city=anchor.name,
            postal_code=f"{rng.randint(*anchor.postal_codes):05d}",
            country="DE",
            lat=lat,
            lon=lon,
            visit_radius_m=300.0 if segment == "key_account" else 200.0,
            phone=f"+49 {territory.city.area_code} {rng.randint(200000, 9999999)}",
            email=f"info@{domain}",
            notes=None,
            territory_id=territory.id,
            owner_id=owner.id,
        )
        accounts.append(account)
        territory.accounts.append(account)
        owner.accounts.append(account)
        for _ in range(rng.choices((1, 2, 3), (45, 40, 15))[0]):
            first, last = people.name()
            contacts.append(
                syncable(
                    created + timedelta(days=rng.uniform(0, 30)),
                    account_id=account["id"],
                    first_name=first,
                    last_name=last,
                    title=rng.choice(names.TITLES),
                    phone=f"+49 {territory.city.area_code} {rng.randint(200000, 9999999)}",
                    email=f"{names.ascii_slug(first, '')}.{names.ascii_slug(last, '')}@{domain}",
                    notes=None,
                )
            )
    tables["accounts"] = accounts
    tables["contacts"] = contacts

    world = World(
        tables=tables,
        regions=regions,
        territories=territories,
        reps=reps,
        managers=managers,
        backoffice_id=backoffice["id"],
        products=products,
        unit_prices=unit_prices,
        standard_list_id=standard["id"],
        key_list_id=key["id"],
    )
    tables["leads"] = _leads(
        random.Random(f"fieldline-demo:{seed}:leads"), world, scale, now, seen_names
    )
    return world


def company_name(rng: random.Random, town: str, seen: set[str]) -> str:
    while True:
        pattern = rng.random()
        legal = rng.choice(names.LEGAL_FORMS)
        if pattern < 0.45:
            name = f"{rng.choice(names.LAST_NAMES)} {rng.choice(names.TRADES)} {legal}"
        elif pattern < 0.65:
            a, b = rng.sample(names.LAST_NAMES, 2)
            name = f"{a} & {b} {legal}"
        elif pattern < 0.85:
            name = f"{rng.choice(names.TRADES)} {town} {legal}"
        else:
            name = f"{rng.choice(names.TRADES)} {rng.choice(names.LAST_NAMES)} {legal}"
        if name not in seen:
            seen.add(name)
            return name


class _People:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.usernames: set[str] = set()

    def name(self) -> tuple[str, str]:
        return self.rng.choice(names.FIRST_NAMES), self.rng.choice(names.LAST_NAMES)

    def full_name(self) -> str:
        return " ".join(self.name())

    def username(self, first: str, last: str) -> str:
        base = f"{names.ascii_slug(first, '')}.{names.ascii_slug(last, '')}"
        candidate, n = base, 1
        while candidate in self.usernames:
            n += 1
            candidate = f"{base}{n}"
        self.usernames.add(candidate)
        return candidate


def _without_legal_form(company: str) -> str:
    for form in sorted(set(names.LEGAL_FORMS), key=len, reverse=True):
        if company.endswith(f" {form}"):
            return company.removesuffix(f" {form}")
    return company


def _shelf_price(value: float) -> Decimal:
    """Prices as a shop would print them: 6.49, 18.90, 189.00."""
    if value < 10:
        return Decimal(round(value * 2) / 2 or 0.5).quantize(Decimal("0.01")) - Decimal("0.01")
    if value < 100:
        return Decimal(round(value)).quantize(Decimal("0.01")) - Decimal("0.10")
    return Decimal(round(value)).quantize(Decimal("0.01"))


def _home_base(rng: random.Random, territory: Territory) -> tuple[float, float]:
    city = territory.city
    while True:
        if rng.random() < 0.5:
            lat, lon = offset(city.lat, city.lon, rng.gauss(0, 4), rng.gauss(0, 4))
        else:
            anchor = rng.choice(city.anchors[1:] or city.anchors)
            lat, lon = offset(anchor.lat, anchor.lon, rng.gauss(0, 1.5), rng.gauss(0, 1.5))
        if inside(lat, lon, territory.boundary) and haversine_km(city.lat, city.lon, lat, lon) < 25:
            return round(lat, 6), round(lon, 6)


def _place(rng: random.Random, territory: Territory) -> tuple[Anchor, tuple[float, float]]:
    """A point clustered on one of the territory's towns, inside its polygon and within
    ``MAX_ACCOUNT_DISTANCE_KM`` of the city centre."""
    city = territory.city
    while True:
        anchor = city.anchors[0] if rng.random() < 0.5 else rng.choice(city.anchors)
        spread = anchor.spread_km
        north, east = rng.gauss(0, spread), rng.gauss(0, spread)
        if math.hypot(north, east) > 3 * spread:
            continue
        lat, lon = offset(anchor.lat, anchor.lon, north, east)
        lat, lon = round(lat, 6), round(lon, 6)
        if (
            inside(lat, lon, territory.boundary)
            and haversine_km(city.lat, city.lon, lat, lon) <= MAX_ACCOUNT_DISTANCE_KM
        ):
            return anchor, (lat, lon)


def _leads(
    rng: random.Random, world: World, scale: float, now: datetime, seen: set[str]
) -> list[Row]:
    leads: list[Row] = []
    region_of = {t.id: t.region_id for t in world.territories}
    count = max(8, round(FULL_LEADS * scale))
    for n in range(count):
        territory = rng.choice(world.territories)
        anchor, (lat, lon) = _place(rng, territory)
        first, last = rng.choice(names.FIRST_NAMES), rng.choice(names.LAST_NAMES)
        created = now - timedelta(hours=rng.uniform(1, 24 * 21))
        company = company_name(rng, anchor.name, seen)
        source = rng.choices(("api", "import", "field"), (5, 3, 2))[0]
        captured_by = rng.choice(territory.reps).id if source == "field" else None
        row = syncable(
            created,
            company=company,
            contact_name=f"{first} {last}",
            email=f"{names.ascii_slug(first, '')}.{names.ascii_slug(last, '')}@example.de",
            phone=f"+49 {territory.city.area_code} {rng.randint(200000, 9999999)}",
            address_line=f"{rng.choice(names.STREETS)} {rng.randint(1, 180)}",
            city=anchor.name,
            postal_code=f"{rng.randint(*anchor.postal_codes):05d}",
            country="DE",
            lat=lat,
            lon=lon,
            notes=None,
            source=source,
            product_line=rng.choice(list(catalogue.LINES)),
            language=rng.choices(("de", "en", "tr", "pl"), (85, 9, 3, 3))[0],
            region_id=region_of[territory.id],
            status="new",
            captured_by_id=captured_by,
            assignee_id=None,
            assigned_at=None,
            assignment_kind=None,
            unassigned_reason=None,
            first_touch_due_at=None,
            contacted_at=None,
        )
        # The first leads cover both queues whatever the scale: unassigned, then assigned.
        unassigned = n % 5 < 2
        if unassigned:
            if stochastic_round(rng, 0.15):
                # Only a postal address: the geocoder has to place it.
                row.update(lat=None, lon=None)
        else:
            assignee = rng.choice(territory.reps)
            assigned_at = created + timedelta(minutes=rng.uniform(1, 30))
            status = rng.choices(("assigned", "contacted", "qualified"), (40, 35, 25))[0]
            contacted = (
                min(now, assigned_at + timedelta(hours=rng.uniform(2, 30)))
                if status != "assigned"
                else None
            )
            row.update(
                status=status,
                assignee_id=assignee.id,
                assigned_at=assigned_at,
                assignment_kind="auto",
                first_touch_due_at=assigned_at + timedelta(hours=24),
                contacted_at=contacted,
                updated_at=contacted or assigned_at,
            )
        leads.append(row)
    return leads
