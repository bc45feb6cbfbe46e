"""Ticket and ticket-comment bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from server.rest import Id

__all__ = [
    "Priority",
    "TicketCommentCreate",
    "TicketCommentOut",
    "TicketCreate",
    "TicketOut",
    "TicketStatus",
    "TicketUpdate",
]

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType

TicketStatus = Literal["open", "in_progress", "waiting", "resolved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
Subject = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=10_000)]
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class TicketOut(msgspec.Struct, kw_only=True):
    id: str
    account_id: str
    opened_by_id: str
    assignee_id: str | None
    subject: str
    description: str | None
    category: str
    priority: str
    status: str
    resolved_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class TicketCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None
    account_id: Id
    subject: Subject
    description: Text | None = None
    category: Category = "service"
    priority: Priority = "normal"
    assignee_id: Id | None = None


class TicketUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: TicketStatus | Unset = UNSET
    subject: Subject | Unset = UNSET
    description: Text | Unset | None = UNSET
    category: Category | Unset = UNSET
    priority: Priority | Unset = UNSET
    assignee_id: Id | Unset | None = UNSET


class TicketCommentOut(msgspec.Struct, kw_only=True):
    id: str
    ticket_id: str
    author_id: str
    body: str
    created_at: datetime


class TicketCommentCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]
