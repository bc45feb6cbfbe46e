"""Attachments against a real server process: a photo captured offline on a visit reaches a
second tablet of the same rep byte for byte, stays out of another territory's reach, and an
upload cut off mid-body (the connection dropped, or the server killed) is finished by the next
sync with exactly one stored blob and one metadata record."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from client_sdk import FieldClient, MemoryTokenStore, RetryPolicy
from client_sdk.errors import NetworkUnavailable
from client_sdk.records import Record
from client_sdk.sync_loop import SyncEngine
from server.attachments.blobs import LocalBlobStore
from server.attachments.models import Attachment
from tests.live import LiveServer, live_server, start_server
from tests.seed import PASSWORD, World, run_db, seed_world
from tests.stores import Store

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# A photo-sized body of incompressible bytes (~300 KB, what a tablet camera gives after resizing).
PHOTO = b"\xff\xd8\xff\xe0" + os.urandom(300_000) + b"\xff\xd9"


def _device(server: LiveServer, path: Path, username: str = "rep_n1") -> FieldClient:
    device = FieldClient(
        path,
        server_url=server.url,
        token_store=MemoryTokenStore(),
        retry=RetryPolicy(attempts=2, base_s=0.0, cap_s=0.0),
    )
    device.login(username, PASSWORD, device_name=path.stem)
    device.sync()
    return device


def _token(server: LiveServer, username: str) -> str:
    answer = httpx.post(
        f"{server.url}/api/v1/auth/login",
        json={"username": username, "password": PASSWORD, "device_name": "laptop"},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _metadata_rows(url: str, attachment_id: str) -> int:
    async def work(session: AsyncSession) -> int:
        stmt = select(func.count()).where(Attachment.id == attachment_id)
        return int((await session.execute(stmt)).scalar_one())

    return run_db(url, work)


def _half_upload(
    server: LiveServer, token: str, attachment_id: str, content: bytes
) -> socket.socket:
    """Send the headers and half the body of an upload, and leave it hanging."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    head = (
        f"PUT /api/v1/attachments/{attachment_id}/content HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: image/jpeg\r\n"
        f"Content-Length: {len(content)}\r\n\r\n"
    )
    sock.sendall(head.encode() + content[: len(content) // 2])
    return sock


def _wait_for_part(blobs: LocalBlobStore) -> None:
    """Until the server is writing the upload (its part file exists): the cut comes mid-body."""
    deadline = time.monotonic() + 10
    while not any(blobs.tmp.glob("*.part")):
        assert time.monotonic() < deadline, "the server never started writing the upload"
        time.sleep(0.02)


def _photo_pushed_without_content(
    server: LiveServer, tmp_path: Path, world: World
) -> tuple[FieldClient, Record]:
    """A phone that attached PHOTO to a visit and pushed the metadata alone (the sync engine
    without the upload that ``FieldClient.sync`` adds after it)."""
    phone = _device(server, tmp_path / "phone.db")
    visit = phone.plan_visit(world.accounts["N1"][0], date(2026, 12, 7))
    photo = phone.attach("visit", visit.id, PHOTO, media_type="image/jpeg")
    SyncEngine(phone.store, phone.records, phone.outbox, phone.transport).sync()
    return phone, photo


def _env(tmp_path: Path) -> dict[str, str]:
    return {"FIELDLINE_DATA_DIR": str(tmp_path / "server-data")}


def test_a_photo_captured_offline_reaches_the_reps_other_tablet_and_no_one_else(
    store: Store, tmp_path: Path
) -> None:
    world: World = seed_world(store.url)
    with live_server(store.url, tmp_path, env=_env(tmp_path)) as server:
        phone = _device(server, tmp_path / "phone.db")
        # Offline: plan the visit, take the photo.
        visit = phone.plan_visit(world.accounts["N1"][0], date(2026, 12, 7))
        photo_path = tmp_path / "shelf.jpg"
        photo_path.write_bytes(PHOTO)
        photo = phone.attach("visit", visit.id, photo_path, media_type="image/jpeg")
        assert photo["file_name"] == "shelf.jpg"
        report = phone.sync()
        assert (report.applied, report.uploaded) == (2, 1)

        tablet = _device(server, tmp_path / "tablet.db")
        assert tablet.get("attachment", photo.id) is not None
        assert tablet.attachment_content(photo.id) == PHOTO

        for username in ("rep_s1", "rep_n2"):
            token = _token(server, username)
            got = httpx.get(
                f"{server.url}/api/v1/attachments/{photo.id}/content",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert got.status_code == 404, got.text
            assert got.headers["content-type"].startswith("application/problem+json")
            assert PHOTO[100:200] not in got.content
        phone.close()
        tablet.close()


def test_an_upload_cut_off_mid_body_is_finished_by_the_next_sync(
    store: Store, tmp_path: Path
) -> None:
    world = seed_world(store.url)
    blobs = LocalBlobStore(tmp_path / "server-data" / "attachments")
    digest = hashlib.sha256(PHOTO).hexdigest()
    with live_server(store.url, tmp_path, env=_env(tmp_path)) as server:
        # The push alone (the metadata), then the upload loses its connection halfway.
        phone, photo = _photo_pushed_without_content(server, tmp_path, world)
        sock = _half_upload(server, _token(server, "rep_n1"), photo.id, PHOTO)
        _wait_for_part(blobs)
        sock.close()
        assert phone.attachment_files()[0].state == "pending"

        report = phone.sync()
        assert report.uploaded == 1
        assert blobs.stored() == [digest]
        assert list(blobs.tmp.iterdir()) == []  # the cut upload's part file is gone
        assert _metadata_rows(store.url, photo.id) == 1
        phone.close()


def test_an_upload_cut_off_by_a_killed_server_is_finished_after_the_restart(
    store: Store, tmp_path: Path
) -> None:
    world = seed_world(store.url)
    blobs = LocalBlobStore(tmp_path / "server-data" / "attachments")
    digest = hashlib.sha256(PHOTO).hexdigest()
    server = start_server(store.url, tmp_path, env=_env(tmp_path))
    try:
        phone, photo = _photo_pushed_without_content(server, tmp_path, world)
        sock = _half_upload(server, _token(server, "rep_n1"), photo.id, PHOTO)
        _wait_for_part(blobs)
        server.kill()
        sock.close()
        # The server is gone: the sync fails and the photo waits on the device.
        with pytest.raises(NetworkUnavailable):
            phone.sync()
        assert phone.attachment_files()[0].state == "pending"
        server = start_server(store.url, tmp_path, env=_env(tmp_path), port=server.port)
        report = phone.sync()
        assert report.uploaded == 1
        assert blobs.stored() == [digest]
        assert _metadata_rows(store.url, photo.id) == 1
        # What the killed process was writing is left as a part file, never as a blob; the
        # store sweeps it once it is stale.
        assert len(list(blobs.tmp.iterdir())) == 1
        assert phone.attachment_content(photo.id) == PHOTO
        phone.close()
    finally:
        server.stop()


def _put_part(
    server: LiveServer, token: str, attachment_id: str, start: int, end: int
) -> httpx.Response:
    return httpx.put(
        f"{server.url}/api/v1/attachments/{attachment_id}/content",
        content=PHOTO[start : end + 1],
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "image/jpeg",
            "Content-Range": f"bytes {start}-{end}/{len(PHOTO)}",
        },
    )


def test_a_resumable_upload_resumes_at_the_held_offset_after_the_server_restarts(
    store: Store, tmp_path: Path
) -> None:
    world = seed_world(store.url)
    blobs = LocalBlobStore(tmp_path / "server-data" / "attachments")
    part = 100_000
    server = start_server(store.url, tmp_path, env=_env(tmp_path))
    try:
        phone, photo = _photo_pushed_without_content(server, tmp_path, world)
        token = _token(server, "rep_n1")
        for start in (0, part):
            assert _put_part(server, token, photo.id, start, start + part - 1).status_code == 202
        server.kill()  # no orderly shutdown: what was acknowledged must be on disk
        server = start_server(store.url, tmp_path, env=_env(tmp_path), port=server.port)
        token = _token(server, "rep_n1")
        status = httpx.get(
            f"{server.url}/api/v1/attachments/{photo.id}/upload",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert status.status_code == 200 and status.json()["offset"] == 2 * part
        stale = _put_part(server, token, photo.id, part, 2 * part - 1)
        assert stale.status_code == 409 and stale.json()["offset"] == 2 * part
        last = _put_part(server, token, photo.id, 2 * part, len(PHOTO) - 1)
        assert last.status_code == 201, last.text
        assert blobs.stored() == [hashlib.sha256(PHOTO).hexdigest()]
        assert list(blobs.tmp.iterdir()) == []
        assert phone.attachment_content(photo.id) == PHOTO
        phone.close()
    finally:
        server.stop()
