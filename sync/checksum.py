"""Scope checksums: how a device proves its copy of an entity matches the server's.

The digest of a set of records is the XOR of the first 8 bytes of SHA-256 over "id:version" for
each record, as 16 lowercase hex digits. XOR makes it independent of order and incremental (add
or remove one record by XOR-ing its term), so the server can compute it over an index scan and a
device over its local table without sorting. A mismatch names the entity to re-fetch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["record_term", "scope_digest"]


def record_term(record_id: str, version: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{record_id}:{version}".encode()).digest()[:8], "big")


def scope_digest(records: Iterable[tuple[str, int]]) -> tuple[int, str]:
    """(count, digest) over (id, version) pairs."""
    count = 0
    acc = 0
    for record_id, version in records:
        acc ^= record_term(record_id, version)
        count += 1
    return count, f"{acc:016x}"
