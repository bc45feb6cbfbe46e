"""Which suggestion an order line may name: one for the line's product and the order's account.
Shared by every writer (the device's verbs, a push, REST) so an acceptance is never counted for
the wrong suggestion, whichever door the line came through."""

from __future__ import annotations

__all__ = ["misfit"]


def misfit(
    suggestion_id: str,
    suggestion_product_id: str | None,
    suggestion_account_id: str | None,
    line_product_id: str | None,
    order_account_id: str | None,
) -> str | None:
    """Why a line of ``line_product_id`` in an order for ``order_account_id`` may not name the
    suggestion, or None when it may. An account not known yet (a line written before its order
    is read) is not held against it."""
    if suggestion_product_id != line_product_id or (
        order_account_id is not None and suggestion_account_id != order_account_id
    ):
        return f"suggestion {suggestion_id} is not for this product and account"
    return None
