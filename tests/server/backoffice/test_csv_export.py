from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime

from litestar import Litestar
from litestar.testing import TestClient

from server.backoffice.csv_export import COLUMNS, export_orders, utc_range
from server.db.engine import create_engine, create_sessionmaker
from tests.seed import World, seed_world
from tests.server.backoffice.conftest import create_order, key_headers, make_api_key
from tests.stores import Store

EXPORT = "/api/v1/backoffice/orders/export.csv"


def _at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def _orders(url: str, world: World) -> dict[str, str]:
    return {
        "north_in": create_order(url, world, status="submitted", submitted_at=_at(2)),
        "north_last_day": create_order(
            url, world, territory="N2", status="submitted", submitted_at=_at(5, 23)
        ),
        "south_in": create_order(
            url, world, territory="S1", status="submitted", submitted_at=_at(3), lines=1
        ),
        "north_after": create_order(url, world, status="submitted", submitted_at=_at(6, 0)),
        "draft": create_order(url, world),
    }


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_export_has_a_row_per_line_of_orders_submitted_in_the_range(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:read")
    orders = _orders(store.url, world)

    response = client.get(
        EXPORT, params={"from": "2026-03-01", "to": "2026-03-05"}, headers=key_headers(key)
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text.splitlines()[0] == ",".join(COLUMNS)
    rows = _rows(response.text)
    assert [r["order_id"] for r in rows] == [
        orders["north_in"],
        orders["north_in"],
        orders["south_in"],
        orders["north_last_day"],
        orders["north_last_day"],
    ]
    first = rows[0]
    assert (first["line_no"], first["sku"], first["quantity"], first["unit_price"]) == (
        "1",
        "SKU-001",
        "2",
        "9.50",
    )
    assert (first["account_name"], first["territory"], first["region"]) == (
        "Hamburg Customer 1",
        "N1",
        "NORTH",
    )
    assert first["order_total"] == "74.50"


def test_the_export_keeps_to_the_region_asked_for(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:read")
    orders = _orders(store.url, world)

    response = client.get(
        EXPORT,
        params={"from": "2026-03-01", "to": "2026-03-31", "region_id": world.regions["SOUTH"]},
        headers=key_headers(key),
    )

    assert {r["order_id"] for r in _rows(response.text)} == {orders["south_in"]}


def test_a_range_ending_before_it_starts_is_400(client: TestClient[Litestar], store: Store) -> None:
    key = make_api_key(store.url, "orders:read")

    response = client.get(
        EXPORT, params={"from": "2026-03-05", "to": "2026-03-01"}, headers=key_headers(key)
    )

    assert response.status_code == 400
    assert response.json()["field"] == "to"


def test_an_unknown_region_is_404(client: TestClient[Litestar], store: Store) -> None:
    key = make_api_key(store.url, "orders:read")

    response = client.get(
        EXPORT,
        params={"from": "2026-03-01", "to": "2026-03-05", "region_id": "nope"},
        headers=key_headers(key),
    )

    assert response.status_code == 404


def test_the_response_is_streamed_without_a_content_length(
    client: TestClient[Litestar], store: Store
) -> None:
    key = make_api_key(store.url, "orders:read")

    response = client.get(
        EXPORT, params={"from": "2026-03-01", "to": "2026-03-05"}, headers=key_headers(key)
    )

    assert response.status_code == 200
    assert "content-length" not in response.headers


def test_the_export_is_produced_page_by_page(store: Store) -> None:
    world = seed_world(store.url)
    for day in range(1, 6):
        create_order(store.url, world, status="submitted", submitted_at=_at(day), lines=1)
    start, end = utc_range(date(2026, 3, 1), date(2026, 3, 31))

    async def chunks() -> list[bytes]:
        engine = create_engine(store.url, null_pool=True)
        try:
            body = export_orders(
                create_sessionmaker(engine),
                is_sqlite=store.is_sqlite,
                start=start,
                end=end,
                region_id=None,
                page_size=2,
            )
            return [chunk async for chunk in body]
        finally:
            await engine.dispose()

    produced = asyncio.run(chunks())

    # The header, then one chunk per page of two orders: 2 + 2 + 1.
    assert [chunk.count(b"\r\n") for chunk in produced] == [1, 2, 2, 1]
