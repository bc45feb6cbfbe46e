"""Leads: prospects arriving from the API, imports and the field, assigned to reps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, validates

from server.db.base import Base, SyncableMixin, TimestampMixin, utcnow
from server.db.types import BigIntPK
from server.errors import BadRequest
from server.leads.rules import AssignmentRules
from sync.ids import new_id

__all__ = ["AssignmentDecision", "AssignmentRuleSet", "Lead"]


class Lead(SyncableMixin, Base):
    __tablename__ = "leads"
    __sync_entity__ = "lead"

    company: Mapped[str] = mapped_column(String(200), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(200), default=None)
    email: Mapped[str | None] = mapped_column(String(200), default=None)
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    address_line: Mapped[str | None] = mapped_column(String(200), default=None)
    city: Mapped[str | None] = mapped_column(String(120), default=None)
    postal_code: Mapped[str | None] = mapped_column(String(20), default=None)
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    lat: Mapped[float | None] = mapped_column(default=None)
    lon: Mapped[float | None] = mapped_column(default=None)
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    source: Mapped[str] = mapped_column(String(20), default="api")
    """api, import, field."""
    product_line: Mapped[str | None] = mapped_column(String(80), default=None)
    language: Mapped[str | None] = mapped_column(String(10), default=None)
    region_id: Mapped[str | None] = mapped_column(
        ForeignKey("regions.id"), default=None, index=True
    )
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    """new → assigned → contacted → qualified → converted, or disqualified."""
    captured_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    # Server-owned: a device can never set who a lead belongs to.
    assignee_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id"), default=None, index=True
    )
    assigned_at: Mapped[datetime | None] = mapped_column(default=None)
    assignment_kind: Mapped[str | None] = mapped_column(String(20), default=None)
    """auto, manual, sla_reroute."""
    unassigned_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    first_touch_due_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    contacted_at: Mapped[datetime | None] = mapped_column(default=None)


class AssignmentRuleSet(TimestampMixin, Base):
    """A version of a region's assignment rules. Saving a new version deactivates the previous
    one; the engine reads the active version (or the built-in defaults when there is none)."""

    __tablename__ = "assignment_rule_sets"
    __table_args__ = (UniqueConstraint("region_id", "version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    region_id: Mapped[str] = mapped_column(ForeignKey("regions.id"), index=True)
    version: Mapped[int] = mapped_column()
    active: Mapped[bool] = mapped_column(default=False)
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str | None] = mapped_column(String(200), default=None)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)

    @validates("rules")
    def _validate_rules(self, _key: str, value: dict[str, Any]) -> dict[str, Any]:
        document: dict[str, Any] = msgspec.to_builtins(parse_rules(value))
        return document

    def parsed(self) -> AssignmentRules:
        return parse_rules(self.rules)


def parse_rules(value: Any) -> AssignmentRules:
    """Validate a rules document; the 400 names the offending field (``rules.weights.load``)."""
    if isinstance(value, AssignmentRules):
        return value
    try:
        return msgspec.convert(value, AssignmentRules)
    except msgspec.ValidationError as exc:
        message = str(exc)
        field = "rules"
        if " - at `$" in message:
            message, _, path = message.partition(" - at `$")
            field = "rules" + path.rstrip("`")
        elif "unknown field `" in message:
            field = "rules." + message.split("unknown field `", 1)[1].split("`", 1)[0]
        raise BadRequest(f"invalid assignment rules: {message}", field=field) from exc


class AssignmentDecision(Base):
    """One decision about one lead: automatic, manual or an SLA re-route, with the trace that
    explains it (rules evaluated, candidates and their scores, the tie-break draw)."""

    __tablename__ = "assignment_decisions"
    __table_args__ = (
        Index("ix_assignment_decisions_lead_at", "lead_id", "at"),
        Index("ix_assignment_decisions_region_at", "region_id", "at"),
        Index("ix_assignment_decisions_winner_at", "winner_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))
    """auto, manual, sla_reroute."""
    region_id: Mapped[str | None] = mapped_column(String(36), default=None)
    rule_set_id: Mapped[str | None] = mapped_column(
        ForeignKey("assignment_rule_sets.id"), default=None
    )
    rule_set_version: Mapped[int | None] = mapped_column(default=None)
    winner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    previous_assignee_id: Mapped[str | None] = mapped_column(String(36), default=None)
    reason: Mapped[str | None] = mapped_column(String(300), default=None)
    """The unassigned reason, or the manager's reason for a manual assignment."""
    seed: Mapped[int] = mapped_column(BigInteger, default=0)
    draw: Mapped[int | None] = mapped_column(default=None)
    actor_user_id: Mapped[str | None] = mapped_column(String(36), default=None)
    trace: Mapped[dict[str, Any]] = mapped_column(default=dict)
