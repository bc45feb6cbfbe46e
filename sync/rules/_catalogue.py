"""The catalogue: products, price lists and prices, read-only for devices."""

from __future__ import annotations

from sync.constraints import Bool, Ref, Text
from sync.rules._declare import (
    CATALOGUE,
    CURRENCY,
    MONEY,
    NAME,
    SERVER,
    Parent,
    declare,
    field_rules,
)

__all__ = [
    "ENTITIES",
]

ENTITIES = (
    declare(
        entity="product",
        fields=field_rules((SERVER, "sku name category product_line unit list_price active")),
        checks={
            "sku": Text(max_length=40, min_length=1),
            "name": NAME,
            "category": Text(max_length=80, min_length=1),
            "product_line": Text(max_length=80, min_length=1),
            "unit": Text(max_length=20, min_length=1),
            "list_price": MONEY,
            "active": Bool(),
        },
        device_can_create=False,
        device_can_delete=False,
        read_only=True,
        scope="Every device: the whole catalogue.",
        delete_rule=CATALOGUE,
    ),
    declare(
        entity="price_list",
        fields=field_rules((SERVER, "name currency")),
        checks={"name": Text(max_length=120, min_length=1), "currency": CURRENCY},
        device_can_create=False,
        device_can_delete=False,
        read_only=True,
        scope="Every device: all price lists.",
        delete_rule=CATALOGUE,
    ),
    declare(
        entity="price",
        fields=field_rules((SERVER, "price_list_id product_id unit_price")),
        checks={
            "price_list_id": Ref("price_list"),
            "product_id": Ref("product"),
            "unit_price": MONEY,
        },
        device_can_create=False,
        device_can_delete=False,
        read_only=True,
        scope="Every device: all prices.",
        delete_rule=CATALOGUE,
        parent=Parent("price_list", "price_list_id"),
    ),
)
