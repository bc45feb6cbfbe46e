"""Domain errors, mapped once to RFC 9457 problem+json.

FieldlineError                 (500 unless a subclass says otherwise)
├── BadRequest                 400  malformed or invalid input; names the field
├── Unauthorized               401  no, bad, expired or revoked credentials
├── Forbidden                  403  authenticated, but the role or key scope does not allow it
├── NotFound                   404  unknown id, or out of the caller's scope (never leaks which)
├── Conflict                   409  illegal state transition, duplicate; carries current state
├── Gone                       410  a sync cursor older than the compaction horizon
├── PayloadTooLarge            413
├── UnsupportedMediaType       415
├── UnprocessableEntity        422  well-formed but breaks a domain rule
├── UpgradeRequired            426  the device speaks a protocol version we do not
├── RateLimited                429
└── ServiceUnavailable         503  e.g. the database is unreachable or not migrated
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BadRequest",
    "Conflict",
    "FieldlineError",
    "Forbidden",
    "Gone",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsupportedMediaType",
    "UpgradeRequired",
]


class FieldlineError(Exception):
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    slug: ClassVar[str] = "internal"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra or {}
        self.headers = headers or {}

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://fieldline.dev/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.field:
            body["field"] = self.field
        body.update(self.extra)
        return body


class BadRequest(FieldlineError):
    status, title, slug = 400, "Bad request", "bad-request"


class Unauthorized(FieldlineError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class Forbidden(FieldlineError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(FieldlineError):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(FieldlineError):
    status, title, slug = 409, "Conflict", "conflict"


class Gone(FieldlineError):
    status, title, slug = 410, "Gone", "gone"


class PayloadTooLarge(FieldlineError):
    status, title, slug = 413, "Payload too large", "payload-too-large"


class UnsupportedMediaType(FieldlineError):
    status, title, slug = 415, "Unsupported media type", "unsupported-media-type"


class UnprocessableEntity(FieldlineError):
    status, title, slug = 422, "Unprocessable entity", "unprocessable"


class UpgradeRequired(FieldlineError):
    status, title, slug = 426, "Upgrade required", "upgrade-required"


class RateLimited(FieldlineError):
    status, title, slug = 429, "Too many requests", "rate-limited"


class ServiceUnavailable(FieldlineError):
    status, title, slug = 503, "Service unavailable", "unavailable"
