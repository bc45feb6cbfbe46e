from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import ApiKey
from server.auth.tokens import digest
from server.settings import Settings
from tests.seed import auth_headers, run_db, seed_world, token_for
from tests.server.auth.helpers import audit_actions
from tests.stores import Store


def _admin(client: TestClient[Litestar], store: Store, settings: Settings) -> dict[str, str]:
    world = seed_world(store.url)
    token, _ = token_for(settings, world.user("admin"))
    return auth_headers(token)


def test_a_new_key_is_shown_once_and_stored_only_as_a_digest(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    admin = _admin(client, store, settings)
    created = client.post(
        "/api/v1/api-keys", headers=admin, json={"name": "ERP", "scopes": ["orders:read"]}
    )
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith(f"flk_{body['prefix']}_")
    listed = client.get("/api/v1/api-keys", headers=admin).json()["items"]
    assert [k["id"] for k in listed] == [body["id"]]
    assert "key" not in listed[0] and "key_hash" not in listed[0]

    async def stored(session: AsyncSession) -> ApiKey:
        return (await session.execute(select(ApiKey))).scalar_one()

    row = run_db(store.url, stored)
    assert row.key_hash == digest(body["key"])
    assert body["key"] not in repr(vars(row))


def test_a_key_works_within_its_scopes_until_revoked(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    admin = _admin(client, store, settings)
    body = client.post(
        "/api/v1/api-keys", headers=admin, json={"name": "ERP", "scopes": ["orders:read"]}
    ).json()
    key = {"X-API-Key": body["key"]}
    assert client.get("/api/v1/orders", headers=key).status_code == 200
    assert client.get("/api/v1/tickets", headers=key).status_code == 403
    revoked = client.post(f"/api/v1/api-keys/{body['id']}/revoke", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert client.get("/api/v1/orders", headers=key).status_code == 401
    assert audit_actions(store.url) == ["api_key.created", "api_key.revoked"]


def test_an_unknown_scope_is_400(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    admin = _admin(client, store, settings)
    response = client.post(
        "/api/v1/api-keys", headers=admin, json={"name": "ERP", "scopes": ["everything"]}
    )
    assert response.status_code == 400
    assert response.json()["field"] == "scopes[0]"
