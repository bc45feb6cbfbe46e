"""What else an account might buy, learned from who bought what.

Theory of operation
-------------------
The unit is the account, not the order. A rep calls on an account every few weeks, and what
matters on the next call is what the account buys over the year, not which lines happened to
share one delivery; an account-level rule also reads as the reason a rep can say aloud ("bought
by 62 % of accounts that buy the cordless drill"). Orders of one to six lines, as field orders
are, would give order-level baskets too thin to count pairs in.

From the accounts' product sets over the learning window we count, for every pair of products,
how many accounts bought both (one matrix product). A rule X → C then has

* support    — accounts that bought both X and C,
* confidence — support / accounts that bought X (the score: how likely C is, given X),
* lift       — confidence / share of all accounts that bought C (above 1: X makes C likelier
  than it is anyway; at or below 1 the rule only restates that C is popular).

Cross-sell: for each product C the account does not buy, the best rule X → C over the products
X it does buy, kept when its support reaches ``min_support`` and its lift exceeds ``min_lift``.
Up-sell: for each product X the account buys, the next tier of X's family (the same SKU with
another variant code, priced higher), scored by the confidence of X → that tier; no lift bar,
since a higher tier is worth offering even where it is no likelier than anywhere else.

Each account gets at most ``top_n`` products, by score (then lift, support, SKU), never one it
bought in the window, never an inactive one, never one outside what it may be sold (its price
list). Scores are rounded, so a relearn that moves nothing visible changes nothing to sync.

Pure: values in, suggestions out; the service (server/suggestions/service.py) reads the history
and writes the records.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

__all__ = ["Params", "ProductFacts", "Suggested", "family_of", "learn"]

CROSS_SELL = "cross_sell"
UP_SELL = "up_sell"
REASON_MAX = 300


@dataclass(frozen=True, slots=True)
class ProductFacts:
    id: str
    sku: str
    name: str
    list_price: Decimal
    active: bool = True


@dataclass(frozen=True, slots=True)
class Params:
    top_n: int = 5
    """Suggestions per account at most: bounds what a rep's device holds per account."""
    min_support: int = 3
    """Accounts that must have bought both products before a rule counts."""
    min_lift: float = 1.0
    """A cross-sell rule must make the product likelier than its share of all accounts."""


@dataclass(frozen=True, slots=True)
class Suggested:
    product_id: str
    kind: str
    score: float
    support: int
    lift: float
    because_product_id: str
    reason: str


def family_of(sku: str) -> str:
    """A product family is a SKU without its variant code: the last dash-separated part when it
    is one or two characters (``PT-DRI01-S`` and ``PT-DRI01-P`` are one family). A SKU without
    such a code is a family of its own."""
    base, _, code = sku.rpartition("-")
    return base if base and 1 <= len(code) <= 2 else sku


def _next_tiers(products: Mapping[str, ProductFacts]) -> dict[str, str]:
    """Product → the cheapest active product of its family priced above it."""
    families: dict[str, list[ProductFacts]] = {}
    for product in products.values():
        families.setdefault(family_of(product.sku), []).append(product)
    tiers: dict[str, str] = {}
    for members in families.values():
        for product in members:
            higher = [
                p
                for p in members
                if p.active and p.id != product.id and p.list_price > product.list_price
            ]
            if higher:
                tiers[product.id] = min(higher, key=lambda p: (p.list_price, p.sku)).id
    return tiers


def _percent(share: float) -> str:
    return f"{round(share * 100)} %"


def _reason(kind: str, share: float, because: ProductFacts) -> str:
    if kind == UP_SELL:
        text = (
            f"the higher tier of {because.name}, which this account buys: "
            f"bought by {_percent(share)} of accounts that buy it"
        )
    else:
        text = f"bought by {_percent(share)} of accounts that buy {because.name}"
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1] + "…"


def learn(
    bought: Mapping[str, Collection[str]],
    products: Mapping[str, ProductFacts],
    *,
    offered: Mapping[str, Collection[str] | None] | None = None,
    params: Params | None = None,
) -> dict[str, list[Suggested]]:
    """Suggestions per account, best first. ``bought``: account → the products it bought in the
    learning window (every account with history; an account with none gets nothing).
    ``offered``: account → the products it may be sold (its price list), None or absent for
    any product."""
    params = params or Params()
    index = {pid: i for i, pid in enumerate(sorted(products))}
    ids = sorted(products)
    accounts = sorted(a for a, items in bought.items() if any(p in index for p in items))
    if not accounts or not ids:
        return {}
    held = np.zeros((len(accounts), len(ids)), dtype=np.float64)
    for row, account in enumerate(accounts):
        for pid in bought[account]:
            if pid in index:
                held[row, index[pid]] = 1.0
    # Counts stay exact in float64 far past any number of accounts a company has.
    pairs: npt.NDArray[np.float64] = held.T @ held
    buyers = np.diag(pairs).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        confidence = np.where(buyers[:, None] > 0, pairs / buyers[:, None], 0.0)
        base_rate = buyers / len(accounts)
        lift = np.where(base_rate[None, :] > 0, confidence / base_rate[None, :], 0.0)
    np.fill_diagonal(confidence, 0.0)
    cross = np.where((pairs >= params.min_support) & (lift > params.min_lift), confidence, 0.0)
    tiers = _next_tiers(products)
    facts = [products[pid] for pid in ids]
    sellable = np.array([p.active for p in facts], dtype=bool)

    out: dict[str, list[Suggested]] = {}
    for row, account in enumerate(accounts):
        owned = np.flatnonzero(held[row])
        allowed = sellable & (held[row] == 0)
        offer = (offered or {}).get(account)
        if offer is not None:
            mask = np.zeros(len(ids), dtype=bool)
            mask[[index[p] for p in offer if p in index]] = True
            allowed &= mask
        found: dict[int, tuple[float, float, int, int, str]] = {}
        rules = cross[owned]
        best = rules.argmax(axis=0)
        scores = rules[best, np.arange(len(ids))]
        for column in np.flatnonzero((scores > 0) & allowed):
            c, x = int(column), int(owned[best[column]])
            found[c] = (float(scores[c]), float(lift[x, c]), int(pairs[x, c]), x, CROSS_SELL)
        for row_of_owned in owned:
            x = int(row_of_owned)
            tier = tiers.get(ids[x])
            if tier is None:
                continue
            c = index[tier]
            if not allowed[c] or pairs[x, c] < params.min_support:
                continue
            candidate = (float(confidence[x, c]), float(lift[x, c]), int(pairs[x, c]), x)
            # The same product as a cross-sell with no better score is named for what it is:
            # the next tier of something the account buys.
            if c not in found or candidate[0] >= found[c][0]:
                found[c] = (*candidate, UP_SELL)
        ranked = sorted(
            found.items(),
            key=lambda item: (-round(item[1][0], 4), -item[1][1], -item[1][2], facts[item[0]].sku),
        )[: params.top_n]
        out[account] = [
            Suggested(
                product_id=ids[c],
                kind=kind,
                score=round(score, 4),
                support=support,
                lift=round(lift_value, 2),
                because_product_id=ids[x],
                reason=_reason(kind, score, facts[x]),
            )
            for c, (score, lift_value, support, x, kind) in ranked
        ]
    return out
