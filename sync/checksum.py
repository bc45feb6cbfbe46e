"""Scope checksums: how a device proves its copy of an entity matches the server's.

The digest of a set of records is the XOR of the first 8 bytes of SHA-256 over "id:version" for
each record, as 16 lowercase hex digits. XOR makes it independent of order and incremental (add
or remove one record by XOR-ing its term), so the server can compute it over an index scan and a
device over its local table without sorting. A mismatch names the entity to re-fetch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["as_hex", "as_signed", "record_term", "scope_digest", "signed_term"]


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


def signed_term(record_id: str, version: int) -> int:
    """``record_term`` as a signed 64-bit integer, the form SQL integers hold: XOR of these,
    read back with ``as_hex``, is the same digest."""
    return as_signed(record_term(record_id, version))


def as_signed(value: int) -> int:
    """An unsigned 64-bit digest or term as the signed integer SQL stores keep."""
    return value - (1 << 64) if value >= 1 << 63 else value


def as_hex(digest: int) -> str:
    """A digest kept as a signed 64-bit integer, in the wire's 16-hex-digit form."""
    return f"{digest % (1 << 64):016x}"
