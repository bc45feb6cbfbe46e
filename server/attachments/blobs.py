"""The attachment blob store: content-addressed files, named by their SHA-256 digest.

Layout under the root (``<data_dir>/attachments``)::

    sha256/ab/ab3f…e1     one file per distinct content, never rewritten
    tmp/<id>.part         whole-body uploads in progress
    tmp/<attachment id>.partial   a resumable upload's bytes so far (its size is the offset)

A write goes to a temporary file, is hashed and counted as it arrives, fsynced, and only then
renamed onto its digest (and the directory fsynced), so a reader never sees half a file and a
crash leaves at most a ``.part`` file, which the next start sweeps. Two attachments with the
same content share one file: a second write of a held digest is verified and dropped.

A resumable upload (``append``) arrives in parts, each appended to the attachment's
``.partial`` file and fsynced before it is acknowledged, so the file's size is what the server
holds and a device asks for it (``offset``) after a cut. When the last byte arrives the whole
file is hashed, checked like a whole-body write, and renamed onto its digest the same way.

``BlobStore`` is the interface the service uses; ``LocalBlobStore`` is the only implementation
today. An object store would implement the same four methods (its ``local_path`` answering
None and ``read`` streaming instead).
"""

from __future__ import annotations

import fcntl
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
    "OffsetMismatch",
    "PartInProgress",
    "SizeMismatch",
]

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
STALE_PART_S = 3600.0
"""A ``.part`` file untouched this long belongs to an upload that died (its request would have
removed it on any failure it lived to see)."""
STALE_PARTIAL_S = 7 * 86400.0
"""A resumable upload's ``.partial`` file untouched this long is given up on: a device that
comes back later starts that upload again from byte 0."""


class BlobError(Exception):
    """The content cannot be stored as announced; nothing was stored."""


class BlobTooLarge(BlobError):
    pass


class SizeMismatch(BlobError):
    pass


class DigestMismatch(BlobError):
    pass


class OffsetMismatch(BlobError):
    """A part that does not start where the held bytes end; nothing was written."""

    def __init__(self, message: str, held: int) -> None:
        super().__init__(message)
        self.held = held


class PartInProgress(BlobError):
    """Another request is appending to the same upload right now; nothing was written."""


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

    def sweep(
        self, older_than_s: float = STALE_PART_S, partial_older_than_s: float = STALE_PARTIAL_S
    ) -> int:
        """Remove ``.part`` files left by uploads that died, and ``.partial`` files of
        resumable uploads abandoned for ``partial_older_than_s``; returns how many."""
        now = time.time()
        removed = 0
        for pattern, age in (("*.part", older_than_s), ("*.partial", partial_older_than_s)):
            for part in self.tmp.glob(pattern):
                try:
                    if part.stat().st_mtime < now - age:
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

    # Resumable uploads ---------------------------------------------------------------------------
    def partial_path(self, upload_id: str) -> Path:
        if _UPLOAD_ID.match(upload_id) is None:
            raise ValueError(f"not an upload id: {upload_id!r}")
        return self.tmp / f"{upload_id}.partial"

    def offset(self, upload_id: str, *, digest: str, size: int) -> int:
        """How many bytes of this upload the server holds: ``size`` once the content is
        stored (by this upload or any other with the same digest), else the partial file's."""
        if self.has(digest):
            return size
        try:
            return self.partial_path(upload_id).stat().st_size
        except FileNotFoundError:
            return 0

    def discard_partial(self, upload_id: str) -> None:
        self.partial_path(upload_id).unlink(missing_ok=True)

    async def append(
        self,
        upload_id: str,
        chunks: AsyncIterable[bytes],
        *,
        start: int,
        length: int,
        digest: str,
        size: int,
        max_bytes: int,
    ) -> tuple[int, bool | None]:
        """Append ``length`` bytes starting at ``start`` to the upload ``upload_id`` of content
        ``digest`` (``size`` bytes); answers (the offset now held, None) while bytes remain, and
        (``size``, newly stored) once the last byte arrived and the content was verified and
        stored like ``write`` does.

        Refused with nothing written: a ``start`` other than the held offset
        (``OffsetMismatch``), a part passing ``size`` or ``max_bytes``, another request
        appending to the same upload (``PartInProgress``). A body that stops early (the
        connection dropped) keeps, fsynced, the bytes that did arrive: they are a prefix of the
        content, and the device resumes after them. At the end, content that does not hash to
        ``digest`` discards the partial file (``DigestMismatch``)."""
        if size > max_bytes:
            raise BlobTooLarge(f"{size} bytes is more than the limit of {max_bytes}")
        if start + length > size:
            raise SizeMismatch(
                f"bytes {start}-{start + length - 1} pass the {size} bytes announced"
            )
        if self.has(digest):
            raise OffsetMismatch(f"the server holds all {size} bytes already", size)
        path = self.partial_path(upload_id)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PartInProgress("another part of this upload is being written") from None
            held = os.fstat(fd).st_size
            if start != held:
                raise OffsetMismatch(
                    f"the server holds {held} bytes; this part starts at {start}", held
                )
            received = 0
            try:
                async for chunk in chunks:
                    if received + len(chunk) > length:
                        raise SizeMismatch(f"more than the {length} bytes this part announced")
                    os.write(fd, chunk)
                    received += len(chunk)
            except BlobError:
                os.ftruncate(fd, held)
                raise
            except BaseException:
                # The connection dropped mid-part: what arrived is the content's next bytes.
                os.fsync(fd)
                raise
            if received != length:
                os.ftruncate(fd, held)
                raise SizeMismatch(f"{received} bytes received; this part announced {length}")
            await anyio.to_thread.run_sync(os.fsync, fd)
            offset = held + received
            if offset < size:
                return offset, None
            return size, await self._finish(path, digest)
        finally:
            os.close(fd)

    async def settle(self, upload_id: str, *, digest: str, size: int) -> None:
        """Finish an upload whose every byte arrived but which was not stored (the server
        stopped between the last part's fsync and its rename): a device asking for the offset
        would otherwise have nothing left to send. Raises ``DigestMismatch`` (discarding it)
        like the last part would have."""
        path = self.partial_path(upload_id)
        if self.has(digest) or not path.is_file() or path.stat().st_size < size:
            return
        fd = os.open(path, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # the request appending to it finishes it
            if os.fstat(fd).st_size == size:
                await self._finish(path, digest)
        finally:
            os.close(fd)

    async def _finish(self, path: Path, digest: str) -> bool:
        actual = await anyio.to_thread.run_sync(_sha256_of, path)
        if actual != digest:
            path.unlink(missing_ok=True)
            raise DigestMismatch(f"the content's SHA-256 is {actual}, not {digest}")
        new = await anyio.to_thread.run_sync(self._publish, path, self.path_of(digest))
        path.unlink(missing_ok=True)  # when the digest was held already
        return new

    def _publish(self, part: Path, target: Path) -> bool:
        if target.is_file():
            return False
        target.parent.mkdir(exist_ok=True)
        os.replace(part, target)
        _fsync_dir(target.parent)
        return True


_UPLOAD_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


def _sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            hasher.update(chunk)
    return hasher.hexdigest()


def _fsync_dir(path: Path) -> None:
    """Make a rename durable: the directory entry is what the rename changed."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
