"""On the demo world, every rep and manager sees through REST exactly what a fresh device of
theirs receives through sync: the same records of every synced entity. The test world
(tests/server/test_doors_agree.py) covers the edge cases on purpose; this one covers the data
a new user meets after `make run`, generated rather than chosen."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.app import create_app
from server.auth.models import User
from server.demo import load_demo
from server.settings import Settings
from tests.conftest import make_settings
from tests.seed import auth_headers, run_db, token_for
from tests.server.sync.device import Device
from tests.server.test_doors_agree import SYNCED, bootstrap_ids, rest_ids
from tests.stores import PG_ENV, StoreFactory

pytestmark = pytest.mark.slow

SEED = 11
SCALE = 0.05


@dataclass
class DemoReaders:
    """The shape ``rest_ids`` and ``bootstrap_ids`` read: a client, and per user their REST
    headers and a device of their own."""

    client: TestClient[Litestar]
    settings: Settings
    users: list[str]
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ],
)
def demo_readers(
    request: pytest.FixtureRequest, store_factory: StoreFactory
) -> Iterator[DemoReaders]:
    if request.param == "postgres":
        if store_factory.pg_url is None:
            pytest.skip(f"PostgreSQL run skipped: set {PG_ENV}=postgresql+asyncpg://… to run it")
        store = store_factory.postgres()
    else:
        store = store_factory.sqlite()
    asyncio.run(load_demo(store.url, seed=SEED, scale=SCALE))

    async def people(session: AsyncSession) -> list[tuple[str, str]]:
        rows = await session.execute(
            select(User.username, User.id)
            .where(User.role.in_(("rep", "manager")), User.active.is_(True))
            .order_by(User.username)
        )
        return [(username, user_id) for username, user_id in rows]

    settings = make_settings(store)
    users = run_db(store.url, people)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        readers = DemoReaders(client, settings, [u for u, _ in users])
        for username, user_id in users:
            token, device_id = token_for(settings, user_id, device_name="reader")
            readers.headers[username] = auth_headers(token)
            readers.devices[username] = Device(client=client, token=token, device_id=device_id)
        yield readers
    store_factory.drop(store)


def test_every_demo_rep_and_manager_sees_on_rest_what_a_fresh_device_receives(
    demo_readers: DemoReaders,
) -> None:
    assert demo_readers.users, "the demo world has no reps or managers"
    differences: list[str] = []
    compared = 0
    for username in demo_readers.users:
        # DemoReaders has the shape the helpers read (client, headers, devices).
        rest = rest_ids(demo_readers, username)
        synced = bootstrap_ids(demo_readers, username)
        for entity in SYNCED:
            compared += len(rest[entity])
            only_rest, only_sync = rest[entity] - synced[entity], synced[entity] - rest[entity]
            if only_rest or only_sync:
                differences.append(
                    f"{username} {entity}: REST {len(rest[entity])}, bootstrap "
                    f"{len(synced[entity])}; only REST {sorted(only_rest)[:5]}, only bootstrap "
                    f"{sorted(only_sync)[:5]}"
                )
    assert compared > 0, "nothing was compared"
    assert not differences, "\n".join(differences)
