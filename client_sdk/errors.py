"""What the SDK raises.

    FieldlineClientError
    ├── NotLoggedIn            no device identity or tokens yet: log in once while online
    ├── AuthenticationFailed   the server refused the credentials or the refresh token
    ├── LocalRuleViolation     a rep action refused on the device (e.g. editing a submitted order);
    │   │                      ``reason`` is the code the server would refuse it with
    │   ├── RecordNotFound     no such record in the local store (``unknown_record``)
    │   └── InvalidFieldValue  a value the field may not hold (sync.rules.check_fields), refused
    │                          before anything is stored; also a ``sync.errors.InvalidValue``
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

from sync.errors import InvalidValue
from sync.messages import RejectReason

__all__ = [
    "AuthenticationFailed",
    "CursorExpired",
    "FieldlineClientError",
    "InvalidFieldValue",
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
    """Refused on the device, before anything is stored or queued, by the rule the server
    applies to the same change. ``reason`` is the code the server's refusal would carry
    (``sync.messages.RejectReason``: ``validation``, ``illegal_transition``,
    ``server_owned_field``…) and ``field`` the field at fault, where there is one."""

    def __init__(
        self, message: str, *, reason: RejectReason = "validation", field: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason: RejectReason = reason
        self.field = field


class RecordNotFound(LocalRuleViolation):
    def __init__(
        self, message: str, *, reason: RejectReason = "unknown_record", field: str | None = None
    ) -> None:
        super().__init__(message, reason=reason, field=field)


# ``reason`` is a RejectReason on the SDK's refusals and a plain str on the rulebook's errors;
# here it is "validation", which is both.
class InvalidFieldValue(LocalRuleViolation, InvalidValue):  # type: ignore[misc]
    """A local write of a value its field may not hold (an out-of-range coordinate, text too
    long or with a NUL byte, a date past 2100…), refused by the rulebook's own check
    (``sync.rules.check_fields`` and the entity's invariants) before anything is stored or
    queued: the server would refuse it as ``validation``. It is both the SDK's refusal
    (``LocalRuleViolation``) and the rulebook's (``sync.errors.InvalidValue``)."""

    field: str

    def __init__(self, field: str, detail: str) -> None:
        Exception.__init__(self, detail)
        self.reason = "validation"
        self.field = field
        self.detail = detail


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
