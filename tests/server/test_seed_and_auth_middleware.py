from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from server.settings import Settings
from tests.seed import auth_headers, seed_world, token_for
from tests.stores import Store


def test_a_valid_token_authenticates_and_a_garbled_one_is_401(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    token, _ = token_for(settings, world.user("rep_n1"))
    bad = client.get("/health/live", headers=auth_headers(token + "x"))
    assert bad.status_code == 401
    assert bad.headers["content-type"].startswith("application/problem+json")
    good = client.get("/health/live", headers=auth_headers(token))
    assert good.status_code == 200
