"""The learner on histories small enough to work out by hand; each expected figure is derived
in the comment above it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from server.suggestions.learner import Params, ProductFacts, Suggested, family_of, learn


def _product(pid: str, sku: str, name: str, price: str, *, active: bool = True) -> ProductFacts:
    return ProductFacts(id=pid, sku=sku, name=name, list_price=Decimal(price), active=active)


# Alpha comes in a standard and a Pro tier; Xeno is no longer sold.
CATALOGUE = {
    p.id: p
    for p in (
        _product("A", "T-A01-S", "Alpha", "10"),
        _product("AP", "T-A01-P", "Alpha Pro", "15"),
        _product("B", "T-B01-S", "Beta", "20"),
        _product("C", "T-C01-S", "Gamma", "30"),
        _product("X", "T-X01-S", "Xeno", "8", active=False),
    )
}
HISTORY = {
    "a1": {"A", "B"},
    "a2": {"A", "B"},
    "a3": {"A", "B", "AP"},
    "a4": {"A", "AP"},
    "a5": {"C"},
    "a6": {"C"},
    "a7": {"C", "X"},
    "a8": {"X", "B"},
    "t": {"A"},
}
# Nine accounts. Buyers: A 5 (a1 a2 a3 a4 t), B 4 (a1 a2 a3 a8), AP 2 (a3 a4), C 3, X 2.
# Pairs with A: A&B 3 (a1 a2 a3), A&AP 2 (a3 a4), none with C or X.
RULES = Params(top_n=5, min_support=2, min_lift=1.0)


def test_cross_sell_is_the_best_rule_from_what_the_account_buys() -> None:
    found = learn(HISTORY, CATALOGUE, params=RULES)["t"]
    # A → B: confidence 3/5 = 0.6; B's share of all accounts 4/9, lift 0.6 / (4/9) = 1.35.
    assert found[0] == Suggested(
        product_id="B",
        kind="cross_sell",
        score=0.6,
        support=3,
        lift=1.35,
        because_product_id="A",
        reason="bought by 60 % of accounts that buy Alpha",
    )


def test_up_sell_is_the_next_tier_of_a_product_the_account_buys() -> None:
    found = learn(HISTORY, CATALOGUE, params=RULES)["t"]
    # A → AP: confidence 2/5 = 0.4, lift 0.4 / (2/9) = 1.8; Alpha Pro is Alpha's next tier.
    assert found[1] == Suggested(
        product_id="AP",
        kind="up_sell",
        score=0.4,
        support=2,
        lift=1.8,
        because_product_id="A",
        reason="the higher tier of Alpha, which this account buys: bought by 40 % of accounts "
        "that buy it",
    )
    assert len(found) == 2  # nothing links A to Gamma, and Xeno is not sold


def test_an_inactive_product_is_never_suggested() -> None:
    # a8 buys Xeno and Beta. B → A: 3/4 = 0.75, lift 0.75 / (5/9) = 1.35; B → AP has one
    # account (a3), under the support. Xeno's rules have one account each.
    found = learn(HISTORY, CATALOGUE, params=RULES)
    assert [(s.product_id, s.score, s.lift) for s in found["a8"]] == [("A", 0.75, 1.35)]
    # Xeno with Gamma (a7) is one account: nothing for the Gamma buyers either.
    assert found["a5"] == []
    # Were Xeno still sold, it would not be suggested to Gamma buyers at support 1 either;
    # at support 1, C → X is 1/3 with lift (1/3) / (2/9) = 1.5, and X must stay out.
    loose = learn(HISTORY, CATALOGUE, params=Params(min_support=1))
    assert "X" not in {s.product_id for s in loose["a5"]}
    revived = {**CATALOGUE, "X": _product("X", "T-X01-S", "Xeno", "8")}
    assert [s.product_id for s in learn(HISTORY, revived, params=Params(min_support=1))["a5"]] == [
        "X"
    ]


def test_what_the_account_already_buys_is_never_suggested() -> None:
    found = learn(HISTORY, CATALOGUE, params=RULES)
    for account, items in HISTORY.items():
        assert not {s.product_id for s in found.get(account, [])} & items, account


def test_only_products_on_the_accounts_price_list_are_suggested() -> None:
    found = learn(HISTORY, CATALOGUE, offered={"t": {"A", "AP", "C"}}, params=RULES)
    assert [s.product_id for s in found["t"]] == ["AP"]
    # Another account's list does not limit this one.
    assert [s.product_id for s in found["a8"]] == ["A"]


def test_the_number_per_account_is_bounded() -> None:
    found = learn(HISTORY, CATALOGUE, params=Params(top_n=1, min_support=2))
    assert [s.product_id for s in found["t"]] == ["B"]


def test_a_rule_under_the_support_counts_for_nothing() -> None:
    # A & B is three accounts: at a support of four neither rule from A stands.
    assert learn(HISTORY, CATALOGUE, params=Params(min_support=4))["t"] == []


def test_a_rule_that_only_restates_popularity_is_no_cross_sell() -> None:
    # Everyone but "t" buys P; two of them also buy Q. For "t" (P only): P → Q has confidence
    # 2/4 = 0.5 and Q's share is 2/4 = 0.5, lift 1.0: Q is no likelier for P's buyers.
    catalogue = {
        "P": _product("P", "K-PLI1", "Pliers", "5"),
        "Q": _product("Q", "K-QUI1", "Quill", "6"),
    }
    history = {"u1": {"P", "Q"}, "u2": {"P", "Q"}, "u3": {"P"}, "t": {"P"}}
    assert learn(history, catalogue, params=Params(min_support=2))["t"] == []


def test_an_account_without_history_gets_nothing() -> None:
    assert "new" not in learn({**HISTORY, "new": set()}, CATALOGUE, params=RULES)


@pytest.mark.parametrize(
    ("sku", "family"),
    [
        ("PT-DRI01-S", "PT-DRI01"),
        ("PT-DRI01-P", "PT-DRI01"),
        ("PT-DRI01-XL", "PT-DRI01"),
        ("SCREWS-500", "SCREWS-500"),
        ("PLAIN", "PLAIN"),
    ],
)
def test_a_family_is_the_sku_without_its_variant_code(sku: str, family: str) -> None:
    assert family_of(sku) == family
