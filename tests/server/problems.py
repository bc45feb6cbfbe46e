"""What every refusal must look like: the status, a problem+json body, and the field it names."""

from __future__ import annotations

from typing import Any

__all__ = ["problem"]


def problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """The problem body of ``response``, after checking its status, its media type and (when
    given) the field it names."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    if field is not None:
        assert body.get("field") == field, body
    return body
