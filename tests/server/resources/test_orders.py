from __future__ import annotations

from typing import Any

from tests.server.resources.conftest import Env


def _order(env: Env, **extra: Any) -> dict[str, Any]:
    products = env.records.world.products
    return {
        "account_id": env.records.inside.account,
        "lines": [
            {"product_id": products[0], "quantity": 3, "discount_pct": "10"},
            {"product_id": products[1], "quantity": 1},
        ],
        **extra,
    }


def test_the_server_prices_an_order_from_the_price_list(env: Env) -> None:
    response = env.post("rep", "/orders", _order(env))
    assert response.status_code == 201, response.text
    order = response.json()
    # Product 1 is 9.50 on the list: 3 × 9.50 = 28.50, less 10 % = 25.65; product 2: 18.50.
    assert [(line["unit_price"], line["line_total"]) for line in order["lines"]] == [
        ("9.50", "25.65"),
        ("18.50", "18.50"),
    ]
    assert (order["subtotal"], order["discount_total"], order["total"]) == (
        "47.00",
        "2.85",
        "44.15",
    )
    assert order["status"] == "draft"
    assert order["rep_id"] == env.records.inside.rep
    assert order["price_list_id"] == env.records.world.price_list


def test_a_client_cannot_send_prices(env: Env) -> None:
    body = _order(env)
    body["lines"][0]["unit_price"] = "0.01"
    response = env.post("rep", "/orders", body)
    assert response.status_code == 400
    assert response.json()["field"] == "lines[0].unit_price"


def test_a_submitted_order_keeps_the_clients_total_beside_the_servers(env: Env) -> None:
    response = env.post("rep", "/orders", _order(env, status="submitted", client_total="44.00"))
    order = response.json()
    assert order["status"] == "submitted"
    assert order["submitted_at"] is not None
    assert order["total"] == "44.15"
    assert order["client_total"] == "44.00"
    assert order["repricing"]["new_total"] == "44.15"


def test_submitting_a_draft_freezes_its_lines(env: Env) -> None:
    order = env.post("rep", "/orders", _order(env)).json()
    submitted = env.patch("rep", f"/orders/{order['id']}", {"status": "submitted"})
    assert submitted.status_code == 200
    assert submitted.json()["submitted_at"] is not None
    late = env.patch(
        "rep",
        f"/orders/{order['id']}",
        {"lines": [{"product_id": env.records.world.products[2], "quantity": 1}]},
    )
    assert late.status_code == 409
    assert late.json()["current"]["status"] == "submitted"


def test_draft_lines_are_replaced_by_line_number_and_repriced(env: Env) -> None:
    order = env.post("rep", "/orders", _order(env)).json()
    products = env.records.world.products
    response = env.patch(
        "rep",
        f"/orders/{order['id']}",
        {
            "lines": [
                {"line_no": 2, "product_id": products[1], "quantity": 2},
                {"product_id": products[2], "quantity": 1},
            ]
        },
    )
    assert response.status_code == 200, response.text
    lines = response.json()["lines"]
    assert [(line["line_no"], line["quantity"], line["line_total"]) for line in lines] == [
        (1, 3, "25.65"),
        (2, 2, "37.00"),
        (3, 1, "27.50"),
    ]
    assert response.json()["total"] == "90.15"


def test_an_empty_draft_cannot_be_submitted(env: Env) -> None:
    order = env.post("rep", "/orders", {"account_id": env.records.inside.account}).json()
    response = env.patch("rep", f"/orders/{order['id']}", {"status": "submitted"})
    assert response.status_code == 400
    assert response.json()["field"] == "lines"


def test_a_rep_cannot_accept_their_own_order(env: Env) -> None:
    order = env.post("rep", "/orders", _order(env, status="submitted")).json()
    response = env.patch("rep", f"/orders/{order['id']}", {"status": "accepted"})
    assert response.status_code == 409
    problem = response.json()
    assert problem["current"] == {
        "id": order["id"],
        "status": "submitted",
        "version": problem["current"]["version"],
    }
    assert problem["field"] == "status"


def test_an_unknown_product_is_404_naming_the_line(env: Env) -> None:
    body = _order(env)
    body["lines"][1]["product_id"] = "01890000-0000-7000-8000-000000000000"
    response = env.post("rep", "/orders", body)
    assert response.status_code == 404
    assert response.json()["field"] == "lines[1].product_id"


def test_orders_filter_by_status_rep_and_submission_time(env: Env) -> None:
    submitted = env.post("rep", "/orders", _order(env, status="submitted")).json()
    items = env.get(
        "manager",
        "/orders",
        status="submitted",
        rep_id=env.records.inside.rep,
        submitted_after=submitted["submitted_at"],
        limit=200,
    ).json()["items"]
    assert submitted["id"] not in {o["id"] for o in items}  # "after" is strict
    earlier = env.get(
        "manager", "/orders", status="submitted", submitted_after="2000-01-01T00:00:00Z", limit=200
    ).json()["items"]
    assert submitted["id"] in {o["id"] for o in earlier}
    assert all(o["status"] == "submitted" for o in earlier)


def test_an_orders_read_key_sees_every_region_but_cannot_write(env: Env) -> None:
    ids = {o["id"] for o in env.get("key:orders:read", "/orders", limit=200).json()["items"]}
    assert {env.records.inside.order, env.records.outside.order} <= ids
    blocked = env.patch("key:orders:read", f"/orders/{env.records.inside.order}", {"notes": "x"})
    assert blocked.status_code == 403
