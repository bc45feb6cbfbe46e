"""Small builders for the protocol tests."""

from __future__ import annotations

from typing import Any

from sync.clock import Hlc
from sync.merge import Clock, Resolution, Stored
from sync.messages import Delete, Upsert


def stamp(wall_ms: int, node: str = "dev-a", counter: int = 0) -> str:
    return Hlc(wall_ms, counter, node).encode()


def upsert(
    entity: str,
    fields: dict[str, Any],
    *,
    hlc: str | None = None,
    base: int | None = None,
    record_id: str = "rec-1",
    seq: int = 1,
) -> Upsert:
    return Upsert(
        seq=seq,
        tx=f"tx-{seq}",
        entity=entity,
        id=record_id,
        fields=fields,
        hlc=hlc or stamp(2_000),
        base_version=base,
    )


def delete(
    entity: str, *, hlc: str | None = None, base: int | None = None, record_id: str = "rec-1"
) -> Delete:
    return Delete(
        seq=1, tx="tx-1", entity=entity, id=record_id, hlc=hlc or stamp(2_000), base_version=base
    )


def stored(
    fields: dict[str, Any],
    *,
    version: int = 1,
    hlc: str | None = None,
    clocks: dict[str, Clock] | None = None,
    deleted: bool = False,
) -> Stored:
    """A stored record whose fields were all written at ``version`` with ``hlc``
    (default: by the server at wall time 1000)."""
    written = hlc or stamp(1_000, "server")
    own = {name: (written, version) for name in fields} if clocks is None else clocks
    return Stored(fields=fields, clocks=own, version=version, deleted=deleted)


def after(state: Stored, resolution: Resolution) -> Stored:
    """The stored record once the server has written ``resolution``."""
    if not resolution.changed:
        return state
    return Stored(
        fields={**state.fields, **resolution.write},
        clocks=resolution.clocks,
        version=state.version + 1,
        deleted=state.deleted or resolution.delete,
        deleted_clock=resolution.deleted_clock or state.deleted_clock,
    )
