"""The sync wire messages: what a device pushes and what a pull returns.

Every message is a frozen msgspec Struct. Kinds that share a list are tagged (``"kind"`` field)
so one decoder reads them and code dispatches with ``match``. Schemas only grow: a new field
gets a default, nothing is renamed, reordered or retyped (docs/sync.md, "Evolution").
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "MAX_INT64",
    "PROTOCOL_VERSION",
    "Applied",
    "Change",
    "ConflictNotice",
    "Count",
    "Delete",
    "Entity",
    "Eviction",
    "Hlc",
    "Id",
    "Merged",
    "Mutation",
    "PullItem",
    "PullPage",
    "PullRequest",
    "PushRequest",
    "PushResponse",
    "RejectReason",
    "Rejected",
    "Result",
    "ScopeChecksum",
    "Seq",
    "Upsert",
]

PROTOCOL_VERSION = 1
"""Sent by devices in the ``X-Fieldline-Protocol`` header; the server answers 426 when it cannot
speak a device's version."""

MAX_INT64 = 2**63 - 1
"""The largest sequence number or count the stores hold (a signed 64-bit column)."""
Seq = Annotated[int, msgspec.Meta(ge=1, le=MAX_INT64)]
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT64)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Entity = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Hlc = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]

RejectReason = Literal[
    "validation",
    "out_of_scope",
    "illegal_transition",
    "server_owned_field",
    "unknown_entity",
    "unknown_record",
    "deleted",
    "transaction_failed",
    "read_only",
    "seq_reused",
]
"""Machine-readable reasons a mutation is refused; docs/sync.md has one row per reason."""


class _Msg(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind"):
    pass


class Upsert(_Msg, tag="upsert", frozen=True):
    """Create a record or change some of its fields.

    ``fields`` holds only the fields the device changed (for a create: all it set). ``seq`` is the
    per-device sequence number (1, 2, 3… never reused); ``tx`` groups the mutations of one client
    transaction, which the server applies whole or rejects whole.
    """

    seq: Seq
    tx: Id
    entity: Entity
    id: Id
    fields: dict[str, Any]
    hlc: Hlc
    base_version: Count | None = None


class Delete(_Msg, tag="delete", frozen=True):
    seq: Seq
    tx: Id
    entity: Entity
    id: Id
    hlc: Hlc
    base_version: Count | None = None


Mutation = Upsert | Delete

_PageLimit = Annotated[int, msgspec.Meta(ge=1, le=5000)]


class PullRequest(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """A pull asked for inside a push (``PushRequest.pull``): the same choices as the query of
    ``GET /sync/pull``, but for ``resync``. The answer's ``page`` is what that GET would have
    returned right after the push."""

    cursor: str | None = None
    limit: _PageLimit | None = None
    checksums: bool = False


class PushRequest(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """Fields left at their defaults are not sent, so a server that predates a field still
    reads a request that does not use it."""

    device_id: Id
    mutations: list[Mutation]
    hlc: Hlc | None = None
    """The device's clock when it sent the batch; lets the server notice gross skew."""
    pending: Count | None = None
    """How many mutations the device's outbox holds in all (this batch included)."""
    oldest_pending_at: str | None = None
    """ISO 8601 time the oldest unsent mutation was captured; shown on the sync health page."""
    pull: PullRequest | None = None
    """Also pull, after the push is committed, and answer with the page: a sync in one round
    trip. Send it only to a server that said it takes it (``PushResponse.pulls``)."""


class Applied(_Msg, tag="applied", frozen=True, omit_defaults=True):
    seq: int
    entity: str
    id: str
    version: int
    fields: dict[str, Any] = {}
    """Values the server decided for this record that the device did not send or may not decide
    (computed fields such as prices and totals, values filled in on creation, a line number
    moved off a taken one), as they stand after the push. The device folds these, never its own
    guesses of them. Absent when there are none."""


class Merged(_Msg, tag="merged", frozen=True):
    """Applied, but some fields kept another value: ``fields`` holds the resolved values of every
    field the mutation named, ``discarded`` the names of the fields where the device lost."""

    seq: int
    entity: str
    id: str
    version: int
    fields: dict[str, Any]
    discarded: list[str] = []


class Rejected(_Msg, tag="rejected", frozen=True):
    seq: int
    entity: str
    id: str
    reason: RejectReason
    detail: str
    field: str | None = None
    current: dict[str, Any] | None = None
    """The record's current server state where it explains the refusal (e.g. an order's status)."""


Result = Applied | Merged | Rejected


class PushResponse(msgspec.Struct, frozen=True, kw_only=True):
    results: list[Result]
    server_hlc: str
    page: PullPage | None = None
    """The page the push's ``pull`` asked for; absent when it asked none, or when the server
    could not answer it here (an expired cursor, say): the device then pulls as usual, which
    answers the error."""
    pulls: bool = False
    """The server takes ``PushRequest.pull``. Older servers leave it out (false)."""


class Change(_Msg, tag="change", frozen=True):
    """A record's state after a change: ``op`` upsert carries every synced field, ``op`` delete
    carries none (the device removes the record)."""

    entity: str
    id: str
    op: Literal["upsert", "delete"]
    version: int
    fields: dict[str, Any] = {}


class Eviction(_Msg, tag="evict", frozen=True):
    """The record left the caller's scope (not deleted): the device drops its copy."""

    entity: str
    id: str


class ConflictNotice(_Msg, tag="conflict", frozen=True):
    """A value this device sent was discarded by a conflict rule."""

    conflict_id: int
    entity: str
    id: str
    field: str
    kept: Any
    discarded: Any
    kept_hlc: str | None
    discarded_hlc: str | None
    kept_origin: str | None
    discarded_origin: str | None
    rule: str


PullItem = Change | Eviction | ConflictNotice


class ScopeChecksum(msgspec.Struct, frozen=True, kw_only=True):
    """Per entity: how many records the caller's scope holds and an order-free digest of
    (id, version) pairs, so a device can find which entity drifted and re-fetch only that."""

    entity: str
    count: int
    digest: str


class PullPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[PullItem]
    cursor: str
    more: bool
    snapshot: bool = False
    """True while the device is being bootstrapped from a snapshot of its scope."""
    reset: bool = False
    """True on the first page of a bootstrap: the device replaces its synced data with what
    follows (its outbox is kept and rebased on top)."""
    retention_days: int = 30
    server_hlc: str = ""
    checksums: list[ScopeChecksum] | None = None
    entity: str | None = None
    """Set on the pages of a one-entity re-fetch (checksum repair): ``reset`` then applies to
    that entity only."""
