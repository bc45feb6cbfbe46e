"""Request and answer bodies of consent, export and erasure."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from server.rest import Id

__all__ = [
    "ConsentCreate",
    "ConsentOut",
    "ConsentState",
    "ErasureOut",
    "ExportOut",
    "ExportedRecord",
    "SubjectRef",
]

# The rulebook's choices (sync/rules/_privacy.py); tests/server/test_rest_schemas_follow_rulebook.py
# keeps them equal.
Purpose = Literal[
    "email_marketing", "phone_calls", "sms_marketing", "postal_marketing", "visit_notes"
]
Status = Literal["given", "withdrawn"]
Channel = Literal["in_person", "phone", "email", "web_form", "paper", "system"]


class ConsentCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None
    purpose: Purpose
    status: Status
    channel: Channel
    recorded_at: datetime | None = None
    """When the person gave or withdrew it; now when left out."""
    source: Literal["rest", "import"] = "rest"
    """``import`` for decisions carried over from another system."""


class ConsentOut(msgspec.Struct, kw_only=True):
    id: str
    subject_kind: str
    subject_id: str
    purpose: str
    status: str
    channel: str
    recorded_at: datetime
    recorded_by_id: str | None
    source: str
    version: int


class ConsentState(msgspec.Struct, kw_only=True):
    """A subject's consent: the decision in force per purpose (``withdrawn`` where none was
    ever given) and the whole history, oldest first."""

    subject_kind: str
    subject_id: str
    current: dict[str, str]
    history: list[ConsentOut]


class SubjectRef(msgspec.Struct, kw_only=True):
    kind: str
    id: str
    erased_at: datetime | None = None


class ExportedRecord(msgspec.Struct, kw_only=True):
    entity: str
    id: str
    deleted: bool
    fields: dict[str, Any]
    """Every personal field the entity declares, as stored."""


class ExportOut(msgspec.Struct, kw_only=True):
    subject: SubjectRef
    generated_at: datetime
    records: list[ExportedRecord]
    consent: ConsentState | None
    """For contacts and leads; users have no consent history."""


class ErasureOut(msgspec.Struct, kw_only=True):
    subject: SubjectRef
    records: dict[str, int]
    """Entity → records blanked (and deleted, where the entity's declaration says so)."""
    already_erased: bool
    """True when the subject had been erased before: this call changed nothing new."""
