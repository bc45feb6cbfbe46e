"""Named migrations of the device's local schema, applied in order when a store is opened.

A migration is never edited once shipped (devices in the field have run it); a change is a new
entry at the end. Each one runs inside the same transaction as the row that records it, so a
device killed mid-upgrade starts the same migration again from scratch.

The layout, and why it is generic: every synced record lives in one ``records`` table keyed by
(entity, id) with its fields as JSON, because the wire already speaks that shape, the server's
models can grow fields without a device migration, and the rebase logic (server state plus
pending edits) is the same for every entity. ``data`` is what the app sees; ``base`` holds the
server's state while local edits are pending on top of it (``dirty``), so a pulled change can
replace the base and the pending edits be re-applied over it. ``ref`` copies the one field each
entity is most often looked up by (an order line's order, a price's product, most records'
account: ``client_sdk.records.REF_FIELDS``) so those lookups use an index.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from client_sdk.store import Store

__all__ = ["MIGRATIONS", "Migration", "applied", "migrate"]

Migration = tuple[str, Callable[[Store], None]]


def _run(store: Store, script: str) -> None:
    # Not executescript(): it commits first, which would break the migration's transaction.
    for statement in script.split(";"):
        if statement.strip():
            store.execute(statement)


def _initial(store: Store) -> None:
    _run(
        store,
        """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE records (
            entity TEXT NOT NULL,
            id TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 0,
            data TEXT NOT NULL,
            base TEXT,
            on_server INTEGER NOT NULL DEFAULT 0,
            dirty INTEGER NOT NULL DEFAULT 0,
            local_deleted INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            ref TEXT,
            PRIMARY KEY (entity, id)
        );
        CREATE INDEX ix_records_ref ON records (entity, ref, id);
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY,
            tx TEXT NOT NULL,
            entity TEXT NOT NULL,
            record_id TEXT NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
            fields TEXT NOT NULL DEFAULT '{}',
            hlc TEXT NOT NULL,
            base_version INTEGER,
            created_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'rejected', 'amended', 'dismissed')),
            reason TEXT,
            detail TEXT,
            field TEXT,
            current TEXT,
            answered_at TEXT
        );
        CREATE INDEX ix_outbox_pending_record ON outbox (entity, record_id) WHERE state = 'pending';
        CREATE INDEX ix_outbox_state ON outbox (state, seq);
        CREATE TABLE conflicts (
            conflict_id INTEGER PRIMARY KEY,
            entity TEXT NOT NULL,
            record_id TEXT NOT NULL,
            field TEXT NOT NULL,
            kept TEXT,
            discarded TEXT,
            kept_hlc TEXT,
            discarded_hlc TEXT,
            kept_origin TEXT,
            discarded_origin TEXT,
            rule TEXT NOT NULL,
            received_at TEXT NOT NULL
        );
        CREATE TABLE sync_runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            report TEXT,
            error TEXT
        );
        """,
    )


MIGRATIONS: list[Migration] = [
    ("0001_initial", _initial),
]


def applied(store: Store) -> list[str]:
    exists = store.scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
    )
    if not exists:
        return []
    return [row[0] for row in store.all("SELECT name FROM _migrations ORDER BY rowid")]


def migrate(store: Store, migrations: list[Migration] | None = None) -> list[str]:
    """Apply what is missing; returns the names applied now."""
    todo = MIGRATIONS if migrations is None else migrations
    with store.atomic():
        store.execute(
            "CREATE TABLE IF NOT EXISTS _migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
    done = set(applied(store))
    ran: list[str] = []
    for name, step in todo:
        if name in done:
            continue
        with store.atomic():
            step(store)
            store.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (name, datetime.now(UTC).isoformat()),
            )
        ran.append(name)
    return ran
