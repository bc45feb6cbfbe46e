"""The blob store on its own: content-addressed, atomic, verified, deduplicated."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.attachments.blobs import (
    BlobTooLarge,
    DigestMismatch,
    LocalBlobStore,
    SizeMismatch,
)
from tests.server.attachments.conftest import digest

CONTENT = os.urandom(200_000)


async def _chunks(content: bytes, size: int = 65_536) -> AsyncIterator[bytes]:
    for start in range(0, len(content), size):
        yield content[start : start + size]


def _write(store: LocalBlobStore, content: bytes, **kw: object) -> bool:
    args: dict[str, object] = {
        "digest": digest(content),
        "size": len(content),
        "max_bytes": 1 << 20,
        **kw,
    }
    return asyncio.run(store.write(_chunks(content), **args))  # type: ignore[arg-type]


def test_a_write_is_stored_under_its_digest_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    assert _write(store, CONTENT) is True
    path = store.local_path(digest(CONTENT))
    assert path is not None and path.read_bytes() == CONTENT
    assert path.parent.name == digest(CONTENT)[:2]
    assert store.stored() == [digest(CONTENT)]
    assert list(store.tmp.iterdir()) == []


def test_content_that_does_not_hash_to_the_digest_is_refused_and_nothing_stored(
    tmp_path: Path,
) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(DigestMismatch):
        _write(store, CONTENT, digest=digest(b"something else"))
    assert store.stored() == []
    assert list(store.tmp.iterdir()) == []


def test_content_shorter_or_longer_than_announced_is_refused(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(SizeMismatch):
        _write(store, CONTENT, size=len(CONTENT) + 1)
    with pytest.raises(SizeMismatch):
        _write(store, CONTENT, size=len(CONTENT) - 1)
    assert store.stored() == []
    assert list(store.tmp.iterdir()) == []


def test_content_over_the_limit_is_refused_while_it_streams(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(BlobTooLarge):
        _write(store, CONTENT, size=100_000, max_bytes=100_000)
    with pytest.raises(BlobTooLarge):
        _write(store, CONTENT, max_bytes=100_000)
    assert store.stored() == []


def test_the_same_content_twice_is_stored_once(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    assert _write(store, CONTENT) is True
    assert _write(store, CONTENT) is False
    assert store.stored() == [digest(CONTENT)]
    assert list(store.tmp.iterdir()) == []


def test_an_upload_cut_off_mid_stream_leaves_nothing_behind(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)

    async def cut() -> AsyncIterator[bytes]:
        yield CONTENT[:65_536]
        raise ConnectionResetError("client went away")

    async def main() -> None:
        await store.write(cut(), digest=digest(CONTENT), size=len(CONTENT), max_bytes=1 << 20)

    with pytest.raises(ConnectionResetError):
        asyncio.run(main())
    assert store.stored() == []
    assert list(store.tmp.iterdir()) == []


def test_parts_left_by_a_killed_process_are_swept_once_stale(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    stale, fresh = store.tmp / "a.part", store.tmp / "b.part"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    hour_ago = time.time() - 3700
    os.utime(stale, (hour_ago, hour_ago))
    assert store.sweep() == 1
    assert not stale.exists() and fresh.exists()
