from __future__ import annotations

from tests.server.resources.conftest import Env


def _product(**extra: object) -> dict[str, object]:
    return {
        "sku": "SKU-900",
        "name": "Torque wrench",
        "category": "tools",
        "product_line": "industrial",
        "list_price": "149.90",
        **extra,
    }


def test_an_admin_creates_a_product_and_amounts_come_back_as_strings(env: Env) -> None:
    response = env.post("admin", "/products", _product())
    assert response.status_code == 201, response.text
    assert response.json()["list_price"] == "149.90"
    again = env.post("admin", "/products", _product(name="Twin"))
    assert again.status_code == 409
    assert again.json()["field"] == "sku"


def test_a_price_sent_as_a_json_number_is_400(env: Env) -> None:
    response = env.post("admin", "/products", _product(sku="SKU-901", list_price=149.9))
    assert response.status_code == 400
    assert response.json()["field"] == "list_price"


def test_products_filter_by_line_and_text(env: Env) -> None:
    office = env.get("rep", "/products", product_line="office").json()["items"]
    assert office and all(p["product_line"] == "office" for p in office)
    found = env.get("rep", "/products", q="product 2").json()["items"]
    assert [p["sku"] for p in found] == ["SKU-002"]


def test_a_price_list_comes_with_its_prices(env: Env) -> None:
    detail = env.get("rep", f"/price-lists/{env.records.world.price_list}").json()
    assert detail["name"] == "Standard EUR"
    prices = {p["product_id"]: p["unit_price"] for p in detail["prices"]}
    assert prices[env.records.world.products[1]] == "18.50"


def test_an_admin_sets_a_price_creating_it_when_missing(env: Env) -> None:
    product = env.post("admin", "/products", _product(sku="SKU-902")).json()["id"]
    path = f"/price-lists/{env.records.world.price_list}/prices/{product}"
    created = env.put("admin", path, {"unit_price": "120.00"})
    assert created.status_code == 201
    changed = env.put("admin", path, {"unit_price": "115.50"})
    assert changed.status_code == 200
    assert changed.json()["unit_price"] == "115.50"
    listed = env.get(
        "rep", f"/price-lists/{env.records.world.price_list}/prices", product_id=product
    )
    assert [p["unit_price"] for p in listed.json()["items"]] == ["115.50"]


def test_price_list_names_are_unique(env: Env) -> None:
    assert env.post("admin", "/price-lists", {"name": "Wholesale"}).status_code == 201
    twin = env.post("admin", "/price-lists", {"name": "Wholesale"})
    assert twin.status_code == 409
    assert twin.json()["field"] == "name"
