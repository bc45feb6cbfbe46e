"""Attachment content over HTTP: upload verified against the pushed metadata, download scoped
like the owner record, and every refusal a problem naming what was wrong, with nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar

from server.attachments.blobs import LocalBlobStore
from server.settings import Settings
from sync.ids import new_id
from sync.messages import Rejected
from tests.seed import World
from tests.server.attachments.conftest import PHOTO, Captured, digest, meta
from tests.server.problems import problem
from tests.server.sync.device import Device

Capture = Callable[..., Captured]


def _put(device: Device, attachment_id: str, content: bytes, **headers: str) -> Any:
    return device.client.put(
        f"/api/v1/attachments/{attachment_id}/content",
        content=content,
        headers={**device.headers, "Content-Type": "image/jpeg", **headers},
    )


def _get(device: Device, attachment_id: str, **headers: str) -> Any:
    return device.client.get(
        f"/api/v1/attachments/{attachment_id}/content", headers={**device.headers, **headers}
    )


def test_uploaded_content_downloads_identical_with_its_digest_as_etag(
    device_for: Callable[[str], Device], capture: Capture, blobs: LocalBlobStore
) -> None:
    rep = device_for("rep_n1")
    photo = capture(rep)
    stored = _put(rep, photo.attachment_id, photo.content)
    assert stored.status_code == 201, stored.text
    assert stored.json()["newly_stored"] is True
    assert blobs.stored() == [digest(photo.content)]

    got = _get(rep, photo.attachment_id)
    assert got.status_code == 200
    assert got.content == photo.content
    assert got.headers["etag"].strip('"') == digest(photo.content)
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert "shelf.jpg" in got.headers["content-disposition"]
    assert got.headers["x-content-type-options"] == "nosniff"
    again = _get(rep, photo.attachment_id, **{"If-None-Match": got.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_the_same_content_uploaded_twice_is_stored_once(
    device_for: Callable[[str], Device], capture: Capture, blobs: LocalBlobStore
) -> None:
    rep = device_for("rep_n1")
    first, second = capture(rep), capture(rep)
    assert _put(rep, first.attachment_id, PHOTO).status_code == 201
    retry = _put(rep, first.attachment_id, PHOTO)
    assert retry.status_code == 200 and retry.json()["newly_stored"] is False
    other = _put(rep, second.attachment_id, PHOTO)
    assert other.status_code == 200 and other.json()["newly_stored"] is False
    assert blobs.stored() == [digest(PHOTO)]


def test_a_second_device_of_the_rep_pulls_the_metadata_and_the_owner_decides_the_scope(
    device_for: Callable[[str], Device], capture: Capture
) -> None:
    rep = device_for("rep_n1")
    photo = capture(rep)
    _put(rep, photo.attachment_id, PHOTO)
    tablet = device_for("rep_n1")
    tablet.pull()
    pulled = tablet.of("attachment")[photo.attachment_id]
    assert pulled["sha256"] == digest(PHOTO) and pulled["owner_id"] == photo.visit_id
    assert _get(tablet, photo.attachment_id).content == PHOTO

    stranger = device_for("rep_s1")
    stranger.pull()
    assert photo.attachment_id not in stranger.of("attachment")
    problem(_get(stranger, photo.attachment_id), 404)
    problem(_put(stranger, photo.attachment_id, PHOTO), 404)
    neighbour = device_for("rep_n2")  # same region, another territory: not their visit
    problem(_get(neighbour, photo.attachment_id), 404)


def test_a_manager_reads_their_regions_attachments_and_uploads_none(
    device_for: Callable[[str], Device], capture: Capture
) -> None:
    rep = device_for("rep_n1")
    photo = capture(rep)
    _put(rep, photo.attachment_id, PHOTO)
    north, south = device_for("mgr_north"), device_for("mgr_south")
    assert _get(north, photo.attachment_id).content == PHOTO
    meta_out = north.client.get(f"/api/v1/attachments/{photo.attachment_id}", headers=north.headers)
    assert meta_out.status_code == 200 and meta_out.json()["content_stored"] is True
    problem(_get(south, photo.attachment_id), 404)
    problem(_put(north, photo.attachment_id, PHOTO), 403)


def test_content_not_hashing_to_the_digest_is_refused_naming_sha256(
    device_for: Callable[[str], Device], capture: Capture, blobs: LocalBlobStore
) -> None:
    rep = device_for("rep_n1")
    photo = capture(rep)
    tampered = bytes([PHOTO[0] ^ 1]) + PHOTO[1:]
    problem(_put(rep, photo.attachment_id, tampered), 400, "sha256")
    assert blobs.stored() == [] and list(blobs.tmp.iterdir()) == []


def test_content_of_another_size_than_announced_is_refused_naming_byte_size(
    device_for: Callable[[str], Device], capture: Capture, blobs: LocalBlobStore
) -> None:
    rep = device_for("rep_n1")
    photo = capture(rep)
    problem(_put(rep, photo.attachment_id, PHOTO + b"x"), 400, "byte_size")
    assert blobs.stored() == []


def test_content_over_the_configured_limit_is_refused_413(
    app: Litestar,
    settings: Settings,
    device_for: Callable[[str], Device],
    capture: Capture,
    blobs: LocalBlobStore,
) -> None:
    app.state.settings = settings.replace(attachment_max_bytes=1000)
    rep = device_for("rep_n1")
    photo = capture(rep)
    body = problem(_put(rep, photo.attachment_id, PHOTO), 413, "byte_size")
    assert body["max_bytes"] == 1000
    assert blobs.stored() == []


def test_a_media_type_outside_the_allow_list_is_refused_415(
    device_for: Callable[[str], Device], capture: Capture, blobs: LocalBlobStore
) -> None:
    rep = device_for("rep_n1")
    photo = capture(rep)
    body = problem(
        _put(rep, photo.attachment_id, PHOTO, **{"Content-Type": "text/html"}),
        415,
        "Content-Type",
    )
    assert "text/html" in body["detail"]
    other = _put(rep, photo.attachment_id, PHOTO, **{"Content-Type": "image/png"})
    assert "image/jpeg" in problem(other, 415, "Content-Type")["detail"]
    assert blobs.stored() == []


def test_content_not_uploaded_yet_is_a_404_saying_so(
    device_for: Callable[[str], Device], capture: Capture
) -> None:
    rep = device_for("rep_n1")
    photo = capture(rep)
    assert problem(_get(rep, photo.attachment_id), 404)["reason"] == "not_uploaded"


def test_missing_content_names_what_to_upload_and_what_the_server_does_not_know(
    device_for: Callable[[str], Device], capture: Capture
) -> None:
    rep = device_for("rep_n1")
    sent, pending = capture(rep), capture(rep, b"another photo")
    _put(rep, sent.attachment_id, PHOTO)
    unknown = new_id()
    answer = rep.client.post(
        "/api/v1/attachments/missing-content",
        json={"ids": [sent.attachment_id, pending.attachment_id, unknown]},
        headers=rep.headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"missing": [pending.attachment_id], "unknown": [unknown]}
    stranger = device_for("rep_s1")
    theirs = stranger.client.post(
        "/api/v1/attachments/missing-content",
        json={"ids": [pending.attachment_id]},
        headers=stranger.headers,
    )
    assert theirs.json() == {"missing": [], "unknown": [pending.attachment_id]}
    bad = rep.client.post(
        "/api/v1/attachments/missing-content", json={"ids": ["nope"]}, headers=rep.headers
    )
    problem(bad, 400)


@pytest.mark.parametrize(
    ("change", "reason", "field"),
    [
        ({"owner_entity": "account"}, "validation", "owner_entity"),
        ({"media_type": "text/html"}, "validation", "media_type"),
        ({"sha256": "abc"}, "validation", "sha256"),
        ({"file_name": "../etc/passwd"}, "validation", "file_name"),
        ({"byte_size": 0}, "validation", "byte_size"),
    ],
)
def test_metadata_the_rulebook_refuses_is_rejected_by_the_push(
    device_for: Callable[[str], Device],
    world: World,
    change: dict[str, Any],
    reason: str,
    field: str,
) -> None:
    rep = device_for("rep_n1")
    visit_id = new_id()
    rep.push(rep.upsert("visit", visit_id, {"account_id": world.accounts["N1"][0]}))
    [result] = rep.push(
        rep.upsert("attachment", new_id(), {**meta("visit", visit_id, PHOTO), **change})
    )
    assert isinstance(result, Rejected), result
    assert result.reason == reason and result.field == field


def test_an_attachment_on_a_record_out_of_reach_is_rejected_out_of_scope(
    device_for: Callable[[str], Device], capture: Capture
) -> None:
    theirs = capture(device_for("rep_s1"), territory="S1")
    rep = device_for("rep_n1")
    for owner_entity, owner_id in (("visit", theirs.visit_id), ("ticket", new_id())):
        [result] = rep.push(rep.upsert("attachment", new_id(), meta(owner_entity, owner_id, PHOTO)))
        assert isinstance(result, Rejected) and result.reason == "out_of_scope", result
    # The visit id named as an order: the kind decides where the server looks.
    mine = capture(rep)
    [result] = rep.push(rep.upsert("attachment", new_id(), meta("order", mine.visit_id, PHOTO)))
    assert isinstance(result, Rejected) and result.reason == "out_of_scope", result


def test_an_upload_over_the_general_body_limit_but_within_the_attachment_limit_is_stored(
    settings: Settings,
    device_for: Callable[[str], Device],
    capture: Capture,
    blobs: LocalBlobStore,
) -> None:
    big = b"\xff\xd8" + bytes(range(256)) * (settings.max_body_bytes // 256 + 4096)
    assert settings.max_body_bytes < len(big) <= settings.attachment_max_bytes
    rep = device_for("rep_n1")
    photo = capture(rep, big)
    stored = _put(rep, photo.attachment_id, big)
    assert stored.status_code == 201, stored.text
    assert blobs.stored() == [digest(big)]
