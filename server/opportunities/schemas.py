"""Opportunity bodies. Stages follow ``sync.machines.OPPORTUNITY``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from server.rest import Id, Money

__all__ = ["OpportunityCreate", "OpportunityOut", "OpportunityUpdate", "Stage"]

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType

Stage = Literal[
    "prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"
]
OpenStage = Literal["prospecting", "qualification", "proposal", "negotiation"]
ForecastCategory = Literal["commit", "best_case", "pipeline"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class OpportunityOut(msgspec.Struct, kw_only=True):
    id: str
    account_id: str
    owner_id: str
    name: str
    stage: str
    amount: Decimal
    close_date: date
    forecast_category: str | None
    closed_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class OpportunityCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None
    account_id: Id
    owner_id: Id | None = None
    """A rep's own by default; a manager names the rep."""
    name: Name
    stage: Stage = "prospecting"
    """Any open stage; the machine refuses creating one already closed."""
    amount: Money
    close_date: date
    forecast_category: ForecastCategory | None = None


class OpportunityUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name | Unset = UNSET
    stage: Stage | Unset = UNSET
    amount: Money | Unset = UNSET
    close_date: date | Unset = UNSET
    forecast_category: ForecastCategory | Unset | None = UNSET
    owner_id: Id | Unset = UNSET
    """Managers hand an opportunity to another rep of their region."""
