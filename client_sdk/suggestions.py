"""An account's suggestions as the rep reads them offline: best first, each with its product
and the price the rep's price list gives it — the price ``take_order`` would charge."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

import msgspec

from client_sdk.records import Record, RecordStore

__all__ = ["SuggestionView", "ranked"]


class SuggestionView(msgspec.Struct, frozen=True, kw_only=True):
    suggestion: Record
    product: Record
    kind: str
    """``cross_sell`` or ``up_sell``."""
    reason: str
    """In words, for the rep: "bought by 62 % of accounts that buy …"."""
    score: float
    unit_price: Decimal
    currency: str

    @property
    def id(self) -> str:
        return self.suggestion.id


def ranked(
    records: RecordStore,
    account_id: str,
    prices: Callable[[Iterable[str]], dict[str, Decimal]],
    currency: str,
) -> list[SuggestionView]:
    """The account's suggestions held on the device, by rank. A product the device does not
    hold, no longer sold, or without a price is left out: the rep could not sell it."""
    held = sorted(
        records.where("suggestion", account_id=account_id),
        key=lambda s: (int(s.get("rank") or 0), s.id),
    )
    priced = prices([str(s.get("product_id")) for s in held])
    out: list[SuggestionView] = []
    for suggestion in held:
        product_id = str(suggestion.get("product_id"))
        product = records.get("product", product_id)
        if product is None or not product.get("active", True) or product_id not in priced:
            continue
        out.append(
            SuggestionView(
                suggestion=suggestion,
                product=product,
                kind=str(suggestion.get("kind")),
                reason=str(suggestion.get("reason")),
                score=float(suggestion.get("score") or 0.0),
                unit_price=priced[product_id],
                currency=currency,
            )
        )
    return out
