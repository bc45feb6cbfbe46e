"""What every response carries (nosniff, no framing, a content security policy the manager pages
live with, HSTS on https), CORS closed unless origins are configured, and ``/metrics`` kept
from the public."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from server.app import create_app
from server.edge import API_CSP, DOCS_CSP
from tests.conftest import make_settings
from tests.stores import Store


@pytest.fixture
def plain(sqlite_store: Store) -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(make_settings(sqlite_store))) as client:
        yield client


def _hardened(headers: object) -> None:
    get = headers.get  # type: ignore[attr-defined]
    assert get("x-content-type-options") == "nosniff"
    assert get("x-frame-options") == "DENY"
    assert get("referrer-policy") == "no-referrer"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/health/live", 200),
        ("/manager/login", 200),
        ("/api/v1/accounts", 401),
        ("/no/such/page", 404),
    ],
)
def test_every_response_carries_the_security_headers(
    plain: TestClient[Litestar], path: str, status: int
) -> None:
    answer = plain.get(path)
    assert answer.status_code == status
    _hardened(answer.headers)
    assert answer.headers["content-security-policy"] == API_CSP


def test_the_manager_pages_policy_allows_only_their_own_files_and_no_framing() -> None:
    directives = dict(d.strip().split(" ", 1) for d in API_CSP.split(";"))
    assert directives["script-src"] == "'self'"  # fieldline.js is a file; no inline script
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"


def test_the_api_docs_are_only_kept_from_being_framed(plain: TestClient[Litestar]) -> None:
    answer = plain.get("/schema/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == DOCS_CSP


def test_no_hsts_over_plain_http(plain: TestClient[Litestar]) -> None:
    assert "strict-transport-security" not in plain.get("/health/live").headers


def test_hsts_over_https(sqlite_store: Store) -> None:
    app = create_app(make_settings(sqlite_store))
    with TestClient(app, base_url="https://fieldline.example") as client:
        answer = client.get("/health/live")
    assert answer.headers["strict-transport-security"] == "max-age=31536000"


def test_cors_is_closed_by_default(plain: TestClient[Litestar]) -> None:
    origin = {"Origin": "https://elsewhere.example"}
    preflight = plain.options(
        "/api/v1/accounts", headers={**origin, "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in plain.get("/health/live", headers=origin).headers


def test_cors_answers_only_the_configured_origins(sqlite_store: Store) -> None:
    settings = make_settings(sqlite_store, cors_origins="https://crm.example.com")
    with TestClient(create_app(settings)) as client:
        listed = client.options(
            "/api/v1/accounts",
            headers={
                "Origin": "https://crm.example.com",
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "authorization, if-match",
            },
        )
        other = client.get("/health/live", headers={"Origin": "https://evil.example"})
    assert listed.status_code in (200, 204)
    assert listed.headers["access-control-allow-origin"] == "https://crm.example.com"
    assert "access-control-allow-credentials" not in listed.headers
    assert other.headers.get("access-control-allow-origin") in (None, "")


def test_metrics_refuse_a_caller_off_the_loopback_interface(plain: TestClient[Litestar]) -> None:
    # The test client's peer is "testclient", as an outside caller's would be its address.
    answer = plain.get("/metrics")
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_metrics_with_a_token_answer_only_that_bearer(sqlite_store: Store) -> None:
    settings = make_settings(sqlite_store, metrics_token="scrape-me-0123456789")
    with TestClient(create_app(settings)) as client:
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer guess"})
        right = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-0123456789"})
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert "fieldline_http_requests_total" in right.text
