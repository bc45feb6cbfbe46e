"""The protocol's exceptions and its rejection reasons.

::

    SyncError                 reason, http_status
    ├── ProtocolMismatch      426  the device speaks a protocol version the server does not
    ├── MalformedMessage      400  a body or header that does not decode
    │   └── UnsupportedMediaType  415  neither JSON nor MessagePack
    ├── CursorExpired         410  the pull cursor is older than the compaction horizon
    ├── UnknownEntity         400  an entity name outside the rules table
    ├── IllegalTransition     409  a state-machine move the table does not allow for the actor
    ├── InvalidValue          400  a field value the rulebook refuses (sync.constraints)
    └── PricingError          422  an order line that cannot be priced (sync.domain.pricing)

A refused *mutation* is not an exception on the wire: the push answers it with a ``Rejected``
result carrying one of the ``RejectReason`` codes below. The exceptions are for whole requests,
and for the pure functions of this package to signal a refusal to their caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sync.messages import RejectReason

__all__ = [
    "REASONS",
    "CursorExpired",
    "IllegalTransition",
    "InvalidValue",
    "MalformedMessage",
    "PricingError",
    "ProtocolMismatch",
    "SyncError",
    "UnknownEntity",
    "UnsupportedMediaType",
]


class SyncError(Exception):
    reason: str = "sync_error"
    http_status: int = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ProtocolMismatch(SyncError):
    reason = "protocol_mismatch"
    http_status = 426


class MalformedMessage(SyncError):
    reason = "malformed"
    http_status = 400


class UnsupportedMediaType(MalformedMessage):
    reason = "unsupported_media_type"
    http_status = 415


class CursorExpired(SyncError):
    reason = "cursor_expired"
    http_status = 410


class UnknownEntity(SyncError):
    reason = "unknown_entity"
    http_status = 400

    def __init__(self, entity: str) -> None:
        super().__init__(f"unknown entity {entity!r}")
        self.entity = entity


class IllegalTransition(SyncError):
    reason = "illegal_transition"
    http_status = 409

    def __init__(self, machine: str, current: str | None, new: str, allowed: list[str]) -> None:
        start = "creation" if current is None else repr(current)
        allowed_text = ", ".join(allowed) if allowed else "none"
        super().__init__(
            f"{machine}: {start} → {new!r} is not allowed (allowed from here: {allowed_text})"
        )
        self.machine = machine
        self.current = current
        self.new = new
        self.allowed = allowed


class InvalidValue(SyncError):
    """A value a field may not hold (sync.constraints): the same refusal on the device, on a
    sync push (``validation``) and on REST (400, as any other invalid body)."""

    reason = "validation"
    http_status = 400

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


class PricingError(SyncError):
    reason = "validation"
    http_status = 422

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


REASONS: Mapping[RejectReason, str] = MappingProxyType(
    {
        "validation": "The mutation breaks a rule of the record: an unknown field, a changed "
        "write-once field, an edit to an append-only record, a delete the entity does not allow.",
        "out_of_scope": "The record is outside what the device's user may see or change.",
        "illegal_transition": "A state-machine move the table does not allow, or an edit to a "
        "record no longer editable in its state; `current` holds that state.",
        "server_owned_field": "The mutation changes a field only the server sets (assignment, "
        "ERP reference, territory); an equal value is accepted as a no-op.",
        "unknown_entity": "The entity name is not in the rules table.",
        "unknown_record": "A delete (or change) of a record the server has never had.",
        "deleted": "The record was deleted; delete wins over any later or concurrent update.",
        "transaction_failed": "Another mutation of the same client transaction was rejected, so "
        "the whole transaction was.",
        "read_only": "Devices can never write this entity (catalogue, price lists).",
        "seq_reused": "The mutation's seq is at or below one this device already used, and the "
        "server holds no answer for it: a device that reuses sequence numbers would lose work "
        "silently, so the server keeps the mutation in quarantine instead of applying it.",
    }
)
"""One line per reject reason: what it means for the device (printed in the docs)."""
