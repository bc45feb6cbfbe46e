"""Right to be forgotten, end to end: a real server process, a rep's device holding a contact
(with a consent, an answered edit and an edit still pending), an admin's erasure over HTTP,
then the device's next sync. Afterwards no personal value of the contact is anywhere on the
device (any table, the outbox and conflicts included, nor the file's bytes) nor in the
server's sync history, the pending edit was refused with its reason kept, and the contact's
consent reads withdrawn for every purpose, on the device as over REST."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from client_sdk import FieldClient
from sync.rules import PURPOSES
from tests.live import live_server
from tests.seed import PASSWORD, run_db, seed_world
from tests.server.privacy.helpers import places_holding
from tests.stores import Store

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Values only this contact holds: none may survive the erasure.
SECRETS = ("Quistorp", "zelda.q@example.org", "5550199", "5550123", "Hedwig")


def _login(url: str, username: str) -> dict[str, str]:
    response = httpx.post(
        f"{url}/api/v1/auth/login",
        json={"username": username, "password": PASSWORD, "device_name": "browser"},
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _device_holdings(path: Path) -> list[str]:
    """Every (table, column) of the device's store whose value mentions a secret."""
    found = []
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            for row in conn.execute(f"SELECT * FROM {table}"):
                for column, value in zip(columns, row, strict=True):
                    text = (
                        value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    )
                    found += [f"{table}.{column}: {s}" for s in SECRETS if s in text]
    return found


def _file_holdings(path: Path) -> list[str]:
    found = []
    for file in (path, path.with_name(path.name + "-wal")):
        if file.exists():
            data = file.read_bytes()
            found += [f"{file.name}: {s}" for s in SECRETS if s.encode() in data]
    return found


def test_an_erased_contact_leaves_every_device_on_its_next_sync(
    store: Store, tmp_path: Path
) -> None:
    world = seed_world(store.url)
    account = world.accounts["N1"][0]
    store_path = tmp_path / "rep.db"
    with (
        live_server(store.url, tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        device = FieldClient(store_path, http)
        device.login("rep_n1", PASSWORD, device_name="tablet")
        device.sync()
        contact = device.add_contact(
            account,
            "Zelda",
            "Quistorp",
            email="zelda.q@example.org",
            phone="+49 40 5550199",
            notes="Prefers calls after four; ask about Hedwig",
        )
        device.record_consent("email_marketing", "given", contact_id=contact.id)
        device.record_consent("phone_calls", "given", contact_id=contact.id, channel="phone")
        device.sync()
        assert device.consent(contact_id=contact.id)["email_marketing"] == "given"
        device.edit_contact(contact.id, title="Einkauf")
        device.sync()  # an answered edit: the server's history holds it too
        # Offline, the rep corrects the number; the edit waits in the outbox.
        device.edit_contact(contact.id, phone="+49 40 5550123")

        admin = _login(server.url, "admin")
        erasure = httpx.post(
            f"{server.url}/api/v1/privacy/subjects/contact/{contact.id}/erasure", headers=admin
        )
        assert erasure.status_code == 200, erasure.text
        assert erasure.json()["records"] == {"contact": 1}

        report = device.sync()
        assert report.rejected == 1
        (refused,) = device.rejected()
        assert (refused.entity, refused.record_id, refused.reason) == (
            "contact",
            contact.id,
            "deleted",
        )
        assert "was deleted" in refused.detail
        assert set(refused.fields) == {"phone"}  # what was refused is still named
        assert device.records.get("contact", contact.id) is None
        assert device.consent(contact_id=contact.id) == dict.fromkeys(PURPOSES, "withdrawn")
        device.close()

        over_rest = httpx.get(
            f"{server.url}/api/v1/privacy/subjects/contact/{contact.id}/export", headers=admin
        ).json()
        assert over_rest["consent"]["current"] == dict.fromkeys(PURPOSES, "withdrawn")
        assert over_rest["subject"]["erased_at"] is not None

    assert _device_holdings(store_path) == []
    assert _file_holdings(store_path) == []

    async def server_side(session: object) -> list[str]:
        return [hit for s in SECRETS for hit in await places_holding(session, s)]  # type: ignore[arg-type]

    assert run_db(store.url, server_side) == []
