"""Wire shapes of the leads API (msgspec Structs; inputs forbid unknown fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from server.rest import Id

__all__ = [
    "AssignIn",
    "CreateLeadsOut",
    "FairnessOut",
    "FairnessRepOut",
    "LeadIn",
    "LeadListOut",
    "LeadOut",
    "LeadOutcomeOut",
    "LineErrorOut",
    "QueueOut",
    "RuleSetIn",
    "RuleSetOut",
    "SimulateIn",
    "SimulateOut",
    "SimulatedRepOut",
]

MAX_BATCH = 1000

Text80 = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Opt200 = Annotated[str, msgspec.Meta(max_length=200)] | None


class LeadIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    company: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    contact_name: Opt200 = None
    email: Opt200 = None
    phone: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    address_line: Opt200 = None
    city: Annotated[str, msgspec.Meta(max_length=120)] | None = None
    postal_code: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    country: Annotated[str, msgspec.Meta(max_length=2, pattern="^[A-Za-z]{2}$")] | None = None
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None
    notes: Annotated[str, msgspec.Meta(max_length=4000)] | None = None
    product_line: Text80 | None = None
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=10)] | None = None
    region_id: Id | None = None
    region_code: Annotated[str, msgspec.Meta(max_length=20)] | None = None


class LeadOutcomeOut(msgspec.Struct, kw_only=True):
    lead_id: str
    status: str
    """assigned or unassigned."""
    assignee_id: str | None
    assignment_kind: str | None
    unassigned_reason: str | None
    first_touch_due_at: datetime | None
    via: str | None = None
    line: int | None = None
    """The CSV line the lead came from."""


class LineErrorOut(msgspec.Struct, kw_only=True):
    line: int
    field: str | None
    message: str


class CreateLeadsOut(msgspec.Struct, kw_only=True):
    created: int
    assigned: int
    unassigned: int
    leads: list[LeadOutcomeOut]
    errors: list[LineErrorOut] = msgspec.field(default_factory=list)


class LeadOut(msgspec.Struct, kw_only=True):
    id: str
    company: str
    contact_name: str | None
    email: str | None
    phone: str | None
    address_line: str | None
    city: str | None
    postal_code: str | None
    country: str | None
    lat: float | None
    lon: float | None
    source: str
    product_line: str | None
    language: str | None
    region_id: str | None
    status: str
    assignee_id: str | None
    assigned_at: datetime | None
    assignment_kind: str | None
    unassigned_reason: str | None
    first_touch_due_at: datetime | None
    contacted_at: datetime | None
    created_at: datetime


class LeadListOut(msgspec.Struct, kw_only=True):
    items: list[LeadOut]
    next_cursor: str | None


class QueueOut(msgspec.Struct, kw_only=True):
    items: list[LeadOut]
    by_reason: dict[str, int]
    next_cursor: str | None


class AssignIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    rep_id: Annotated[str, msgspec.Meta(min_length=1, max_length=36)]
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=300)]


class RuleSetIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    rules: dict[str, Any]
    note: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class RuleSetOut(msgspec.Struct, kw_only=True):
    region_id: str
    id: str | None
    version: int
    """0: no rule set saved yet, the built-in defaults apply."""
    active: bool
    rules: dict[str, Any]
    note: str | None = None
    created_at: datetime | None = None
    created_by_id: str | None = None


class SimulateIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    region_id: Annotated[str, msgspec.Meta(min_length=1, max_length=36)]
    days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30
    rules: dict[str, Any] | None = None
    """The draft rule set; the active one when omitted."""


class SimulatedRepOut(msgspec.Struct, kw_only=True):
    rep_id: str
    actual: int
    simulated: int
    difference: int
    rep_name: str | None = None


class SimulateOut(msgspec.Struct, kw_only=True):
    region_id: str
    days: int
    leads: int
    changed: int
    """Leads the draft would have given to a different rep (or left unassigned)."""
    reps: list[SimulatedRepOut]
    unassigned_actual: dict[str, int]
    unassigned_simulated: dict[str, int]
    active_version: int


class FairnessRepOut(msgspec.Struct, kw_only=True):
    rep_id: str
    weight: float
    count: int
    share: float
    target: float
    deviation: float
    entitled: float | None
    rep_name: str | None = None


class FairnessOut(msgspec.Struct, kw_only=True):
    region_id: str
    days: int
    total: int
    spread: float
    max_abs_deviation: float
    gini: float
    gini_vs_entitlement: float | None
    reps: list[FairnessRepOut]
