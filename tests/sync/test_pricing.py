"""Order pricing: hand-computed examples, the refusals, the repricing diff, and properties over
random orders (the total is the sum of the line totals; nothing is ever a float)."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.domain.pricing import LineInput, PricingError, price_order, repricing_diff

D = Decimal
PRICES = {"p1": D("19.99"), "p2": D("0.35"), "p3": D("2.50"), "p4": D("0.25")}


def test_hand_computed_order() -> None:
    totals = price_order(
        [
            LineInput("p1", 3, D("10"), line_no=1),  # 59.97 × 0.9 = 53.973
            LineInput("p2", 7, D("12.5"), line_no=2),  # 2.45 × 0.875 = 2.14375
            LineInput("p3", 1, D("0"), line_no=3),  # 2.50
        ],
        PRICES,
    )
    assert [(p.gross, p.line_total) for p in totals.lines] == [
        (D("59.97"), D("53.97")),
        (D("2.45"), D("2.14")),
        (D("2.50"), D("2.50")),
    ]
    assert (totals.subtotal, totals.total, totals.discount_total) == (
        D("64.92"),
        D("58.61"),
        D("6.31"),
    )


def test_half_a_cent_rounds_up() -> None:
    [line] = price_order([LineInput("p4", 1, D("50"))], PRICES).lines
    assert line.line_total == D("0.13")  # 0.125: half-even would give 0.12


def test_full_discount_gives_a_zero_line() -> None:
    totals = price_order([LineInput("p1", 2, D("100"))], PRICES)
    assert (totals.subtotal, totals.total, totals.discount_total) == (
        D("39.98"),
        D("0.00"),
        D("39.98"),
    )


def test_empty_order_totals_zero() -> None:
    totals = price_order([], PRICES)
    assert (totals.lines, totals.total) == ((), D("0.00"))


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (LineInput("nope", 1, D("0")), "product_id"),
        (LineInput("p1", 0, D("0")), "quantity"),
        (LineInput("p1", 100_001, D("0")), "quantity"),
        (LineInput("p1", 1, D("-1")), "discount_pct"),
        (LineInput("p1", 1, D("100.01")), "discount_pct"),
        (LineInput("p1", 1, 5.0), "discount_pct"),  # type: ignore[arg-type]
        (LineInput("p1", 2.0, D("0")), "quantity"),  # type: ignore[arg-type]
        (LineInput("p1", 1, D("NaN")), "discount_pct"),
    ],
)
def test_unpriceable_lines_are_refused_naming_the_field(line: LineInput, field: str) -> None:
    with pytest.raises(PricingError) as caught:
        price_order([line], PRICES)
    assert caught.value.field == field


def test_a_float_price_is_refused() -> None:
    with pytest.raises(PricingError) as caught:
        price_order([LineInput("p1", 1, D("0"))], {"p1": 19.99})  # type: ignore[dict-item]
    assert caught.value.field == "unit_price"


def test_quantity_bounds_are_inclusive() -> None:
    assert price_order([LineInput("p4", 100_000, D("0"))], PRICES).total == D("25000.00")


def test_no_diff_when_prices_agree() -> None:
    lines = [LineInput("p1", 3, D("10"), line_no=1)]
    assert repricing_diff(price_order(lines, PRICES), price_order(lines, PRICES)) is None


def test_diff_shows_old_and_new_total_and_the_changed_lines() -> None:
    lines = [LineInput("p1", 3, D("10"), line_no=1), LineInput("p3", 2, D("0"), line_no=2)]
    device = price_order(lines, PRICES)
    server = price_order(lines, {**PRICES, "p1": D("21.00")})
    diff = repricing_diff(device, server)
    assert diff == {
        "old_total": "58.97",
        "new_total": "61.70",
        "difference": "2.73",
        "old_subtotal": "64.97",
        "new_subtotal": "68.00",
        "lines": [
            {
                "line_no": 1,
                "product_id": "p1",
                "quantity": 3,
                "old_unit_price": "19.99",
                "new_unit_price": "21.00",
                "old_line_total": "53.97",
                "new_line_total": "56.70",
            }
        ],
    }
    assert msgspec.json.decode(msgspec.json.encode(diff)) == diff


def test_diff_lists_lines_only_one_side_priced() -> None:
    device = price_order([LineInput("p1", 1, D("0"), line_no=1)], PRICES)
    server = price_order(
        [LineInput("p1", 1, D("0"), line_no=1), LineInput("p3", 1, D("0"), line_no=2)], PRICES
    )
    diff = repricing_diff(device, server)
    assert diff is not None
    assert diff["lines"] == [
        {
            "line_no": 2,
            "product_id": "p3",
            "quantity": 1,
            "old_unit_price": None,
            "new_unit_price": "2.50",
            "old_line_total": None,
            "new_line_total": "2.50",
        }
    ]


money = st.decimals(min_value=D("0"), max_value=D("9999.99"), places=2)
lines = st.lists(
    st.builds(
        LineInput,
        product_id=st.sampled_from(["a", "b", "c"]),
        quantity=st.integers(min_value=1, max_value=100_000),
        discount_pct=st.decimals(min_value=D("0"), max_value=D("100"), places=2),
        line_no=st.integers(min_value=0, max_value=50),
    ),
    max_size=12,
)


@settings(max_examples=100, deadline=None)
@given(lines, st.fixed_dictionaries({"a": money, "b": money, "c": money}))
def test_total_is_the_sum_of_line_totals_and_never_a_float(
    order: list[LineInput], prices: dict[str, Decimal]
) -> None:
    totals = price_order(order, prices)
    assert totals.total == sum((p.line_total for p in totals.lines), D("0"))
    assert totals.subtotal == sum((p.gross for p in totals.lines), D("0"))
    assert totals.discount_total == totals.subtotal - totals.total
    assert totals.discount_total >= 0
    for value in (totals.total, totals.subtotal, totals.discount_total):
        assert isinstance(value, Decimal)
        assert value == value.quantize(D("0.01"))
    for p in totals.lines:
        assert all(
            isinstance(v, Decimal) for v in (p.unit_price, p.gross, p.line_total, p.discount_pct)
        )
        assert D("0") <= p.line_total <= p.gross


@settings(max_examples=40, deadline=None)
@given(lines, st.fixed_dictionaries({"a": money, "b": money, "c": money}))
def test_same_prices_never_produce_a_diff(
    order: list[LineInput], prices: dict[str, Decimal]
) -> None:
    assert repricing_diff(price_order(order, prices), price_order(order, prices)) is None
