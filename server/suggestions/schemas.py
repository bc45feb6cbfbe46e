"""Wire shapes of the suggestions API."""

from __future__ import annotations

from datetime import datetime

import msgspec

__all__ = ["AcceptanceOut", "SuggestionList", "SuggestionOut"]


class SuggestionOut(msgspec.Struct, kw_only=True):
    id: str
    account_id: str
    product_id: str
    sku: str
    product_name: str
    kind: str
    """``cross_sell`` or ``up_sell``."""
    rank: int
    score: float
    """The rule's confidence: the share of accounts buying ``because_product_id`` that also
    buy this product."""
    support: int
    lift: float
    because_product_id: str | None
    reason: str
    computed_at: datetime
    version: int


class SuggestionList(msgspec.Struct, kw_only=True):
    items: list[SuggestionOut]


class AcceptanceOut(msgspec.Struct, kw_only=True):
    since: datetime
    until: datetime
    offered: int
    """Suggestions made in the period, in the caller's scope (live or since replaced)."""
    accepted: int
    """Of those, the suggestions an order line of a submitted order was taken from."""
    rate: float | None
    """accepted / offered; null when none were offered."""
    lines: int
    revenue: str
    """The line totals of the lines taken from a suggestion, as a decimal amount."""
