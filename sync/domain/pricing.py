"""Order pricing: the one implementation of order totals, run by the device offline and by the
server on push, so both reach the same cents.

The rule
--------
* Money is ``Decimal``, never ``float``; a float anywhere in the input is refused.
* Each line: ``gross = quantity × unit_price`` (rounded to cents), and
  ``line_total = gross × (100 − discount_pct) / 100`` rounded to cents, half up
  (``ROUND_HALF_UP``: 0.005 → 0.01). Rounding happens once per line, never on the order total.
* ``subtotal = Σ gross``, ``total = Σ line_total``, ``discount_total = subtotal − total``.
* ``unit_price`` comes from the order's price list; a product with no price there cannot be
  ordered. Quantities are whole numbers from 1 to 100,000; discounts from 0 to 100 percent.

Repricing. The device prices with the price list it cached. When the server prices the pushed
order with its current list and reaches a different result, the server's totals stand (the price
list is the server's) and ``repricing_diff`` records what changed — old and new total and, per
changed line, old and new unit price and line total — on the order, so the rep sees the
difference after sync instead of a silent change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from typing import Any

from sync.errors import PricingError

__all__ = [
    "CENT",
    "MAX_QUANTITY",
    "LineInput",
    "OrderTotals",
    "PricedLine",
    "PricingError",
    "price_order",
    "repricing_diff",
]

CENT = Decimal("0.01")
MAX_QUANTITY = 100_000
_HUNDRED = Decimal(100)
_CONTEXT = Context(prec=40)


@dataclass(frozen=True)
class LineInput:
    product_id: str
    quantity: int
    discount_pct: Decimal
    line_no: int = 0


@dataclass(frozen=True)
class PricedLine:
    product_id: str
    line_no: int
    quantity: int
    unit_price: Decimal
    discount_pct: Decimal
    gross: Decimal
    line_total: Decimal


@dataclass(frozen=True)
class OrderTotals:
    lines: tuple[PricedLine, ...]
    subtotal: Decimal
    discount_total: Decimal
    total: Decimal


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _decimal(value: object, field: str) -> Decimal:
    if isinstance(value, float | bool):
        raise PricingError(field, f"{field} must be a decimal, not {type(value).__name__}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise PricingError(field, f"{field} is not a number: {value!r}") from None
    else:
        raise PricingError(field, f"{field} must be a decimal, got {type(value).__name__}")
    if not result.is_finite():
        raise PricingError(field, f"{field} must be finite, got {value!r}")
    return result


def _price_line(line: LineInput, prices: Mapping[str, Decimal]) -> PricedLine:
    quantity: object = line.quantity
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise PricingError("quantity", f"quantity must be a whole number, got {quantity!r}")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise PricingError("quantity", f"quantity must be 1 to {MAX_QUANTITY}, got {quantity}")
    discount = _decimal(line.discount_pct, "discount_pct")
    if not 0 <= discount <= _HUNDRED:
        raise PricingError("discount_pct", f"discount_pct must be 0 to 100, got {discount}")
    if line.product_id not in prices:
        raise PricingError("product_id", f"product {line.product_id!r} has no price in this list")
    unit_price = _decimal(prices[line.product_id], "unit_price")
    if unit_price < 0:
        raise PricingError("unit_price", f"unit price of {line.product_id!r} is negative")
    with localcontext(_CONTEXT):
        gross = _money(unit_price * quantity)
        line_total = _money(gross * (_HUNDRED - discount) / _HUNDRED)
    return PricedLine(
        product_id=line.product_id,
        line_no=line.line_no,
        quantity=quantity,
        unit_price=unit_price,
        discount_pct=discount,
        gross=gross,
        line_total=line_total,
    )


def price_order(lines: Sequence[LineInput], prices: Mapping[str, Decimal]) -> OrderTotals:
    priced = tuple(_price_line(line, prices) for line in lines)
    with localcontext(_CONTEXT):
        subtotal = sum((p.gross for p in priced), Decimal("0.00"))
        total = sum((p.line_total for p in priced), Decimal("0.00"))
        return OrderTotals(
            lines=priced,
            subtotal=_money(subtotal),
            discount_total=_money(subtotal - total),
            total=_money(total),
        )


def _line_key(line: PricedLine) -> tuple[int, str]:
    return (line.line_no, line.product_id)


def _pair_lines(
    device: Sequence[PricedLine], server: Sequence[PricedLine]
) -> list[tuple[PricedLine | None, PricedLine | None]]:
    """Lines matched by (line_no, product_id), repeated keys in order; unmatched lines pair
    with None."""
    pending: dict[tuple[int, str], list[PricedLine]] = {}
    for line in server:
        pending.setdefault(_line_key(line), []).append(line)
    pairs: list[tuple[PricedLine | None, PricedLine | None]] = []
    for line in device:
        bucket = pending.get(_line_key(line))
        pairs.append((line, bucket.pop(0) if bucket else None))
    for bucket in pending.values():
        pairs.extend((None, line) for line in bucket)
    return pairs


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def repricing_diff(device: OrderTotals, server: OrderTotals) -> dict[str, Any] | None:
    """What changed between the device's pricing and the server's, JSON-safe (decimals as
    strings); None when they agree on every line and total."""
    changed_lines: list[dict[str, Any]] = []
    for old, new in _pair_lines(device.lines, server.lines):
        if (
            old is not None
            and new is not None
            and old.unit_price == new.unit_price
            and old.line_total == new.line_total
        ):
            continue
        ref = new if new is not None else old
        assert ref is not None
        changed_lines.append(
            {
                "line_no": ref.line_no,
                "product_id": ref.product_id,
                "quantity": ref.quantity,
                "old_unit_price": _text(old.unit_price if old else None),
                "new_unit_price": _text(new.unit_price if new else None),
                "old_line_total": _text(old.line_total if old else None),
                "new_line_total": _text(new.line_total if new else None),
            }
        )
    if not changed_lines and device.total == server.total and device.subtotal == server.subtotal:
        return None
    return {
        "old_total": str(device.total),
        "new_total": str(server.total),
        "difference": str(server.total - device.total),
        "old_subtotal": str(device.subtotal),
        "new_subtotal": str(server.subtotal),
        "lines": changed_lines,
    }
