"""Record ids: UUIDv7 as text, so devices can create records offline with no server round trip.

UUIDv7 puts a millisecond Unix timestamp in the top 48 bits, which keeps ids time-ordered (good
B-tree locality on both stores) while 74 random bits make collisions between devices negligible.
Python's ``uuid`` only gains ``uuid7`` in 3.14 and some libraries quietly fall back to v4, so we
build it here from the RFC 9562 layout.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["is_uuid7", "new_id", "uuid7_time_ms"]

_lock = threading.Lock()
_last_ms = 0
_last_rand_a = 0


def new_id(now_ms: int | None = None) -> str:
    """A new UUIDv7 in canonical text form, monotonic within this process."""
    global _last_ms, _last_rand_a
    with _lock:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        if ms <= _last_ms:
            # Same (or earlier) millisecond: bump the 12-bit counter so ids stay sorted
            # (RFC 9562 §6.2, method 1); on overflow borrow the next millisecond.
            ms = _last_ms
            rand_a = _last_rand_a + 1
            if rand_a > 0xFFF:
                ms += 1
                rand_a = int.from_bytes(os.urandom(2), "big") & 0x7FF
        else:
            rand_a = int.from_bytes(os.urandom(2), "big") & 0x7FF
        _last_ms, _last_rand_a = ms, rand_a
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rand_a << 64
    value |= 0b10 << 62
    value |= rand_b
    return str(uuid.UUID(int=value))


def is_uuid7(text: str) -> bool:
    try:
        parsed = uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return False
    return parsed.version == 7 and str(parsed) == text


def uuid7_time_ms(text: str) -> int:
    return uuid.UUID(text).int >> 80
