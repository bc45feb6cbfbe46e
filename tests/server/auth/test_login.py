from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Device
from server.settings import Settings
from tests.seed import auth_headers, run_db, seed_world
from tests.server.auth.helpers import audit_actions, login
from tests.stores import Store


def _device_count(url: str) -> int:
    async def work(session: AsyncSession) -> int:
        return int(await session.scalar(select(func.count()).select_from(Device)) or 0)

    return run_db(url, work)


def test_login_returns_tokens_bound_to_a_new_device(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    response = login(client, app_version="1.4.0")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["refresh_token"].startswith(f"flr_{body['device_id']}.")
    assert body["user"] == {
        "id": world.user("rep_n1"),
        "username": "rep_n1",
        "full_name": "Rep Hamburg",
        "role": "rep",
        "region_id": world.regions["NORTH"],
        "territory_id": world.territories["N1"],
        "price_list_id": world.price_list,
    }
    assert body["expires_at"].endswith("Z")
    me = client.get("/api/v1/devices", headers=auth_headers(body["access_token"]))
    assert [d["id"] for d in me.json()["items"]] == [body["device_id"]]
    assert me.json()["items"][0]["app_version"] == "1.4.0"


def test_login_with_a_known_device_id_reuses_that_device(
    client: TestClient[Litestar], store: Store
) -> None:
    seed_world(store.url)
    first = login(client).json()
    second = login(client, device_id=first["device_id"]).json()
    assert second["device_id"] == first["device_id"]
    assert _device_count(store.url) == 1


def test_login_with_another_users_device_id_registers_a_new_device(
    client: TestClient[Litestar], store: Store
) -> None:
    seed_world(store.url)
    theirs = login(client, username="rep_s1").json()
    mine = login(client, device_id=theirs["device_id"]).json()
    assert mine["device_id"] != theirs["device_id"]
    assert _device_count(store.url) == 2


def test_login_with_a_revoked_device_id_registers_a_new_device(
    client: TestClient[Litestar], store: Store
) -> None:
    seed_world(store.url)
    first = login(client).json()
    revoked = client.post(
        f"/api/v1/devices/{first['device_id']}/revoke",
        headers=auth_headers(first["access_token"]),
    )
    assert revoked.status_code == 200
    again = login(client, device_id=first["device_id"]).json()
    assert again["device_id"] != first["device_id"]


def test_wrong_password_and_unknown_user_get_the_same_401(
    client: TestClient[Litestar], store: Store
) -> None:
    seed_world(store.url)
    wrong = login(client, password="not the password")
    unknown = login(client, username="nobody")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "wrong username or password"
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert audit_actions(store.url) == ["auth.login_failed", "auth.login_failed"]


def test_a_deactivated_user_cannot_log_in(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    from tests.seed import token_for

    admin, _ = token_for(settings, world.user("admin"))
    off = client.patch(
        f"/api/v1/users/{world.user('rep_n1')}",
        headers=auth_headers(admin),
        json={"active": False},
    )
    assert off.status_code == 200
    assert login(client).status_code == 401


def test_login_writes_an_audit_entry(client: TestClient[Litestar], store: Store) -> None:
    seed_world(store.url)
    assert login(client).status_code == 200
    assert audit_actions(store.url) == ["auth.login"]


def test_login_body_with_an_unknown_field_is_400_naming_it(
    client: TestClient[Litestar], store: Store
) -> None:
    seed_world(store.url)
    response = login(client, remember_me=True)
    assert response.status_code == 400
    assert response.json()["field"] == "remember_me"
