"""Orders and their lines, and the suggestions reps sell from (what else an account might
buy, learned from order history by the server; a line records the one it was taken from)."""

from __future__ import annotations

from sync.constraints import Json, Number, Ref, Text
from sync.rules._declare import (
    AS_PARENT,
    COMPUTED,
    CURRENCY,
    LWW,
    MONEY,
    NOTES,
    ONCE,
    OWN_IN_TERRITORY,
    PERCENT,
    SERVER,
    USER,
    WHEN,
    Access,
    EditableWhile,
    Event,
    FieldRule,
    Parent,
    Reach,
    declare,
    delete,
    field_rules,
    state,
    states,
)

__all__ = [
    "ENTITIES",
]

ENTITIES = (
    declare(
        entity="order",
        fields=field_rules(
            (ONCE, "account_id rep_id"),
            FieldRule("price_list_id", ONCE, note="prices come from this list"),
            state("status", "order"),
            FieldRule("currency", COMPUTED, note="the price list's currency"),
            FieldRule("subtotal", COMPUTED, note="priced by the server (sync.domain.pricing)"),
            (COMPUTED, "discount_total total"),
            FieldRule("client_total", COMPUTED, note="the device's own total, kept for the diff"),
            FieldRule("repricing", COMPUTED, note="old/new totals when prices changed offline"),
            (LWW, "notes"),
            FieldRule("submitted_at", COMPUTED, note="stamped when the status becomes submitted"),
            (SERVER, "status_changed_at status_reason"),
            FieldRule("erp_ref", SERVER, note="written back by the back office"),
        ),
        checks={
            "account_id": Ref("account"),
            "rep_id": USER,
            "price_list_id": Ref("price_list"),
            "status": states("order"),
            "currency": CURRENCY,
            "subtotal": MONEY,
            "discount_total": MONEY,
            "total": MONEY,
            "client_total": MONEY,
            "repricing": Json(),
            "notes": NOTES,
            "submitted_at": WHEN,
            "status_changed_at": WHEN,
            "status_reason": Text(max_length=500),
            "erp_ref": Text(max_length=80),
        },
        optional="price_list_id client_total repricing notes submitted_at status_changed_at "
        "status_reason erp_ref",
        access=Access(
            reads=frozenset({Reach.OWNER}),
            creates=OWN_IN_TERRITORY,
            owner=("rep_id",),
            account="account_id",
            api_scopes=frozenset({"orders:read", "orders:write"}),
        ),
        events=(
            Event("order.submitted", field="status", value="submitted"),
            Event("order.status_changed", field="status", unless="submitted", created=False),
        ),
        device_can_create=True,
        device_can_delete=True,
        editable_while=EditableWhile(frozenset({"draft"})),
        scope="The rep's own orders. Managers: their region's, read-only.",
        delete_rule=delete(
            "Devices may delete a draft only; a submitted order is never deleted, only "
            "cancelled by the back office. Delete wins over concurrent edits of the draft."
        ),
        notes=(
            "Editable by devices only while `draft` (or when the same mutation moves a "
            "`rejected` order back to `draft`); any other change to a non-draft order is "
            "rejected `illegal_transition` with the current status.",
        ),
    ),
    declare(
        entity="order_line",
        fields=field_rules(
            FieldRule("order_id", ONCE, note="a line never moves to another order"),
            (LWW, "product_id"),
            FieldRule(
                "line_no",
                LWW,
                adjusted=True,
                note="a new line whose number another line of the order holds takes the next "
                "free one (the answer names it)",
            ),
            (LWW, "quantity"),
            FieldRule("unit_price", COMPUTED, note="from the order's price list"),
            (LWW, "discount_pct"),
            (COMPUTED, "line_total"),
            FieldRule(
                "suggestion_id",
                ONCE,
                note="the suggestion the line was taken from, kept after the suggestion is gone "
                "(what acceptance is counted from)",
            ),
        ),
        checks={
            "order_id": Ref("order"),
            "line_no": Number(ge=1, le=10_000, integer=True),
            "product_id": Ref("product"),
            "quantity": Number(ge=1, le=100_000, integer=True),
            "unit_price": MONEY,
            "discount_pct": PERCENT,
            "line_total": MONEY,
            "suggestion_id": Ref("suggestion", past=True),
        },
        optional="suggestion_id",
        access=AS_PARENT,
        device_can_create=True,
        device_can_delete=True,
        editable_while=EditableWhile(frozenset({"draft"}), of_parent=True),
        scope="Follows its order.",
        delete_rule=delete("Devices delete lines of a draft order only; delete wins."),
        parent=Parent("order", "order_id"),
        notes=(
            "Created, changed and deleted by devices only while the parent order is `draft`: "
            "a device that creates and submits an order offline sends the order as `draft`, "
            "then its lines, then the move to `submitted`.",
        ),
    ),
    declare(
        entity="suggestion",
        fields=field_rules(
            (SERVER, "account_id product_id kind rank score support lift"),
            FieldRule(
                "because_product_id", SERVER, note="the product the account buys that led here"
            ),
            FieldRule("reason", SERVER, note="in words, for the rep"),
            FieldRule("computed_at", SERVER, note="when the suggestion job last confirmed it"),
        ),
        checks={
            "account_id": Ref("account"),
            "product_id": Ref("product"),
            "kind": Text(max_length=20, choices=("cross_sell", "up_sell")),
            "rank": Number(ge=1, le=100, integer=True),
            "score": Number(ge=0, le=1),
            "support": Number(ge=0, le=100_000_000, integer=True),
            "lift": Number(ge=0, le=1_000_000),
            "because_product_id": Ref("product"),
            "reason": Text(max_length=300, min_length=1),
            "computed_at": WHEN,
        },
        optional="because_product_id",
        access=Access(reads=frozenset({Reach.TERRITORY}), account="account_id"),
        device_can_create=False,
        device_can_delete=False,
        read_only=True,
        scope="Reps: the suggestions of their territory's accounts, at most a few per account. "
        "Managers: their region's, read-only.",
        delete_rule=delete(
            "Only the server's suggestion job deletes (a suggestion no longer among the account's "
            "best); devices evict the record on their pull."
        ),
        notes=(
            "Written by the `suggestions.learn` job alone (docs/suggestions.md); a device "
            "cannot create, change or delete one.",
        ),
    ),
)
