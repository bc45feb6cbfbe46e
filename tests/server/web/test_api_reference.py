"""The API reference at /schema works with no network: its viewer's script, style and icon are
served by the app itself."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import TestClient

from tests.stores import Store


def test_the_api_reference_loads_nothing_from_another_host(
    client: TestClient[Litestar], store: Store
) -> None:
    page = client.get("/schema")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    head = page.text.split("<body", 1)[0]
    urls = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', head)
    assert len(urls) == 4, urls  # icon, stylesheet, bundle, preset
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls


def test_the_viewers_assets_are_served_by_the_app(
    client: TestClient[Litestar], store: Store
) -> None:
    head = client.get("/schema").text.split("<body", 1)[0]
    for url in re.findall(r'(?:src|href)=["\']([^"\']+)["\']', head):
        r = client.get(url)
        assert r.status_code == 200, url
        assert len(r.content) > 100, url
    assert client.get("/schema/openapi.json").status_code == 200
