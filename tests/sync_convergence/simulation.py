"""A seeded day in the field: reps' devices edit offline and sync through a faulty network, a
manager and the back office write on the server, the server restarts; then every device syncs
until caught up, so the end state can be compared with the server's.

Devices (each a real ``client_sdk.FieldClient`` over its own SQLite file, logged in through the
real login endpoint): two tablets of rep_n1 and two of rep_n2 (neighbouring territories of one
region), one of rep_s1 (the other region), and the North manager's tablet, which only reads.
Values come from small pools so that writers collide on the same fields and values often.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from client_sdk import FieldClient, MemoryTokenStore, RetryPolicy, Tokens
from client_sdk.errors import LocalRuleViolation, NetworkUnavailable
from client_sdk.records import Record
from server.accounts.models import Contact
from server.orders.models import Order
from server.settings import Settings
from server.tickets.models import Ticket
from sync.machines import allowed_next
from tests.seed import PASSWORD, World, auth_headers, run_db, seed_world, token_for
from tests.sync_convergence.ledger import Ledger
from tests.sync_convergence.network import BASE_URL, Faults, FaultyTransport, ServerHandle

__all__ = ["DEVICES", "SimDevice", "Simulation"]

DEVICES = (
    ("n1a", "rep_n1"),
    ("n1b", "rep_n1"),
    ("n2a", "rep_n2"),
    ("n2b", "rep_n2"),
    ("s1", "rep_s1"),
    ("mgr", "mgr_north"),
)

PHONES = ("+49 40 100", "+49 40 200", "+49 40 300")
NOTES = ("call back", "prefers email", "closed Mondays", "new buyer", None)
EMAILS = ("buyer@example.de", "office@example.de", "info@example.de")
CITIES = ("Hamburg", "Bremen", "Lübeck")
NAMES = ("Alpha GmbH", "Beta AG", "Gamma KG")
TITLES = ("Buyer", "Owner", "Head of Purchasing", None)
FIRST = ("Ada", "Grace", "Linus", "Ken")
ACCOUNT_VALUES: dict[str, tuple[Any, ...]] = {
    "phone": PHONES,
    "notes": NOTES,
    "email": EMAILS,
    "city": CITIES,
    "name": NAMES,
}
CONTACT_VALUES: dict[str, tuple[Any, ...]] = {
    "phone": PHONES,
    "notes": NOTES,
    "email": EMAILS,
    "title": TITLES,
    "first_name": FIRST,
}


@dataclass
class SimDevice:
    label: str
    username: str
    client: FieldClient
    transport: FaultyTransport
    http: httpx.Client
    device_id: str = ""
    user_id: str = ""
    stats: dict[str, int] = field(
        default_factory=lambda: {"edits": 0, "refused_locally": 0, "syncs": 0, "offline": 0}
    )

    @property
    def edits_offline(self) -> bool:
        return self.username.startswith("rep_")


class Simulation:
    def __init__(
        self, settings: Settings, workdir: Path, *, seed: int, steps: int, page_limit: int = 40
    ) -> None:
        self.settings = settings
        self.url = settings.database_url
        self.seed = seed
        self.steps = steps
        self.rng = random.Random(seed)
        self.world: World = seed_world(self.url, accounts_per_territory=3)
        self.ledger = Ledger()
        self.server = ServerHandle(settings)
        self.server.start()
        self.manager_token, _ = token_for(
            settings, self.world.user("mgr_north"), device_name="manager-desk"
        )
        self.devices: list[SimDevice] = []
        self.log: list[str] = []
        for number, (label, username) in enumerate(DEVICES):
            transport = FaultyTransport(
                self.server, self.ledger, label, random.Random(self.rng.random())
            )
            http = httpx.Client(base_url=BASE_URL, transport=transport)
            client = FieldClient(
                workdir / f"{label}.db",
                http,
                token_store=MemoryTokenStore(),
                retry=RetryPolicy(attempts=4, base_s=0.0, cap_s=0.0),
                sleep=lambda _s: None,
                page_limit=page_limit,
            )
            device = SimDevice(label, username, client, transport, http)
            if number == 0:
                client.login(username, PASSWORD, device_name=label)
            else:
                # Logging in hashes a password (slow on purpose); one real login is enough.
                self.sign_in(client, username, label)
            device.device_id = str(client.store.get_meta("device_id"))
            device.user_id = self.world.user(username)
            self.ledger.labels[device.device_id] = label
            client.sync()
            self.devices.append(device)

    def sign_in(self, client: FieldClient, username: str, label: str) -> None:
        """What a login leaves on a device, with a token minted for a newly registered one."""
        token, device_id = token_for(self.settings, self.world.user(username), device_name=label)
        client.tokens.save(
            Tokens(
                access_token=token,
                refresh_token="unused",
                expires_at=datetime.now(UTC) + timedelta(seconds=self.settings.access_token_ttl_s),
                device_id=device_id,
            )
        )
        code = username.split("_", 1)[1].upper()
        territory = self.world.territories.get(code)
        region = (
            self.world.regions.get(code)
            or self.world.regions["NORTH" if code.startswith("N") else "SOUTH"]
        )
        with client.store.atomic():
            client.store.set_meta("device_id", device_id)
            client.store.set_meta(
                "user",
                {
                    "id": self.world.user(username),
                    "username": username,
                    "full_name": username,
                    "role": "manager" if username.startswith("mgr_") else "rep",
                    "region_id": region,
                    "territory_id": territory,
                    "price_list_id": self.world.price_list,
                },
            )

    def close(self) -> None:
        for device in self.devices:
            device.client.close()
            device.http.close()
        self.server.stop()

    # The run -----------------------------------------------------------------------------------
    def run(self) -> None:
        restart_at = self.rng.randrange(self.steps // 3, 2 * self.steps // 3 + 1)
        for step in range(self.steps):
            if step == restart_at or self.rng.random() < 0.01:
                self.note(step, "server restart")
                self.server.restart()
                continue
            roll = self.rng.random()
            if roll < 0.55:
                self.device_edit(step)
            elif roll < 0.85:
                self.device_sync(step, self.rng.choice(self.devices), Faults.random(self.rng))
            else:
                self.server_write(step)
        self.settle()

    def settle(self) -> None:
        """Two final rounds on a healthy network: every device syncs until nothing is left to
        send; the second round delivers what the first round's pushes caused (conflict notices,
        re-fetches) to the devices that synced before them."""
        for round_no in (1, 2):
            order = list(self.devices)
            self.rng.shuffle(order)
            for device in order:
                for _ in range(3):
                    self.device_sync(-round_no, device, Faults.none())
                    if device.client.outbox.pending_count() == 0:
                        break

    def note(self, step: int, text: str) -> None:
        self.log.append(f"[{step}] {text}")

    def device_sync(self, step: int, device: SimDevice, faults: Faults) -> None:
        device.transport.faults = faults
        device.stats["syncs"] += 1
        try:
            device.client.sync()
        except NetworkUnavailable:
            device.stats["offline"] += 1
            self.note(step, f"{device.label} sync: network gave up ({faults})")
            return
        except Exception as exc:
            raise AssertionError(
                f"seed {self.seed} step {step}: {device.label} sync failed with "
                f"{type(exc).__name__}: {exc}\nrecent events:\n" + "\n".join(self.log[-15:])
            ) from exc
        finally:
            device.transport.faults = Faults.none()
        self.note(step, f"{device.label} synced ({faults})")

    # Device edits ------------------------------------------------------------------------------
    def device_edit(self, step: int) -> None:
        device = self.rng.choice([d for d in self.devices if d.edits_offline])
        name, action = self.rng.choice(_ACTIONS)
        try:
            done = action(self, device.client)
        except LocalRuleViolation as exc:
            device.stats["refused_locally"] += 1
            self.note(step, f"{device.label} {name}: refused locally ({exc})")
            return
        if done is None:
            return
        device.stats["edits"] += 1
        self.note(step, f"{device.label} {name} {done}")

    def pick(self, records: list[Record]) -> Record | None:
        return self.rng.choice(records) if records else None

    def value(self, pool: tuple[Any, ...]) -> Any:
        return self.rng.choice(pool)

    # Server-side writes ------------------------------------------------------------------------
    def server_write(self, step: int) -> None:
        name, action = self.rng.choice(_SERVER_ACTIONS)
        done = action(self)
        if done is not None:
            self.note(step, f"server {name} {done}")

    def north_accounts(self) -> list[str]:
        return [*self.world.accounts["N1"], *self.world.accounts["N2"]]

    def territory_code(self, territory_id: str) -> str:
        return next(c for c, t in self.world.territories.items() if t == territory_id)

    def clock_of(self, entity_model: Any, record_id: str, name: str) -> tuple[str, int]:
        async def work(session: AsyncSession) -> tuple[str, int]:
            obj = await session.get(entity_model, record_id)
            assert obj is not None
            hlc, version = obj.field_clocks[name]
            return str(hlc), int(version)

        return run_db(self.url, work)


# Device actions: each takes the simulation and a client, makes one local change (one client
# transaction) and describes it, or returns None when there was nothing to act on.
Action = Callable[[Simulation, FieldClient], str | None]


def _edit_account(sim: Simulation, client: FieldClient) -> str | None:
    account = sim.pick(client.accounts())
    if account is None:
        return None
    name = sim.rng.choice(list(ACCOUNT_VALUES))
    value = sim.value(ACCOUNT_VALUES[name])
    client.edit_account(account.id, **{name: value})
    return f"account {account.id[-6:]} {name}={value!r}"


def _add_contact(sim: Simulation, client: FieldClient) -> str | None:
    account = sim.pick(client.accounts())
    if account is None:
        return None
    contact = client.add_contact(
        account.id, sim.value(FIRST), "Buyer", phone=sim.value(PHONES), title=sim.value(TITLES)
    )
    return f"contact {contact.id[-6:]} on account {account.id[-6:]}"


def _edit_contact(sim: Simulation, client: FieldClient) -> str | None:
    contact = sim.pick(client.records.all("contact"))
    if contact is None:
        return None
    name = sim.rng.choice(list(CONTACT_VALUES))
    value = sim.value(CONTACT_VALUES[name])
    client.edit_contact(contact.id, **{name: value})
    return f"contact {contact.id[-6:]} {name}={value!r}"


def _delete_contact(sim: Simulation, client: FieldClient) -> str | None:
    contact = sim.pick(client.records.all("contact"))
    if contact is None:
        return None
    with client.outbox.transaction() as tx:
        tx.delete("contact", contact.id)
    return f"contact {contact.id[-6:]} deleted"


def _lines(sim: Simulation) -> list[tuple[str, int]]:
    products = sim.rng.sample(sim.world.products, sim.rng.randint(1, 3))
    return [(p, sim.rng.randint(1, 5)) for p in products]


def _create_order(sim: Simulation, client: FieldClient) -> str | None:
    account = sim.pick(client.accounts())
    if account is None:
        return None
    order = client.create_order(account.id, notes=sim.value(NOTES), lines=_lines(sim))
    return f"draft order {order.id[-6:]}"


def _take_order(sim: Simulation, client: FieldClient) -> str | None:
    account = sim.pick(client.accounts())
    if account is None:
        return None
    order = client.take_order(account.id, _lines(sim))
    return f"submitted order {order.id[-6:]}"


def _drafts(client: FieldClient) -> list[Record]:
    return [o for o in client.orders() if o.get("status") == "draft"]


def _change_draft(sim: Simulation, client: FieldClient) -> str | None:
    order = sim.pick(_drafts(client))
    if order is None:
        return None
    lines = client.order_lines(order.id)
    roll = sim.rng.random()
    if roll < 0.35 or not lines:
        client.add_line(order.id, sim.rng.choice(sim.world.products), sim.rng.randint(1, 4))
        return f"order {order.id[-6:]}: line added"
    line = sim.rng.choice(lines)
    if roll < 0.7:
        client.update_line(
            line.id, quantity=sim.rng.randint(1, 6), discount_pct=sim.rng.choice(("0", "5", "10"))
        )
        return f"order {order.id[-6:]}: line {line.id[-6:]} changed"
    client.remove_line(line.id)
    return f"order {order.id[-6:]}: line {line.id[-6:]} removed"


def _submit_or_cancel(sim: Simulation, client: FieldClient) -> str | None:
    order = sim.pick(_drafts(client))
    if order is None:
        return None
    if sim.rng.random() < 0.75:
        client.submit_order(order.id)
        return f"order {order.id[-6:]} submitted"
    client.cancel_order(order.id)
    return f"order {order.id[-6:]} cancelled"


def _ticket(sim: Simulation, client: FieldClient) -> str | None:
    tickets = client.tickets()
    roll = sim.rng.random()
    if roll < 0.35 or not tickets:
        account = sim.pick(client.accounts())
        if account is None:
            return None
        ticket = client.open_ticket(account.id, sim.value(("Broken", "Late delivery", "Invoice")))
        return f"ticket {ticket.id[-6:]} opened"
    ticket = sim.rng.choice(tickets)
    if roll < 0.7:
        client.comment(ticket.id, sim.value(("on it", "waiting for parts", "done")))
        return f"ticket {ticket.id[-6:]} commented"
    moves = allowed_next("ticket", str(ticket.get("status")), "device")
    if not moves:
        return None
    status = sim.rng.choice(moves)
    client.move_ticket(ticket.id, status)
    return f"ticket {ticket.id[-6:]} → {status}"


def _visit(sim: Simulation, client: FieldClient) -> str | None:
    visits = client.visits()
    roll = sim.rng.random()
    if roll < 0.4 or not visits:
        account = sim.pick(client.accounts())
        if account is None:
            return None
        visit = client.plan_visit(account.id, date.today(), purpose=sim.value(NOTES))
        return f"visit {visit.id[-6:]} planned"
    visit = sim.rng.choice(visits)
    status = visit.get("status")
    if status == "planned" and roll < 0.7:
        account = client.get("account", str(visit.get("account_id")))
        lat = float(account.get("lat") or 53.55) if account else 53.55
        lon = float(account.get("lon") or 9.99) if account else 9.99
        client.check_in(visit.id, lat=lat, lon=lon, accuracy_m=10.0)
        return f"visit {visit.id[-6:]} checked in"
    if status == "in_progress" and roll < 0.8:
        at = datetime.now(UTC) + timedelta(minutes=20)
        client.check_out(visit.id, outcome="order_taken", notes=sim.value(NOTES), at=at)
        return f"visit {visit.id[-6:]} checked out"
    if status in ("planned", "in_progress") and roll < 0.85:
        client.cancel_visit(visit.id)
        return f"visit {visit.id[-6:]} cancelled"
    client.add_visit_note(visit.id, sim.value(("good talk", "bring samples", "no one there")))
    return f"visit {visit.id[-6:]} note"


_ACTIONS: tuple[tuple[str, Action], ...] = (
    ("edit_account", _edit_account),
    ("edit_account", _edit_account),
    ("edit_account", _edit_account),
    ("add_contact", _add_contact),
    ("edit_contact", _edit_contact),
    ("edit_contact", _edit_contact),
    ("delete_contact", _delete_contact),
    ("create_order", _create_order),
    ("take_order", _take_order),
    ("change_draft", _change_draft),
    ("submit_or_cancel", _submit_or_cancel),
    ("ticket", _ticket),
    ("visit", _visit),
)


# Server-side writes: the North manager through the REST API, and ORM writes standing for the
# back office and an admin (captured into the change log like any server write).
ServerAction = Callable[[Simulation], str | None]


def _manager_edits_account(sim: Simulation) -> str | None:
    from server.accounts.models import Account

    account_id = sim.rng.choice(sim.north_accounts())
    http = sim.server.http
    headers = auth_headers(sim.manager_token)
    current = http.get(f"/api/v1/accounts/{account_id}", headers=headers)
    assert current.status_code == 200, current.text
    name = sim.rng.choice([n for n in ACCOUNT_VALUES if n != "notes"])
    choices = [v for v in ACCOUNT_VALUES[name] if v != current.json()[name]]
    value = sim.rng.choice(choices)
    response = http.patch(f"/api/v1/accounts/{account_id}", json={name: value}, headers=headers)
    assert response.status_code == 200, response.text
    sim.ledger.server_write(
        "account", account_id, name, value, sim.clock_of(Account, account_id, name), "rest"
    )
    return f"manager: account {account_id[-6:]} {name}={value!r}"


def _manager_moves_account(sim: Simulation) -> str | None:
    account_id = sim.rng.choice(sim.north_accounts())
    http = sim.server.http
    headers = auth_headers(sim.manager_token)
    current = http.get(f"/api/v1/accounts/{account_id}", headers=headers)
    assert current.status_code == 200, current.text
    here = sim.territory_code(current.json()["territory_id"])
    there = "N2" if here == "N1" else "N1"
    response = http.patch(
        f"/api/v1/accounts/{account_id}",
        json={"territory_id": sim.world.territories[there]},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return f"manager: account {account_id[-6:]} moved {here} → {there}"


def _admin_edits_contact(sim: Simulation) -> str | None:
    name = sim.rng.choice(list(CONTACT_VALUES))
    rng = random.Random(sim.rng.random())

    async def work(session: AsyncSession) -> tuple[str, Any, tuple[str, int]] | None:
        contacts = list(
            (await session.execute(select(Contact).where(Contact.deleted_at.is_(None)))).scalars()
        )
        if not contacts:
            return None
        contact = rng.choice(sorted(contacts, key=lambda c: c.id))
        value = rng.choice([v for v in CONTACT_VALUES[name] if v != getattr(contact, name)])
        setattr(contact, name, value)
        await session.flush()
        hlc, version = contact.field_clocks[name]
        return contact.id, value, (str(hlc), int(version))

    done = run_db(sim.url, work)
    if done is None:
        return None
    contact_id, value, clock = done
    sim.ledger.server_write("contact", contact_id, name, value, clock, "orm")
    return f"admin: contact {contact_id[-6:]} {name}={value!r}"


def _admin_deletes_contact(sim: Simulation) -> str | None:
    rng = random.Random(sim.rng.random())

    async def work(session: AsyncSession) -> tuple[str, int] | None:
        contacts = list(
            (await session.execute(select(Contact).where(Contact.deleted_at.is_(None)))).scalars()
        )
        if not contacts:
            return None
        contact = rng.choice(sorted(contacts, key=lambda c: c.id))
        contact.deleted_at = datetime.now(UTC)
        await session.flush()
        return contact.id, contact.version

    done = run_db(sim.url, work)
    if done is None:
        return None
    sim.ledger.server_deletes.append(("contact", done[0], done[1]))
    return f"admin: contact {done[0][-6:]} deleted"


def _back_office_decides_order(sim: Simulation) -> str | None:
    rng = random.Random(sim.rng.random())

    async def work(session: AsyncSession) -> str | None:
        orders = list(
            (await session.execute(select(Order).where(Order.status == "submitted"))).scalars()
        )
        if not orders:
            return None
        order = rng.choice(sorted(orders, key=lambda o: o.id))
        order.status = rng.choice(("accepted", "accepted", "rejected"))
        order.status_changed_at = datetime.now(UTC)
        if order.status == "accepted":
            order.erp_ref = f"ERP-{rng.randrange(10**6):06d}"
        else:
            order.status_reason = "credit limit"
        return f"order {order.id[-6:]} {order.status}"

    return run_db(sim.url, work)


def _service_moves_ticket(sim: Simulation) -> str | None:
    rng = random.Random(sim.rng.random())

    async def work(session: AsyncSession) -> str | None:
        tickets = sorted((await session.execute(select(Ticket))).scalars(), key=lambda t: t.id)
        movable = [t for t in tickets if allowed_next("ticket", t.status, "server")]
        if not movable:
            return None
        ticket = rng.choice(movable)
        ticket.status = rng.choice(allowed_next("ticket", ticket.status, "server"))
        return f"ticket {ticket.id[-6:]} → {ticket.status}"

    return run_db(sim.url, work)


_SERVER_ACTIONS: tuple[tuple[str, ServerAction], ...] = (
    ("manager_edits_account", _manager_edits_account),
    ("manager_edits_account", _manager_edits_account),
    ("manager_edits_account", _manager_edits_account),
    ("manager_moves_account", _manager_moves_account),
    ("admin_edits_contact", _admin_edits_contact),
    ("admin_edits_contact", _admin_edits_contact),
    ("admin_deletes_contact", _admin_deletes_contact),
    ("back_office_decides_order", _back_office_decides_order),
    ("service_moves_ticket", _service_moves_ticket),
)
