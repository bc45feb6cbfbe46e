"""The CSV export's date range at the edges of the calendar: the widest range a client can write
is a valid export, and a range that is not one is a 400 naming the parameter."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.seed import seed_world
from tests.server.backoffice.conftest import create_order, key_headers, make_api_key
from tests.stores import Store

EXPORT = "/api/v1/backoffice/orders/export.csv"


def _order_ids(text: str) -> set[str]:
    return {row["order_id"] for row in csv.DictReader(io.StringIO(text))}


def test_the_widest_range_exports_every_submitted_order(
    client: TestClient[Litestar], store: Store
) -> None:
    world = seed_world(store.url)
    key = make_api_key(store.url, "orders:read")
    submitted = {
        create_order(store.url, world, status="submitted", submitted_at=at)
        for at in (datetime(2026, 3, 2, 12, tzinfo=UTC), datetime(2000, 1, 1, 0, 30, tzinfo=UTC))
    }
    create_order(store.url, world)  # a draft: never exported

    response = client.get(
        EXPORT, params={"from": "0001-01-01", "to": "9999-12-31"}, headers=key_headers(key)
    )

    assert response.status_code == 200, response.text
    assert _order_ids(response.text) == submitted


@pytest.mark.parametrize(
    ("start", "end"),
    [("9999-12-31", "9999-12-31"), ("0001-01-01", "0001-01-01"), ("2026-03-02", "9999-12-31")],
)
def test_a_range_at_an_end_of_the_calendar_is_an_export(
    client: TestClient[Litestar], store: Store, start: str, end: str
) -> None:
    key = make_api_key(store.url, "orders:read")
    response = client.get(EXPORT, params={"from": start, "to": end}, headers=key_headers(key))
    assert response.status_code == 200, response.text
    assert response.text.startswith("order_id,")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"from": "9999-12-31", "to": "0001-01-01"}, "to", id="inverted"),
        pytest.param({"from": "2026-03-02", "to": "10000-01-01"}, "to", id="year 10000"),
        pytest.param({"from": "0000-01-01", "to": "2026-03-02"}, "from", id="year 0"),
        pytest.param({"from": "-0001-01-01", "to": "2026-03-02"}, "from", id="negative year"),
        pytest.param({"from": "2026-02-30", "to": "2026-03-02"}, "from", id="February 30"),
        pytest.param({"from": "2026-03-02", "to": "2026-03-02T25:00"}, "to", id="hour 25"),
        pytest.param({"from": "2026-03-02\x00", "to": "2026-03-02"}, "from", id="NUL"),
        pytest.param({"to": "2026-03-02"}, "from", id="from missing"),
    ],
)
def test_a_range_that_is_not_one_is_400_naming_the_parameter(
    client: TestClient[Litestar], store: Store, params: dict[str, str], field: str
) -> None:
    key = make_api_key(store.url, "orders:read")
    response = client.get(EXPORT, params=params, headers=key_headers(key))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field
