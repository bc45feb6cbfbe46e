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
from sync.checksum import signed_term

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


_XOR = "({a} | {b}) & ~({a} & {b})"
"""SQLite has no XOR operator; this is XOR over its 64-bit integers."""


def _server_sums(store: Store) -> None:
    """The scope checksum of the server state this device holds (sync/checksum.py), per entity,
    kept by triggers as ``records`` changes: a sync compares it with the server's in a few
    reads, however many records the device holds. A write through any connection of the SDK
    moves it (the triggers call ``fieldline_term``, which every Store registers); a full scan
    on a schedule checks it against the table (client_sdk/sync_loop.py)."""
    term_new = "fieldline_term(NEW.id, NEW.version)"
    term_old = "fieldline_term(OLD.id, OLD.version)"
    add = (
        "INSERT INTO server_sums (entity, count, digest) "
        f"SELECT NEW.entity, 1, {term_new} WHERE NEW.on_server = 1 "
        "ON CONFLICT (entity) DO UPDATE SET count = count + 1, "
        f"digest = {_XOR.format(a='digest', b='excluded.digest')}"
    )
    remove = (
        "UPDATE server_sums SET count = count - 1, "
        f"digest = {_XOR.format(a='digest', b=term_old)} "
        "WHERE entity = OLD.entity AND OLD.on_server = 1"
    )
    store.execute(
        "CREATE TABLE server_sums (entity TEXT PRIMARY KEY, count INTEGER NOT NULL, "
        "digest INTEGER NOT NULL)"
    )
    store.execute(
        "INSERT INTO server_sums (entity, count, digest) SELECT entity, 0, 0 FROM records "
        "WHERE on_server = 1 GROUP BY entity"
    )
    for entity, record_id, version in store.all(
        "SELECT entity, id, version FROM records WHERE on_server = 1"
    ):
        store.execute(
            f"UPDATE server_sums SET count = count + 1, digest = {_XOR.format(a='digest', b='?')}"
            " WHERE entity = ?",
            (signed_term(record_id, version), entity),
        )
    store.execute(f"CREATE TRIGGER records_sums_insert AFTER INSERT ON records BEGIN {add}; END")
    store.execute(f"CREATE TRIGGER records_sums_delete AFTER DELETE ON records BEGIN {remove}; END")
    store.execute(
        "CREATE TRIGGER records_sums_update AFTER UPDATE OF entity, id, version, on_server "
        "ON records WHEN OLD.version IS NOT NEW.version OR OLD.on_server IS NOT NEW.on_server "
        f"OR OLD.id IS NOT NEW.id OR OLD.entity IS NOT NEW.entity BEGIN {remove}; {add}; END"
    )


def _attachment_files(store: Store) -> None:
    """What the device knows of each attachment's bytes (client_sdk/attachments.py): the
    files themselves live in the attachments directory beside the store, never in a row."""
    _run(
        store,
        """
        CREATE TABLE attachment_files (
            attachment_id TEXT PRIMARY KEY,
            sha256 TEXT NOT NULL,
            state TEXT NOT NULL,      -- pending | uploaded | refused | cached
            reason TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX ix_attachment_files_sha256 ON attachment_files (sha256);
        """,
    )


MIGRATIONS: list[Migration] = [
    ("0001_initial", _initial),
    ("0002_server_sums", _server_sums),
    ("0003_attachment_files", _attachment_files),
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
