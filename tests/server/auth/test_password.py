from __future__ import annotations

from argon2 import PasswordHasher, Type, extract_parameters
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import passwords
from server.auth.models import User
from server.settings import Settings
from tests.seed import PASSWORD, auth_headers, run_db, seed_world, token_for
from tests.server.auth.helpers import audit_actions, login
from tests.stores import Store

NEW = "a brand new passphrase"


def _change(client: TestClient[Litestar], token: str, current: str, new: str) -> object:
    return client.post(
        "/api/v1/auth/password",
        headers=auth_headers(token),
        json={"current_password": current, "new_password": new},
    )


def test_changing_the_password_ends_other_devices_but_not_this_one(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    here = login(client).json()
    other, _ = token_for(settings, world.user("rep_n1"), device_name="old phone")
    assert _change(client, here["access_token"], PASSWORD, NEW).status_code == 204
    assert (
        client.get("/api/v1/devices", headers=auth_headers(here["access_token"])).status_code == 200
    )
    assert client.get("/api/v1/devices", headers=auth_headers(other)).status_code == 401
    assert login(client).status_code == 401
    assert login(client, password=NEW).status_code == 200
    assert "auth.password_changed" in audit_actions(store.url)


def test_a_wrong_current_password_is_400_naming_it(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    token, _ = token_for(settings, world.user("rep_n1"))
    response = _change(client, token, "not it", NEW)
    assert response.status_code == 400
    assert response.json()["field"] == "current_password"
    assert login(client).status_code == 200


def test_a_new_password_under_ten_characters_is_400(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    token, _ = token_for(settings, world.user("rep_n1"))
    response = _change(client, token, PASSWORD, "short")
    assert response.status_code == 400
    assert response.json()["field"] == "new_password"


def test_a_hash_made_with_other_argon2_parameters_still_signs_in_and_is_replaced(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    older = PasswordHasher(time_cost=1, memory_cost=16, parallelism=2).hash(PASSWORD)

    async def stored(session: AsyncSession, value: str | None = None) -> str:
        user = await session.get(User, world.user("rep_n1"))
        assert user is not None
        if value is not None:
            user.password_hash = value
            await session.commit()
        return user.password_hash

    run_db(store.url, lambda session: stored(session, older))
    assert login(client).status_code == 200
    now = run_db(store.url, stored)
    assert now != older and not passwords.needs_rehash(now)
    assert passwords.verify_password(now, PASSWORD)


def test_production_hashes_use_owasps_argon2id_configuration() -> None:
    # The timing-equaliser hash is made at import by the production hasher (tests swap in a
    # cheaper one afterwards).
    params = extract_parameters(passwords._DUMMY_HASH)
    assert (params.type, params.memory_cost, params.time_cost, params.parallelism) == (
        Type.ID,
        19 * 1024,
        2,
        1,
    )
