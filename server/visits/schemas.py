"""Visit and visit-note bodies. Verification (distance, verified, score, flags) is computed by
the server from the check-in fix; clients cannot send it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from server.rest import Id

__all__ = [
    "VisitCreate",
    "VisitNoteCreate",
    "VisitNoteOut",
    "VisitOut",
    "VisitStatus",
    "VisitUpdate",
]

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType

VisitStatus = Literal["planned", "in_progress", "completed", "cancelled"]
Text = Annotated[str, msgspec.Meta(max_length=10_000)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Outcome = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lon = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Accuracy = Annotated[float, msgspec.Meta(ge=0, le=100_000)]
Position = Annotated[int, msgspec.Meta(ge=0, le=1000)]


class VisitOut(msgspec.Struct, kw_only=True):
    id: str
    account_id: str
    rep_id: str
    status: str
    planned_for: date | None
    route_position: int | None
    purpose: str | None
    check_in_at: datetime | None
    check_in_lat: float | None
    check_in_lon: float | None
    check_in_accuracy_m: float | None
    check_out_at: datetime | None
    outcome: str | None
    notes: str | None
    duration_s: int | None
    distance_m: float | None
    verified: bool
    verification_score: float | None
    flags: list[str]
    version: int
    created_at: datetime
    updated_at: datetime


class VisitCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None
    account_id: Id
    rep_id: Id | None = None
    """A rep's own by default; a manager planning a visit names the rep."""
    status: VisitStatus = "planned"
    """Reps create visits planned or in progress (checked in); the machine refuses others."""
    planned_for: date | None = None
    route_position: Position | None = None
    purpose: Short | None = None
    notes: Text | None = None
    check_in_at: datetime | None = None
    check_in_lat: Lat | None = None
    check_in_lon: Lon | None = None
    check_in_accuracy_m: Accuracy | None = None


class VisitUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: VisitStatus | Unset = UNSET
    planned_for: date | Unset | None = UNSET
    route_position: Position | Unset | None = UNSET
    purpose: Short | Unset | None = UNSET
    notes: Text | Unset | None = UNSET
    outcome: Outcome | Unset | None = UNSET
    check_in_at: datetime | Unset = UNSET
    """Defaults to now when the status moves to in_progress."""
    check_in_lat: Lat | Unset | None = UNSET
    check_in_lon: Lon | Unset | None = UNSET
    check_in_accuracy_m: Accuracy | Unset | None = UNSET
    check_out_at: datetime | Unset = UNSET
    """Defaults to now when the status moves to completed."""


class VisitNoteOut(msgspec.Struct, kw_only=True):
    id: str
    visit_id: str
    author_id: str
    body: str
    created_at: datetime


class VisitNoteCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]
