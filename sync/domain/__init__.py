"""Domain rules that must hold identically on the device and on the server: order pricing,
visit verification and the consent in force (one implementation each, so the two never drift)."""

from sync.domain.consent import current_consent
from sync.domain.pricing import LineInput, OrderTotals, PricedLine, price_order, repricing_diff
from sync.domain.visits import Fix, Verification, plan_route, verify_visit

__all__ = [
    "Fix",
    "LineInput",
    "OrderTotals",
    "PricedLine",
    "Verification",
    "current_consent",
    "plan_route",
    "price_order",
    "repricing_diff",
    "verify_visit",
]
