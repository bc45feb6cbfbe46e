"""Fixtures for the SDK's own tests: a device store that is "logged in" without a server, and
helpers to put server state into it the way a pull would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client_sdk import FieldClient, MemoryTokenStore
from sync.ids import new_id

REP_ID = "01900000-0000-7000-8000-00000000f001"
DEVICE_ID = "device-0001"


def pretend_logged_in(client: FieldClient, *, user_id: str = REP_ID) -> None:
    with client.store.atomic():
        client.store.set_meta("device_id", DEVICE_ID)
        client.store.set_meta(
            "user",
            {
                "id": user_id,
                "username": "rep",
                "full_name": "Rep",
                "role": "rep",
                "region_id": "region-1",
                "territory_id": "territory-1",
            },
        )


def server_record(
    client: FieldClient, entity: str, fields: dict[str, Any], *, version: int = 1
) -> str:
    """Store a record as if a pull had delivered it; returns its id."""
    record_id = str(fields.get("id") or new_id())
    with client.store.atomic():
        client.records.apply_server(
            entity, record_id, version, {**fields, "id": record_id}, pending=False
        )
    return record_id


@pytest.fixture
def device(tmp_path: Path) -> Iterator[FieldClient]:
    client = FieldClient(tmp_path / "rep.db", token_store=MemoryTokenStore())
    pretend_logged_in(client)
    yield client
    client.close()
