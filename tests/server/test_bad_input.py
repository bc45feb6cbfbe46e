"""Bad input is refused with a problem+json naming what was wrong, and a refused request leaves
the database exactly as it was (one transaction per request)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import server.db.models  # noqa: F401  (every table in the metadata)
from server.app import create_app
from server.db.base import Base
from tests.seed import run_db
from tests.server.resources.conftest import Env, env

__all__ = ["env"]

# The middleware stamps an API key's last use, which is not the request's own write.
_IGNORED_TABLES = {"api_keys"}


def _snapshot(url: str) -> dict[str, list[str]]:
    async def work(session: AsyncSession) -> dict[str, list[str]]:
        dump: dict[str, list[str]] = {}
        for table in Base.metadata.sorted_tables:
            if table.name in _IGNORED_TABLES:
                continue
            rows = await session.execute(select(table))
            dump[table.name] = sorted(repr(tuple(row)) for row in rows)
        return dump

    return run_db(url, work)


@pytest.fixture
def unchanged(env: Env) -> Iterator[None]:
    """Asserts, after the test, that the database holds exactly what it held before."""
    before = _snapshot(env.store.url)
    yield
    assert _snapshot(env.store.url) == before


def _problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://fieldline.dev/problems/")
    if field is not None:
        assert body.get("field") == field, body
    return body


def _raw(env: Env, method: str, path: str, content: bytes, caller: str = "rep") -> Any:
    headers = {**env.callers[caller], "content-type": "application/json"}
    return env.client.request(method, f"/api/v1{path}", headers=headers, content=content)


def test_malformed_json_is_400(env: Env, unchanged: None) -> None:
    body = _problem(_raw(env, "POST", "/accounts", b'{"name": "Half'), 400)
    assert "JSON" in body["detail"]


def test_a_json_array_where_an_object_belongs_is_400(env: Env, unchanged: None) -> None:
    _problem(_raw(env, "POST", "/accounts", b'["name"]'), 400)


def test_a_wrong_type_is_400_naming_the_field(env: Env, unchanged: None) -> None:
    response = env.post(
        "rep",
        "/orders",
        {
            "account_id": env.records.inside.account,
            "lines": [{"product_id": env.records.world.products[0], "quantity": "3"}],
        },
    )
    body = _problem(response, 400, "lines[0].quantity")
    assert "Expected `int`" in body["detail"]


def test_a_string_for_a_boolean_is_400(env: Env, unchanged: None) -> None:
    response = env.patch("admin", f"/products/{env.records.world.products[0]}", {"active": "no"})
    _problem(response, 400, "active")


def test_an_unknown_field_is_400_naming_it(env: Env, unchanged: None) -> None:
    response = env.patch("rep", f"/accounts/{env.records.inside.account}", {"nmae": "Typo"})
    _problem(response, 400, "nmae")


def test_a_missing_required_field_is_400_naming_it(env: Env, unchanged: None) -> None:
    _problem(
        env.post("rep", "/contacts", {"account_id": env.records.inside.account}), 400, "first_name"
    )


def test_a_malformed_id_in_the_body_is_400(env: Env, unchanged: None) -> None:
    _problem(env.post("rep", "/tickets", {"account_id": "42", "subject": "x"}), 400, "account_id")


def test_a_malformed_id_in_the_path_is_400(env: Env, unchanged: None) -> None:
    _problem(env.patch("rep", "/accounts/not-a-uuid", {"name": "x"}), 400, "account_id")


def test_a_malformed_id_in_the_query_is_400(env: Env, unchanged: None) -> None:
    _problem(env.get("rep", "/orders", account_id="nope"), 400, "account_id")


def test_an_unknown_enum_value_in_the_query_is_400(env: Env, unchanged: None) -> None:
    _problem(env.get("rep", "/orders", status="lost"), 400, "status")


def test_an_oversize_body_is_413(env: Env, unchanged: None) -> None:
    small = create_app(env.settings.replace(max_body_bytes=1024))
    with TestClient[Litestar](small) as client:
        response = client.post(
            "/api/v1/accounts",
            headers=env.callers["rep"],
            json={"name": "Big", "notes": "x" * 4096},
        )
    _problem(response, 413)


def test_an_out_of_scope_id_is_404_for_reads_and_writes(env: Env, unchanged: None) -> None:
    account = env.records.outside.account
    read = _problem(env.get("rep", f"/accounts/{account}"), 404)
    write = _problem(env.patch("rep", f"/accounts/{account}", {"notes": "mine now"}), 404)
    missing = _problem(env.get("rep", "/accounts/01890000-0000-7000-8000-000000000000"), 404)
    # Out of scope and non-existent read the same, so the answer reveals nothing.
    assert read["title"] == write["title"] == missing["title"]
    assert read["detail"].replace(account, "ID") == missing["detail"].replace(
        "01890000-0000-7000-8000-000000000000", "ID"
    )


def test_an_out_of_scope_reference_in_a_body_is_404_naming_it(env: Env, unchanged: None) -> None:
    response = env.post(
        "rep",
        "/opportunities",
        {
            "account_id": env.records.outside.account,
            "name": "Poach",
            "amount": "1.00",
            "close_date": "2024-12-31",
        },
    )
    _problem(response, 404, "account_id")


def test_an_illegal_transition_is_409_with_the_current_state(env: Env, unchanged: None) -> None:
    order = env.records.inside.submitted_order
    body = _problem(env.patch("rep", f"/orders/{order}", {"status": "fulfilled"}), 409, "status")
    assert body["current"]["id"] == order
    assert body["current"]["status"] == "submitted"


def test_a_request_refused_after_an_earlier_change_writes_nothing(
    env: Env, unchanged: None
) -> None:
    # The lines are valid and applied first; the status move is illegal, so the whole request
    # is rolled back, lines included.
    response = env.patch(
        "rep",
        f"/orders/{env.records.inside.order}",
        {
            "notes": "changed",
            "lines": [{"product_id": env.records.world.products[3], "quantity": 7}],
            "status": "accepted",
        },
    )
    _problem(response, 409)


def test_a_second_bad_line_leaves_no_order_behind(env: Env, unchanged: None) -> None:
    response = env.post(
        "rep",
        "/orders",
        {
            "account_id": env.records.inside.account,
            "lines": [
                {"product_id": env.records.world.products[0], "quantity": 1},
                {"product_id": "01890000-0000-7000-8000-000000000000", "quantity": 1},
            ],
        },
    )
    _problem(response, 404, "lines[1].product_id")
