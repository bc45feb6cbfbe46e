"""The whole demo data set as rows, generated from a seed: the same seed and scale give the same
people, accounts, places, products and history (record ids and the dates relative to ``now``
are the only things that differ between runs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from server.demo.history import build_history
from server.demo.records import Row
from server.demo.world import World, build_world

__all__ = ["TABLE_ORDER", "DemoData", "generate"]

TABLE_ORDER = (
    "price_lists",
    "products",
    "prices",
    "regions",
    "territories",
    "users",
    "accounts",
    "contacts",
    "leads",
    "orders",
    "order_lines",
    "opportunities",
    "tickets",
    "ticket_comments",
    "visits",
    "visit_notes",
)
"""Insert order: every foreign key points at a table loaded earlier."""


@dataclass(frozen=True)
class DemoData:
    tables: dict[str, list[Row]]
    world: World

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.tables.values())


def generate(seed: int, scale: float, now: datetime, password_hash: str) -> DemoData:
    if scale <= 0:
        raise ValueError("scale must be positive")
    world = build_world(seed, scale, now, password_hash)
    tables = {**world.tables, **build_history(seed, scale, now, world)}
    return DemoData({name: tables[name] for name in TABLE_ORDER}, world)
