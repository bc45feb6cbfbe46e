"""Password hashing with argon2id, off the event loop.

The cost parameters are OWASP's recommended argon2id configuration (19 MiB of memory, two
passes, one lane; Password Storage Cheat Sheet), not argon2-cffi's RFC 9106 "low memory"
defaults (64 MiB, three passes, four lanes). Measured on the two-core development machine, a
verification with those defaults took 171 ms and 64 MiB; with these, 22 ms and 19 MiB. A
morning's login storm of a hundred tablets is what a field server meets, and there the defaults
cost 17 s of CPU and pushed the server's peak memory past its 300 MB budget (docs/security.md).
Hashes made with other parameters are still verified, and replaced at the next login
(``needs_rehash``).

Hashing runs on a small pool of its own threads (argon2 releases the interpreter lock): a login
no longer stops every sync on the event loop while it hashes, and the pool's size bounds the
memory that concurrent logins can take to ``HASHING_THREADS`` × 19 MiB.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["HASHING_THREADS", "hash_password", "hashing", "needs_rehash", "verify_password"]

T = TypeVar("T")

TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1
HASHING_THREADS = 2

_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM)
# Verifying against this when the user does not exist keeps the response time the same, so a
# login attempt cannot tell "no such user" from "wrong password".
_DUMMY_HASH = _hasher.hash("fieldline-timing-equaliser")
_pool = ThreadPoolExecutor(HASHING_THREADS, thread_name_prefix="fieldline-passwords")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


async def hashing(work: Callable[..., T], *args: str | None) -> T:
    """``work(*args)`` (``verify_password`` or ``hash_password``) on the hashing threads: what a
    request handler calls instead of hashing on the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_pool, work, *args)
