"""What the SDK raises.

    FieldlineClientError
    ├── NotLoggedIn            no device identity or tokens yet: log in once while online
    ├── AuthenticationFailed   the server refused the credentials or the refresh token
    ├── LocalRuleViolation     a rep action refused on the device (e.g. editing a submitted order)
    │   └── RecordNotFound     no such record in the local store
    ├── NetworkUnavailable     the server could not be reached, even after the retries
    ├── ServerError            the server kept failing (5xx) after the retries
    ├── RequestRejected        the server refused a request (4xx problem+json)
    │   ├── CursorExpired      410: the device was offline past the retention horizon
    │   └── PayloadTooLarge    413: a single client transaction is larger than the server takes
    └── UpgradeRequired        426: this app speaks a sync protocol the server no longer accepts

Sync keeps data safe whatever is raised: nothing captured is lost, the next sync resumes.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationFailed",
    "CursorExpired",
    "FieldlineClientError",
    "LocalRuleViolation",
    "NetworkUnavailable",
    "NotLoggedIn",
    "PayloadTooLarge",
    "RecordNotFound",
    "RequestRejected",
    "ServerError",
    "UpgradeRequired",
]


class FieldlineClientError(Exception):
    pass


class NotLoggedIn(FieldlineClientError):
    pass


class AuthenticationFailed(FieldlineClientError):
    pass


class LocalRuleViolation(FieldlineClientError):
    pass


class RecordNotFound(LocalRuleViolation):
    pass


class NetworkUnavailable(FieldlineClientError):
    pass


class ServerError(FieldlineClientError):
    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class RequestRejected(FieldlineClientError):
    def __init__(self, message: str, *, status: int, problem: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem or {}


class CursorExpired(RequestRejected):
    pass


class PayloadTooLarge(RequestRejected):
    pass


class UpgradeRequired(FieldlineClientError):
    def __init__(self, message: str, *, server_detail: str | None = None) -> None:
        super().__init__(message)
        self.server_detail = server_detail
