from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from server.attachments.blobs import LocalBlobStore
from server.settings import Settings
from sync.ids import new_id
from sync.messages import Applied, Result
from tests.conftest import make_settings
from tests.seed import World
from tests.server.sync.device import Device
from tests.stores import Store

PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9"


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.fixture
def settings(store: Store, tmp_path: Path) -> Settings:
    return make_settings(store, data_dir=str(tmp_path / "data"))


@pytest.fixture
def blobs(settings: Settings) -> LocalBlobStore:
    return LocalBlobStore(Path(settings.data_dir) / "attachments")


@dataclass
class Captured:
    visit_id: str
    attachment_id: str
    content: bytes


def meta(owner_entity: str, owner_id: str, content: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "owner_entity": owner_entity,
        "owner_id": owner_id,
        "file_name": "shelf.jpg",
        "media_type": "image/jpeg",
        "byte_size": len(content),
        "sha256": digest(content),
        "captured_at": "2026-12-07T10:00:00Z",
        **extra,
    }


def applied(results: list[Result]) -> None:
    assert all(isinstance(r, Applied) for r in results), results


@pytest.fixture
def capture(world: World) -> Callable[..., Captured]:
    """A visit on an account of ``territory`` (the rep's) with a photo's metadata, pushed."""

    def run(
        device: Device, content: bytes = PHOTO, territory: str = "N1", **extra: Any
    ) -> Captured:
        visit_id, attachment_id = new_id(), new_id()
        tx = new_id()
        account_id = world.accounts[territory][0]
        applied(
            device.push(
                device.upsert("visit", visit_id, {"account_id": account_id}, tx=tx),
                device.upsert(
                    "attachment", attachment_id, meta("visit", visit_id, content, **extra), tx=tx
                ),
            )
        )
        return Captured(visit_id, attachment_id, content)

    return run
