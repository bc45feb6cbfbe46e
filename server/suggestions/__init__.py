"""Cross-sell and up-sell suggestions per account, learned from order history."""

__all__: list[str] = []
