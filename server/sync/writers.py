"""Server-side writers (REST, the back office, managers' pages, jobs) under the same clock and
conflict log as device pushes.

Theory of operation
-------------------
A device push carries what the device last saw (``base_version``) and merge logs a concurrent
overwrite as a conflict. A server-side writer says the same with HTTP's own precondition:
``If-Match: "<version>"`` on a write names the version of the record the caller last read (the
``version`` every resource returns). The request's session keeps it (``declare_bases``), keyed
by the ids in the request's path; change capture (server/sync/capture.py) then stamps the write
through ``stamp_server_write``:

1. The stamp orders after every clock the record holds (the process clock *observes* the
   newest), so a write made after reading a value beats it under LWW even when it runs on a
   replica whose wall clock is behind the one that wrote the value. The row is read ``FOR
   UPDATE`` by the services, so "after" is commit order.
2. A changed field whose clock version is newer than the declared base was written by someone
   else after the caller looked: ``sync.merge.server_write`` returns it as a ``Discard``. The
   discarded value is written to ``sync_conflicts`` in the same transaction — kept and discarded
   origins name the two writers' HLC nodes (a replica's node, ``server.sync.clock``, or a
   device) — and when the loser is a device, a notice goes into that device's pull stream, as
   for a push.

Without ``If-Match`` a write is a deliberate overwrite of what is there now (the caller is
taken to have seen it), and nothing is logged: that is the push's rule for an edit made after
seeing the current value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from litestar import Response
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.orm.attributes import get_history

from server.auth.models import Device
from server.db.base import SyncableMixin, utcnow
from server.errors import BadRequest
from server.sync.clock import server_clock
from server.sync.models import ConflictRecord
from server.sync.scope import ScopeResolver
from sync.merge import Discard, Stored, dump_clocks, load_clocks, server_write

__all__ = [
    "BASES_KEY",
    "declare_bases",
    "etag_from_version",
    "install",
    "parse_if_match",
    "stamp_server_write",
]

BASES_KEY = "fieldline.base_versions"
_PENDING_KEY = "fieldline.server_conflicts"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A strong or weak entity tag holding a record version: "7" or W/"7" (RFC 9110 §8.8.3).
_ETAG = re.compile(r'^(?:W/)?"(\d{1,18})"$')
_installed = False


def parse_if_match(value: str) -> int | None:
    """The version an ``If-Match`` header names; None for ``*`` (any current version)."""
    text = value.strip()
    if text == "*":
        return None
    found = _ETAG.match(text)
    if found is None:
        raise BadRequest(
            'If-Match must name one record version as an entity tag, e.g. If-Match: "7"',
            field="If-Match",
        )
    return int(found.group(1))


def declare_bases(
    session: Any, method: str, headers: Mapping[str, str], path_params: Mapping[str, Any]
) -> None:
    """Keep the request's ``If-Match`` version for the records its path names."""
    if method not in _WRITE_METHODS:
        return
    header = headers.get("if-match")
    if header is None:
        return
    base = parse_if_match(header)
    if base is None:
        return
    session.info[BASES_KEY] = {
        value: base for value in path_params.values() if isinstance(value, str)
    }


async def etag_from_version(response: Response[Any]) -> Response[Any]:
    """An answer carrying one synced record (its ``id`` and ``version``) says its version as an
    entity tag too, ready to be sent back as ``If-Match``. Strong: a version names exactly one
    state of the record."""
    content = response.content
    version = getattr(content, "version", None)
    if (
        isinstance(version, int)
        and not isinstance(version, bool)
        and isinstance(getattr(content, "id", None), str)
        and "etag" not in response.headers
    ):
        response.headers["ETag"] = f'"{version}"'
    return response


def install() -> None:
    """Record the conflicts that stamping found, after each flush (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _record_conflicts)
    _installed = True


def stamp_server_write(
    session: Session, obj: SyncableMixin, entity: str, changed: Iterable[str], deleting: bool
) -> dict[str, Any]:
    """The record's new clock map for a server-side write of ``changed`` (and the delete, when
    ``deleting``) at ``obj.version``, which the caller has already bumped."""
    raw = dict(obj.field_clocks or {})
    old = load_clocks(raw)
    newest = max((hlc for hlc, _ in old.values() if hlc), default=None)
    stamp = server_clock.observe(newest) if newest is not None else server_clock.now()
    names = list(changed)
    base = session.info.get(BASES_KEY, {}).get(obj.id)
    before: dict[str, Any] = {}
    for name in names:
        history = get_history(obj, name)
        if history.deleted:
            before[name] = history.deleted[0]
        elif history.unchanged:
            before[name] = history.unchanged[0]
    stored = Stored(fields=before, clocks=old, version=obj.version - 1)
    clocks, discarded = server_write(
        entity,
        stored,
        {name: getattr(obj, name) for name in names},
        hlc=stamp,
        new_version=obj.version,
        base_version=base,
    )
    # Fields outside the rules table are stamped too: the table decides conflicts, not which
    # writes later device edits compare against.
    for name in names:
        clocks.setdefault(name, (stamp, obj.version))
    if deleting:
        clocks["_deleted"] = (stamp, obj.version)
    if discarded:
        session.info.setdefault(_PENDING_KEY, []).append((obj, entity, discarded))
    return {**raw, **dump_clocks(clocks)}


def _record_conflicts(session: Session, _ctx: UOWTransaction) -> None:
    pending: list[tuple[SyncableMixin, str, list[Discard]]] = session.info.pop(_PENDING_KEY, [])
    if not pending:
        return
    # Imported here: capture imports this module.
    from server.sync.capture import log_insert

    conn = session.connection()
    resolver = ScopeResolver(session)
    origins = {d.discarded_origin for _, _, ds in pending for d in ds if d.discarded_origin}
    rows = conn.execute(select(Device.id, Device.user_id).where(Device.id.in_(sorted(origins))))
    devices: dict[str, str] = {device_id: user_id for device_id, user_id in rows}
    now = utcnow()
    for obj, entity, discarded in pending:
        keys = resolver.keys(entity, obj)
        region = keys.region_id or resolver.territory_region(keys.territory_id)
        for discard in discarded:
            loser = discard.discarded_origin
            values = {
                "at": now,
                "entity": entity,
                "record_id": obj.id,
                "field": discard.field,
                "kept": discard.kept,
                "discarded": discard.discarded,
                "kept_hlc": discard.kept_hlc,
                "discarded_hlc": discard.discarded_hlc,
                "kept_origin": discard.kept_origin,
                "discarded_origin": loser,
                "rule": discard.rule,
                "loser_user_id": devices.get(loser) if loser else None,
                "region_id": region,
            }
            conflict_id = conn.execute(
                insert(ConflictRecord).values(values).returning(ConflictRecord.id)
            ).scalar_one()
            if loser not in devices:
                continue
            # The losing device hears of it in its own pull stream, as after a push.
            notice = {k: v for k, v in values.items() if k not in ("at", "record_id")}
            notice.update(conflict_id=conflict_id, id=obj.id)
            for key in ("loser_user_id", "region_id"):
                notice.pop(key)
            conn.execute(
                log_insert(conn.dialect.name),
                [
                    {
                        "at": now,
                        "entity": entity,
                        "record_id": obj.id,
                        "op": "conflict",
                        "version": 0,
                        "data": notice,
                        "device_id": loser,
                        "public": False,
                        "origin_device_id": None,
                    }
                ],
            )
