from __future__ import annotations

from tests.server.resources.conftest import Env


def test_pages_walk_every_record_once_in_id_order(env: Env) -> None:
    everything = env.get("admin", "/accounts", limit=200).json()
    assert everything["next_cursor"] is None
    walked: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = env.get("admin", "/accounts", **params).json()
        assert len(page["items"]) <= 2
        walked += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == [a["id"] for a in everything["items"]]
    assert walked == sorted(walked)


def test_limit_defaults_to_fifty_and_is_bounded(env: Env) -> None:
    assert env.get("admin", "/accounts", limit=0).status_code == 400
    too_many = env.get("admin", "/accounts", limit=201)
    assert too_many.status_code == 400
    assert too_many.json()["field"] == "limit"
    assert env.get("admin", "/accounts", limit=200).status_code == 200


def test_a_cursor_that_was_not_issued_is_400_naming_it(env: Env) -> None:
    response = env.get("admin", "/accounts", cursor="not-a-cursor")
    assert response.status_code == 400
    assert response.json()["field"] == "cursor"


def test_a_new_record_does_not_shift_a_page_already_started(env: Env) -> None:
    first = env.get("admin", "/products", limit=2).json()
    made = env.post(
        "admin",
        "/products",
        {
            "sku": "SKU-PAGE",
            "name": "Late arrival",
            "category": "tools",
            "product_line": "office",
            "list_price": "1.00",
        },
    ).json()
    rest: list[str] = []
    cursor = first["next_cursor"]
    while cursor:
        page = env.get("admin", "/products", limit=2, cursor=cursor).json()
        rest += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
    seen = [p["id"] for p in first["items"]] + rest
    assert len(seen) == len(set(seen))
    assert made["id"] in rest  # ids are time-ordered: the newest comes last
