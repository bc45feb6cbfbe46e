"""Fixtures the server's test areas share: the seeded world and a device of one of its users
on the sync door."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from server.settings import Settings
from tests.seed import World, seed_world, token_for
from tests.server.sync.device import Device
from tests.stores import Store


@pytest.fixture
def world(store: Store) -> World:
    return seed_world(store.url)


@pytest.fixture
def device_for(
    client: TestClient[Litestar], settings: Settings, world: World
) -> Callable[[str], Device]:
    def make(username: str) -> Device:
        token, device_id = token_for(settings, world.user(username), device_name=username)
        return Device(client=client, token=token, device_id=device_id)

    return make
