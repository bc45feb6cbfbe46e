"""The attachment blob store: content-addressed files, named by their SHA-256 digest.

Layout under the root (``<data_dir>/attachments``)::

    sha256/ab/ab3f…e1     one file per distinct content, never rewritten
    tmp/<id>.part         uploads in progress

A write goes to a temporary file, is hashed and counted as it arrives, fsynced, and only then
renamed onto its digest (and the directory fsynced), so a reader never sees half a file and a
crash leaves at most a ``.part`` file, which the next start sweeps. Two attachments with the
same content share one file: a second write of a held digest is verified and dropped.

``BlobStore`` is the interface the service uses; ``LocalBlobStore`` is the only implementation
today. An object store would implement the same four methods (its ``local_path`` answering
None and ``read`` streaming instead).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import AsyncIterable, Iterator
from pathlib import Path
from typing import Protocol

import anyio.to_thread

from sync.ids import new_id

__all__ = [
    "BlobError",
    "BlobStore",
    "BlobTooLarge",
    "DigestMismatch",
    "LocalBlobStore",
    "SizeMismatch",
]

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
STALE_PART_S = 3600.0
"""A ``.part`` file untouched this long belongs to an upload that died (its request would have
removed it on any failure it lived to see)."""


class BlobError(Exception):
    """The content cannot be stored as announced; nothing was stored."""


class BlobTooLarge(BlobError):
    pass


class SizeMismatch(BlobError):
    pass


class DigestMismatch(BlobError):
    pass


class BlobStore(Protocol):
    def has(self, digest: str) -> bool: ...

    async def write(
        self, chunks: AsyncIterable[bytes], *, digest: str, size: int, max_bytes: int
    ) -> bool:
        """Store ``chunks`` under ``digest`` after checking they are ``size`` bytes (at most
        ``max_bytes``) hashing to it; True when newly stored, False when already held."""
        ...

    def local_path(self, digest: str) -> Path | None: ...

    def read(self, digest: str) -> Iterator[bytes]: ...


class LocalBlobStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.blobs = self.root / "sha256"
        self.tmp = self.root / "tmp"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def sweep(self, older_than_s: float = STALE_PART_S) -> int:
        """Remove ``.part`` files left by uploads that died; returns how many."""
        cutoff = time.time() - older_than_s
        removed = 0
        for part in self.tmp.glob("*.part"):
            try:
                if part.stat().st_mtime < cutoff:
                    part.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def path_of(self, digest: str) -> Path:
        if _DIGEST.match(digest) is None:
            raise ValueError(f"not a SHA-256 digest: {digest!r}")
        return self.blobs / digest[:2] / digest

    def has(self, digest: str) -> bool:
        return self.path_of(digest).is_file()

    def local_path(self, digest: str) -> Path | None:
        path = self.path_of(digest)
        return path if path.is_file() else None

    def read(self, digest: str) -> Iterator[bytes]:
        with self.path_of(digest).open("rb") as handle:
            while chunk := handle.read(1 << 16):
                yield chunk

    def stored(self) -> list[str]:
        """Every digest held (for tests and operators: ``fieldline`` keeps no index of them)."""
        return sorted(p.name for p in self.blobs.glob("*/*") if p.is_file())

    async def write(
        self, chunks: AsyncIterable[bytes], *, digest: str, size: int, max_bytes: int
    ) -> bool:
        target = self.path_of(digest)
        if size > max_bytes:
            raise BlobTooLarge(f"{size} bytes is more than the limit of {max_bytes}")
        part = self.tmp / f"{new_id()}.part"
        hasher = hashlib.sha256()
        received = 0
        try:
            with part.open("wb") as out:
                async for chunk in chunks:
                    received += len(chunk)
                    if received > max_bytes:
                        raise BlobTooLarge(f"more than the limit of {max_bytes} bytes")
                    if received > size:
                        raise SizeMismatch(f"more than the {size} bytes announced")
                    hasher.update(chunk)
                    out.write(chunk)
                if received != size:
                    raise SizeMismatch(f"{received} bytes received, {size} announced")
                if hasher.hexdigest() != digest:
                    raise DigestMismatch(
                        f"the content's SHA-256 is {hasher.hexdigest()}, not {digest}"
                    )
                out.flush()
                await anyio.to_thread.run_sync(os.fsync, out.fileno())
            return await anyio.to_thread.run_sync(self._publish, part, target)
        finally:
            # On any failure (a refusal, a cut connection, a cancelled request) the part goes;
            # after a publish it is gone already.
            part.unlink(missing_ok=True)

    def _publish(self, part: Path, target: Path) -> bool:
        if target.is_file():
            return False
        target.parent.mkdir(exist_ok=True)
        os.replace(part, target)
        _fsync_dir(target.parent)
        return True


def _fsync_dir(path: Path) -> None:
    """Make a rename durable: the directory entry is what the rename changed."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
