from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import User
from server.auth.service import create_user_cli
from tests.seed import run_db
from tests.server.resources.conftest import Env


def _stored_hash(env: Env, username: str) -> str:
    async def work(session: AsyncSession) -> str:
        return str(
            await session.scalar(select(User.password_hash).where(User.username == username))
        )

    return run_db(env.store.url, work)


def test_a_rep_sees_only_themself_their_territory_and_region(env: Env) -> None:
    users = env.get("rep", "/users").json()["items"]
    assert [u["id"] for u in users] == [env.records.inside.rep]
    territories = env.get("rep", "/territories").json()["items"]
    assert [t["id"] for t in territories] == [env.records.inside.territory]
    regions = env.get("rep", "/regions").json()["items"]
    assert [r["id"] for r in regions] == [env.records.inside.region]


def test_a_manager_sees_the_users_of_their_region(env: Env) -> None:
    users = {u["username"] for u in env.get("manager", "/users", limit=200).json()["items"]}
    assert {"rep_n1", "rep_n2", "mgr_north"} <= users
    assert not users & {"rep_s1", "rep_s2", "mgr_south", "admin"}


def test_an_admin_creates_a_user_with_an_argon2id_hash(env: Env) -> None:
    response = env.post(
        "admin",
        "/users",
        {
            "username": "rep_n1b",
            "password": "a long enough password",
            "full_name": "New Rep",
            "role": "rep",
            "territory_id": env.records.inside.territory,
        },
    )
    assert response.status_code == 201, response.text
    user = response.json()
    assert user["region_id"] == env.records.inside.region  # follows from the territory
    assert "password" not in user and "password_hash" not in user
    assert _stored_hash(env, "rep_n1b").startswith("$argon2id$")


def test_a_rep_needs_a_territory_and_a_username_is_taken_once(env: Env) -> None:
    base = {"password": "a long enough password", "full_name": "X", "role": "rep"}
    missing = env.post("admin", "/users", {**base, "username": "rep_x"})
    assert missing.status_code == 400
    assert missing.json()["field"] == "territory_id"
    taken = env.post(
        "admin",
        "/users",
        {**base, "username": "rep_n1", "territory_id": env.records.inside.territory},
    )
    assert taken.status_code == 409
    assert taken.json()["field"] == "username"


def test_a_territory_must_sit_in_the_users_region(env: Env) -> None:
    response = env.post(
        "admin",
        "/users",
        {
            "username": "mismatch",
            "password": "a long enough password",
            "full_name": "X",
            "role": "rep",
            "region_id": env.records.outside.region,
            "territory_id": env.records.inside.territory,
        },
    )
    assert response.status_code == 400
    assert response.json()["field"] == "territory_id"


def test_a_short_password_is_refused_naming_the_field(env: Env) -> None:
    response = env.post(
        "admin",
        "/users",
        {"username": "shorty", "password": "short", "full_name": "X", "role": "admin"},
    )
    assert response.status_code == 400
    assert response.json()["field"] == "password"


def test_an_admin_creates_regions_and_territories(env: Env) -> None:
    region = env.post(
        "admin", "/regions", {"code": "WEST", "name": "West", "timezone": "Europe/Berlin"}
    )
    assert region.status_code == 201, region.text
    territory = env.post(
        "admin", "/territories", {"region_id": region.json()["id"], "code": "W1", "name": "Cologne"}
    )
    assert territory.status_code == 201
    twin = env.post("admin", "/regions", {"code": "WEST", "name": "West again"})
    assert twin.status_code == 409
    assert twin.json()["field"] == "code"


def test_an_unknown_time_zone_is_400(env: Env) -> None:
    response = env.post(
        "admin", "/regions", {"code": "MOON", "name": "Moon", "timezone": "Moon/Base"}
    )
    assert response.status_code == 400
    assert response.json()["field"] == "timezone"


def test_the_cli_creates_a_user_and_refuses_duplicates_and_unknown_codes(env: Env) -> None:
    user_id = asyncio.run(
        create_user_cli(
            env.settings,
            username="cli_rep",
            password="a long enough password",
            role="rep",
            full_name="CLI Rep",
            region_code=None,
            territory_code="N2",
        )
    )
    assert (
        env.get("admin", f"/users/{user_id}").json()["territory_id"]
        == env.records.world.territories["N2"]
    )
    with pytest.raises(SystemExit, match="taken"):
        asyncio.run(
            create_user_cli(
                env.settings,
                username="cli_rep",
                password="a long enough password",
                role="rep",
                full_name="Twin",
                region_code=None,
                territory_code="N2",
            )
        )
    with pytest.raises(SystemExit, match="no region with code 'ATLANTIS'"):
        asyncio.run(
            create_user_cli(
                env.settings,
                username="lost",
                password="a long enough password",
                role="manager",
                full_name="Lost",
                region_code="ATLANTIS",
                territory_code=None,
            )
        )
