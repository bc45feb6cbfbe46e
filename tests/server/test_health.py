from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient


def test_live_answers_without_touching_the_database(client: TestClient[Litestar]) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_ready_reports_the_database_it_reached(client: TestClient[Litestar], store: object) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["database"] in {"sqlite", "postgresql"}


def test_unknown_path_is_problem_json(client: TestClient[Litestar]) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code in {401, 404}
    assert response.headers["content-type"].startswith("application/problem+json")
