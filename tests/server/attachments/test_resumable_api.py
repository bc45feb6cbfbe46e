"""Resumable uploads over HTTP: the content arrives in parts (``Content-Range``), each appended
at exactly the offset the server holds, which a device can ask for after a cut; the last part
is verified and stored like a whole upload, and every refusal changes nothing."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar

from server.attachments.blobs import LocalBlobStore
from server.settings import Settings
from tests.server.attachments.conftest import Captured, digest
from tests.server.problems import problem
from tests.server.sync.device import Device

Capture = Callable[..., Captured]
CONTENT = b"\xff\xd8\xff\xe0" + os.urandom(30_000) + b"\xff\xd9"
PART = 10_000


def _part(
    device: Device,
    attachment_id: str,
    content: bytes,
    start: int,
    end: int,
    *,
    body: bytes | None = None,
    total: int | None = None,
    **headers: str,
) -> Any:
    return device.client.put(
        f"/api/v1/attachments/{attachment_id}/content",
        content=content[start : end + 1] if body is None else body,
        headers={
            **device.headers,
            "Content-Type": "image/jpeg",
            "Content-Range": f"bytes {start}-{end}/{len(content) if total is None else total}",
            **headers,
        },
    )


def _offset(device: Device, attachment_id: str) -> int:
    answer = device.client.get(
        f"/api/v1/attachments/{attachment_id}/upload", headers=device.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["upload-offset"] == str(answer.json()["offset"])
    return int(answer.json()["offset"])


def _partial(blobs: LocalBlobStore, attachment_id: str) -> bytes | None:
    path = blobs.partial_path(attachment_id)
    return path.read_bytes() if path.is_file() else None


def test_parts_in_order_are_appended_and_the_last_one_stores_the_content(
    device_for: Callable[[str], Device], capture: Capture, blobs: LocalBlobStore
) -> None:
    rep = device_for("rep_n1")
    photo = capture(rep, CONTENT)
    assert _offset(rep, photo.attachment_id) == 0
    for start in range(0, len(CONTENT) - PART, PART):
        answer = _part(rep, photo.attachment_id, CONTENT, start, start + PART - 1)
        assert answer.status_code == 202, answer.text
        assert answer.json() == {
            "id": photo.attachment_id,
            "offset": start + PART,
            "byte_size": len(CONTENT),
            "complete": False,
        }
        assert answer.headers["upload-offset"] == str(start + PART)
        assert _offset(rep, photo.attachment_id) == start + PART
        assert _partial(blobs, photo.attachment_id) == CONTENT[: start + PART]
        assert blobs.stored() == []
    last = _part(rep, photo.attachment_id, CONTENT, 3 * PART, len(CONTENT) - 1)
    assert last.status_code == 201, last.text
    assert last.json()["newly_stored"] is True and last.json()["sha256"] == digest(CONTENT)
    assert blobs.stored() == [digest(CONTENT)]
    assert list(blobs.tmp.iterdir()) == []
    status = rep.client.get(
        f"/api/v1/attachments/{photo.attachment_id}/upload", headers=rep.headers
    )
    assert status.json()["complete"] is True and status.json()["offset"] == len(CONTENT)
    got = rep.client.get(f"/api/v1/attachments/{photo.attachment_id}/content", headers=rep.headers)
    assert got.content == CONTENT


def test_a_part_not_starting_at_the_held_offset_is_409_naming_it_and_changes_nothing(
    device_for: Callable[[str], Device], capture: Capture, blobs: LocalBlobStore
) -> None:
    rep = device_for("rep_n1")
    photo = capture(rep, CONTENT)
    problem(_part(rep, photo.attachment_id, CONTENT, PART, 2 * PART - 1), 409, "Content-Range")
    assert _partial(blobs, photo.attachment_id) in (None, b"")
    assert _part(rep, photo.attachment_id, CONTENT, 0, PART - 1).status_code == 202
    for start in (0, PART // 2, PART + 1):  # a repeat, an overlap, a gap
        answer = _part(rep, photo.attachment_id, CONTENT, start, start + 99)
        body = problem(answer, 409, "Content-Range")
        assert body["offset"] == PART and answer.headers["upload-offset"] == str(PART)
        assert str(PART) in body["detail"]
    assert _partial(blobs, photo.attachment_id) == CONTENT[:PART]
    assert _offset(rep, photo.attachment_id) == PART


def test_a_part_passing_the_declared_size_is_refused_naming_the_field(
    device_for: Callable[[str], Device], capture: Capture, blobs: LocalBlobStore
) -> None:
    rep = device_for("rep_n1")
    photo = capture(rep, CONTENT)
    size = len(CONTENT)
    assert _part(rep, photo.attachment_id, CONTENT, 0, PART - 1).status_code == 202
    # Past the end of the content.
    past = CONTENT + b"overflow"
    problem(_part(rep, photo.attachment_id, past, PART, size + 7, total=size), 400, "Content-Range")
    # A total other than the metadata's.
    problem(_part(rep, photo.attachment_id, past, PART, 2 * PART - 1), 400, "byte_size")
    # A body longer than its range says.
    longer = _part(
        rep, photo.attachment_id, CONTENT, PART, 2 * PART - 1, body=CONTENT[:PART] + b"x"
    )
    problem(longer, 400, "Content-Length")
    # A range that is not one.
    problem(
        rep.client.put(
            f"/api/v1/attachments/{photo.attachment_id}/content",
            content=b"x",
            headers={**rep.headers, "Content-Type": "image/jpeg", "Content-Range": "bytes */5"},
        ),
        400,
        "Content-Range",
    )
    assert _partial(blobs, photo.attachment_id) == CONTENT[:PART]
    assert _offset(rep, photo.attachment_id) == PART and blobs.stored() == []


def test_a_part_over_the_configured_limit_is_413(
    app: Litestar, settings: Settings, device_for: Callable[[str], Device], capture: Capture
) -> None:
    app.state.settings = settings.replace(attachment_max_bytes=1000)
    rep = device_for("rep_n1")
    photo = capture(rep, CONTENT)
    body = problem(_part(rep, photo.attachment_id, CONTENT, 0, 99), 413, "byte_size")
    assert body["max_bytes"] == 1000


def test_content_not_hashing_to_the_digest_is_refused_at_the_last_part_and_discarded(
    device_for: Callable[[str], Device], capture: Capture, blobs: LocalBlobStore
) -> None:
    rep = device_for("rep_n1")
    photo = capture(rep, CONTENT)
    tampered = CONTENT[:-1] + bytes([CONTENT[-1] ^ 1])
    assert _part(rep, photo.attachment_id, tampered, 0, 2 * PART - 1).status_code == 202
    problem(_part(rep, photo.attachment_id, tampered, 2 * PART, len(CONTENT) - 1), 400, "sha256")
    assert blobs.stored() == [] and list(blobs.tmp.iterdir()) == []
    assert _offset(rep, photo.attachment_id) == 0
    # The right bytes, sent again from the start, are stored.
    assert _part(rep, photo.attachment_id, CONTENT, 0, len(CONTENT) - 1).status_code == 201
    assert blobs.stored() == [digest(CONTENT)]


def test_every_part_and_the_offset_follow_the_access_rules_of_the_whole_upload(
    device_for: Callable[[str], Device], capture: Capture, blobs: LocalBlobStore
) -> None:
    rep = device_for("rep_n1")
    photo = capture(rep, CONTENT)
    assert _part(rep, photo.attachment_id, CONTENT, 0, PART - 1).status_code == 202
    for name in ("rep_s1", "rep_n2"):  # another region; the same region's other territory
        other = device_for(name)
        problem(_part(other, photo.attachment_id, CONTENT, PART, 2 * PART - 1), 404)
        status = other.client.get(
            f"/api/v1/attachments/{photo.attachment_id}/upload", headers=other.headers
        )
        problem(status, 404)
    manager = device_for("mgr_north")
    problem(_part(manager, photo.attachment_id, CONTENT, PART, 2 * PART - 1), 403)
    problem(
        manager.client.get(
            f"/api/v1/attachments/{photo.attachment_id}/upload", headers=manager.headers
        ),
        403,
    )
    for media_type in ("text/html", "image/png"):
        wrong = _part(
            rep, photo.attachment_id, CONTENT, PART, 2 * PART - 1, **{"Content-Type": media_type}
        )
        problem(wrong, 415, "Content-Type")
    assert _partial(blobs, photo.attachment_id) == CONTENT[:PART]


def test_content_already_held_answers_complete_and_a_late_part_learns_so(
    device_for: Callable[[str], Device], capture: Capture, blobs: LocalBlobStore
) -> None:
    rep = device_for("rep_n1")
    first, second = capture(rep, CONTENT), capture(rep, CONTENT)
    assert _part(rep, second.attachment_id, CONTENT, 0, PART - 1).status_code == 202
    whole = rep.client.put(
        f"/api/v1/attachments/{first.attachment_id}/content",
        content=CONTENT,
        headers={**rep.headers, "Content-Type": "image/jpeg"},
    )
    assert whole.status_code == 201, whole.text
    assert _offset(rep, second.attachment_id) == len(CONTENT)
    body = problem(_part(rep, second.attachment_id, CONTENT, PART, 2 * PART - 1), 409)
    assert body["offset"] == len(CONTENT)
    assert blobs.stored() == [digest(CONTENT)]


def test_a_whole_body_upload_still_works_and_supersedes_a_partial_one(
    device_for: Callable[[str], Device], capture: Capture, blobs: LocalBlobStore
) -> None:
    rep = device_for("rep_n1")
    photo = capture(rep, CONTENT)
    assert _part(rep, photo.attachment_id, CONTENT, 0, PART - 1).status_code == 202
    whole = rep.client.put(
        f"/api/v1/attachments/{photo.attachment_id}/content",
        content=CONTENT,
        headers={**rep.headers, "Content-Type": "image/jpeg"},
    )
    assert whole.status_code == 201, whole.text
    assert list(blobs.tmp.iterdir()) == []
    assert _offset(rep, photo.attachment_id) == len(CONTENT)


def test_a_partial_file_complete_but_not_stored_is_finished_when_the_offset_is_asked(
    device_for: Callable[[str], Device], capture: Capture, blobs: LocalBlobStore
) -> None:
    # The server stopped between the last part's fsync and its rename.
    rep = device_for("rep_n1")
    photo = capture(rep, CONTENT)
    blobs.partial_path(photo.attachment_id).write_bytes(CONTENT)
    assert _offset(rep, photo.attachment_id) == len(CONTENT)
    assert blobs.stored() == [digest(CONTENT)] and list(blobs.tmp.iterdir()) == []


@pytest.mark.parametrize("age_s", [3600.0 * 2, 86400.0 * 8])
def test_only_partial_files_abandoned_for_a_week_are_swept(tmp_path: Path, age_s: float) -> None:
    store = LocalBlobStore(tmp_path)
    partial = store.partial_path("0193a7c2-0000-7000-8000-000000000001")
    partial.write_bytes(b"some bytes")
    then = time.time() - age_s
    os.utime(partial, (then, then))
    swept = store.sweep()
    assert swept == (1 if age_s > 7 * 86400 else 0)
    assert partial.exists() is (age_s < 7 * 86400)
