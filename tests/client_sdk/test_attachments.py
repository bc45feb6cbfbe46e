"""Attachments through the SDK against the real app in-process: captured offline beside the
store, sent after the metadata, never twice, never lost when refused, fetched on demand by
another device and forgotten when the owner leaves the rep's scope."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from client_sdk import FieldClient, MemoryTokenStore, RetryPolicy
from client_sdk.errors import InvalidFieldValue, RecordNotFound
from server.accounts.models import Account
from server.attachments.blobs import LocalBlobStore
from server.settings import Settings
from server.tickets.models import Ticket
from sync.codec import UPLOAD_PARTS_HEADER
from tests.client_sdk.conftest import server_record
from tests.conftest import make_settings
from tests.seed import PASSWORD, World, run_db, seed_world
from tests.stores import Store

PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 1200 + b"\xff\xd9"


@pytest.fixture
def settings(store: Store, tmp_path: Path) -> Settings:
    return make_settings(store, data_dir=str(tmp_path / "server-data"))


@pytest.fixture
def blobs(settings: Settings) -> LocalBlobStore:
    return LocalBlobStore(Path(settings.data_dir) / "attachments")


@pytest.fixture
def world(store: Store) -> World:
    return seed_world(store.url)


def _device(
    client: TestClient[Litestar], path: Path, username: str = "rep_n1", **options: Any
) -> FieldClient:
    device = FieldClient(
        path,
        client,
        token_store=MemoryTokenStore(),
        retry=RetryPolicy(attempts=2, base_s=0.0, cap_s=0.0),
        **options,
    )
    device.login(username, PASSWORD, device_name=path.stem)
    device.sync()
    return device


@pytest.fixture
def rep(client: TestClient[Litestar], world: World, tmp_path: Path) -> Iterator[FieldClient]:
    device = _device(client, tmp_path / "rep.db")
    yield device
    device.close()


def test_a_photo_is_kept_beside_the_store_and_queued_with_its_metadata(
    rep: FieldClient, world: World, tmp_path: Path
) -> None:
    visit = rep.plan_visit(world.accounts["N1"][0], date(2026, 12, 7))
    photo = rep.attach("visit", visit.id, PHOTO, media_type="image/jpeg", file_name="shelf.jpg")
    digest = hashlib.sha256(PHOTO).hexdigest()
    assert photo["sha256"] == digest and photo["byte_size"] == len(PHOTO)
    assert photo["author_id"] == rep.me["id"]
    [file] = rep.attachment_files()
    assert file.state == "pending" and file.path is not None
    assert Path(file.path).read_bytes() == PHOTO
    assert Path(file.path).is_relative_to(tmp_path / "rep.db.attachments")
    # The bytes are not in the store's rows.
    assert PHOTO[:64] not in (tmp_path / "rep.db").read_bytes()
    assert rep.status().unsent == 2
    assert rep.attachment_content(photo.id) == PHOTO  # offline: from the local file


def test_what_the_rulebook_refuses_is_refused_before_a_file_is_written(
    rep: FieldClient, world: World, tmp_path: Path
) -> None:
    visit = rep.plan_visit(world.accounts["N1"][0], date(2026, 12, 7))
    with pytest.raises(InvalidFieldValue) as refused:
        rep.attach("visit", visit.id, b"<html>", media_type="text/html")
    assert refused.value.field == "media_type"
    with pytest.raises(RecordNotFound):
        rep.attach("ticket", visit.id, PHOTO, media_type="image/jpeg")
    assert rep.attachment_files() == []
    assert not any((tmp_path / "rep.db.attachments").rglob("*"))
    assert rep.status().unsent == 1


def test_sync_uploads_the_content_after_the_metadata_and_never_twice(
    rep: FieldClient, world: World, blobs: LocalBlobStore
) -> None:
    visit = rep.plan_visit(world.accounts["N1"][0], date(2026, 12, 7))
    first = rep.attach("visit", visit.id, PHOTO, media_type="image/jpeg")
    same = rep.attach("visit", visit.id, PHOTO, media_type="image/jpeg")  # the same photo again
    report = rep.sync()
    assert (report.uploaded, report.upload_refused, report.upload_waiting) == (1, 0, 0)
    assert blobs.stored() == [hashlib.sha256(PHOTO).hexdigest()]
    assert {f.attachment_id: f.state for f in rep.attachment_files()} == {
        first.id: "uploaded",
        same.id: "uploaded",
    }
    requests = rep.transport.requests
    again = rep.sync()
    assert again.uploaded == 0
    # Nothing pending: no attachment request at all, only the sync's own.
    assert rep.transport.requests - requests <= 2


def test_a_refused_upload_keeps_the_photo_and_says_why(
    app: Litestar, settings: Settings, rep: FieldClient, world: World, blobs: LocalBlobStore
) -> None:
    app.state.settings = settings.replace(attachment_max_bytes=1000)
    visit = rep.plan_visit(world.accounts["N1"][0], date(2026, 12, 7))
    photo = rep.attach("visit", visit.id, PHOTO, media_type="image/jpeg")
    report = rep.sync()
    assert report.upload_refused == 1 and blobs.stored() == []
    [file] = rep.attachment_files("refused")
    assert file.attachment_id == photo.id
    assert file.reason is not None and "413" in file.reason and "1000" in file.reason
    assert file.path is not None and Path(file.path).read_bytes() == PHOTO
    assert rep.sync().uploaded == 0  # not resent on every sync


def test_a_second_device_downloads_identical_bytes_once(
    client: TestClient[Litestar], rep: FieldClient, world: World, tmp_path: Path
) -> None:
    ticket = rep.open_ticket(world.accounts["N1"][0], "Broken press")
    photo = rep.attach("ticket", ticket.id, PHOTO, media_type="image/png", file_name="press.png")
    rep.sync()
    tablet = _device(client, tmp_path / "tablet.db")
    assert tablet.get("attachment", photo.id) is not None
    assert tablet.attachment_files() == []  # metadata only, until someone looks
    assert tablet.attachment_content(photo.id) == PHOTO
    [cached] = tablet.attachment_files()
    assert cached.state == "cached"
    requests = tablet.transport.requests
    assert tablet.attachment_content(photo.id) == PHOTO
    assert tablet.transport.requests == requests
    tablet.close()


def test_bytes_of_attachments_that_leave_the_scope_are_evicted(
    client: TestClient[Litestar], rep: FieldClient, world: World, store: Store, tmp_path: Path
) -> None:
    account_id = world.accounts["N1"][0]
    ticket = rep.open_ticket(account_id, "Broken press")
    photo = rep.attach("ticket", ticket.id, PHOTO, media_type="image/jpeg")
    rep.sync()
    tablet = _device(client, tmp_path / "tablet.db")
    tablet.attachment_content(photo.id)
    [cached] = tablet.attachment_files()
    assert cached.path is not None

    async def hand_over(session: AsyncSession) -> None:
        # The account moves to another territory and its ticket to that territory's rep.
        account = await session.get(Account, account_id)
        found = await session.get(Ticket, ticket.id)
        assert account is not None and found is not None
        account.territory_id = world.territories["N2"]
        found.opened_by_id = world.user("rep_n2")

    run_db(store.url, hand_over)
    tablet.sync()
    assert tablet.get("attachment", photo.id) is None
    assert tablet.attachment_files() == []
    assert not Path(cached.path).exists()
    # The capturing device had uploaded it: its copy goes too.
    rep.sync()
    assert rep.attachment_files() == []
    tablet.close()


def test_a_photo_whose_metadata_the_push_refuses_is_kept_with_the_reason(
    rep: FieldClient, world: World, blobs: LocalBlobStore
) -> None:
    # A visit the device holds but the server does not (a record that never reached it).
    ghost = server_record(
        rep,
        "visit",
        {"account_id": world.accounts["N1"][0], "rep_id": rep.me["id"], "status": "planned"},
    )
    photo = rep.attach("visit", ghost, PHOTO, media_type="image/jpeg")
    report = rep.sync()
    assert report.rejected == 1 and report.upload_refused == 1 and report.uploaded == 0
    [file] = rep.attachment_files("refused")
    assert file.attachment_id == photo.id
    assert file.reason is not None and file.reason.startswith("out_of_scope")
    assert file.path is not None and Path(file.path).read_bytes() == PHOTO
    assert [r.record_id for r in rep.rejected()] == [photo.id]
    assert blobs.stored() == []


# Resumable uploads ------------------------------------------------------------------------------
PART = 64_000
BIG = b"\xff\xd8\xff\xe0" + os.urandom(5 * PART + 1234) + b"\xff\xd9"


class Wire:
    """The device's HTTP client, counting the content bytes it puts on the wire, and able to
    drop the connection: after ``cut_after`` parts every upload request fails, or ``lose`` the
    answer of one part the server did receive."""

    def __init__(self, http: Any) -> None:
        self.real: Callable[..., httpx.Response] = http.request
        self.parts: list[tuple[str, int]] = []
        self.cut_after: int | None = None
        self.lose: int | None = None
        self.older_server = False
        """Answer pushes as a server before resumable uploads did: without saying it takes
        parts."""

    def request(self, method: str, url: Any, **kw: Any) -> httpx.Response:
        if method == "PUT" and str(url).endswith("/content"):
            if self.cut_after is not None and len(self.parts) >= self.cut_after:
                raise httpx.ReadError("connection dropped")
            content = kw.get("content") or b""
            self.parts.append((kw["headers"].get("Content-Range", "whole"), len(content)))
            response = self.real(method, url, **kw)
            if self.lose is not None and len(self.parts) == self.lose:
                self.lose = None
                raise httpx.ReadError("connection dropped before the answer")
            return response
        response = self.real(method, url, **kw)
        if self.older_server and str(url).endswith("/sync/push"):
            del response.headers[UPLOAD_PARTS_HEADER]
        return response

    def sent(self) -> int:
        return sum(n for _, n in self.parts)


def _parted(
    client: TestClient[Litestar], path: Path, tokens: MemoryTokenStore
) -> tuple[FieldClient, Wire]:
    device = FieldClient(
        path,
        client,
        token_store=tokens,
        retry=RetryPolicy(attempts=2, base_s=0.0, cap_s=0.0),
        upload_part_bytes=PART,
    )
    wire = Wire(device.transport.http)
    device.transport.http = _Patched(device.transport.http, wire)  # type: ignore[assignment]
    return device, wire


class _Patched:
    def __init__(self, http: Any, wire: Wire) -> None:
        self._http, self._wire = http, wire

    def request(self, method: str, url: Any, **kw: Any) -> httpx.Response:
        return self._wire.request(method, url, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._http, name)


def test_an_upload_cut_after_some_parts_sends_only_the_rest_even_after_a_restart(
    client: TestClient[Litestar], world: World, tmp_path: Path, blobs: LocalBlobStore
) -> None:
    tokens = MemoryTokenStore()
    phone, wire = _parted(client, tmp_path / "phone.db", tokens)
    phone.login("rep_n1", PASSWORD, device_name="phone")
    phone.sync()
    visit = phone.plan_visit(world.accounts["N1"][0], date(2026, 12, 7))
    photo = phone.attach("visit", visit.id, BIG, media_type="image/jpeg")
    wire.cut_after = 2  # the phone loses its network after two parts
    report = phone.sync()
    assert (report.uploaded, report.upload_waiting) == (0, 1)
    assert [n for _, n in wire.parts] == [PART, PART]
    [file] = phone.attachment_files()
    assert file.state == "pending" and file.reason is None
    assert blobs.stored() == []
    assert blobs.partial_path(photo.id).read_bytes() == BIG[: 2 * PART]
    phone.close()  # the app is killed; it starts again with the network back

    phone, wire = _parted(client, tmp_path / "phone.db", tokens)
    report = phone.sync()
    assert report.uploaded == 1
    assert wire.sent() == len(BIG) - 2 * PART
    assert wire.parts[0] == (f"bytes {2 * PART}-{3 * PART - 1}/{len(BIG)}", PART)
    path = blobs.local_path(hashlib.sha256(BIG).hexdigest())
    assert blobs.stored() == [hashlib.sha256(BIG).hexdigest()]
    assert path is not None and path.read_bytes() == BIG
    assert list(blobs.tmp.iterdir()) == []
    assert [f.state for f in phone.attachment_files()] == ["uploaded"]
    phone.close()


def test_a_part_whose_answer_is_lost_is_not_sent_again(
    client: TestClient[Litestar], world: World, tmp_path: Path, blobs: LocalBlobStore
) -> None:
    phone, wire = _parted(client, tmp_path / "phone.db", MemoryTokenStore())
    phone.login("rep_n1", PASSWORD, device_name="phone")
    phone.sync()
    visit = phone.plan_visit(world.accounts["N1"][0], date(2026, 12, 7))
    phone.attach("visit", visit.id, BIG, media_type="image/jpeg")
    wire.lose = 3  # the third part arrives, its answer does not; the device asks the offset
    report = phone.sync()
    assert report.uploaded == 1
    path = blobs.local_path(hashlib.sha256(BIG).hexdigest())
    assert path is not None and path.read_bytes() == BIG
    assert wire.sent() == len(BIG)  # the third part is not sent again
    phone.close()


def test_a_part_the_server_refuses_keeps_the_photo_and_says_why(
    app: Litestar,
    settings: Settings,
    client: TestClient[Litestar],
    world: World,
    tmp_path: Path,
    blobs: LocalBlobStore,
) -> None:
    app.state.settings = settings.replace(attachment_max_bytes=3 * PART)
    phone, wire = _parted(client, tmp_path / "phone.db", MemoryTokenStore())
    phone.login("rep_n1", PASSWORD, device_name="phone")
    phone.sync()
    visit = phone.plan_visit(world.accounts["N1"][0], date(2026, 12, 7))
    phone.attach("visit", visit.id, BIG, media_type="image/jpeg")
    assert phone.sync().upload_refused == 1
    [file] = phone.attachment_files("refused")
    assert file.reason is not None and "413" in file.reason and str(3 * PART) in file.reason
    assert file.path is not None and Path(file.path).read_bytes() == BIG
    assert blobs.stored() == [] and len(wire.parts) == 1
    assert phone.sync().uploaded == 0 and len(wire.parts) == 1
    phone.close()


def test_a_server_that_never_said_it_takes_parts_gets_the_content_whole(
    client: TestClient[Litestar], world: World, tmp_path: Path, blobs: LocalBlobStore
) -> None:
    phone, wire = _parted(client, tmp_path / "phone.db", MemoryTokenStore())
    wire.older_server = True
    phone.login("rep_n1", PASSWORD, device_name="phone")
    phone.sync()
    visit = phone.plan_visit(world.accounts["N1"][0], date(2026, 12, 7))
    phone.attach("visit", visit.id, BIG, media_type="image/jpeg")
    assert phone.sync().uploaded == 1
    assert wire.parts == [("whole", len(BIG))]
    assert blobs.stored() == [hashlib.sha256(BIG).hexdigest()]
    phone.close()
