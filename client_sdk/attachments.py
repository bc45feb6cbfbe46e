"""Attachments on the device: a photo of a shelf at a visit, of a broken machine on a ticket,
a signed delivery note on an order.

``capture`` writes the bytes into the attachments directory beside the store (named by their
SHA-256, written to a temporary file, fsynced, renamed), then records the metadata through the
outbox and the file's state in ``attachment_files`` in one local transaction: the row never
names a file that is not there. The bytes never enter the SQLite rows or the change log.

After a sync has pushed the metadata (the server verifies an upload against metadata it
holds), ``upload_pending`` asks the server in one request which contents it still lacks —
content it already holds under the same digest is not sent again — and uploads those. A
file larger than ``part_size`` (1 MiB unless configured) goes in parts of that size, each
acknowledged by the server once durable; after a cut (a dropped connection, a killed app) the
next sync asks the server how many bytes it holds and sends only the rest. A
network failure leaves them pending for the next sync; a refusal (too large, a media type the
server does not take, a record the push refused) is kept with the server's reason, and the
file stays: a captured photo is never lost.

``content`` answers from the local file when there is one, else downloads, verifies the digest
and keeps the file. ``evict`` drops the files of attachments no longer on the device (their
owner left the rep's scope), never one still waiting to be sent or refused.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from client_sdk.errors import (
    InvalidFieldValue,
    NetworkUnavailable,
    RecordNotFound,
    RequestRejected,
    ServerError,
)
from client_sdk.outbox import Outbox
from client_sdk.records import Record, RecordStore
from client_sdk.store import Store
from sync.errors import InvalidValue
from sync.ids import new_id
from sync.rules import check_fields

if TYPE_CHECKING:
    from client_sdk.transport import Transport

__all__ = ["DEFAULT_PART_BYTES", "AttachmentFile", "Attachments", "UploadReport"]

API = "/api/v1/attachments"
DEFAULT_PART_BYTES = 1 << 20
"""Bytes per part of a resumable upload (1 MiB): what a cut connection can cost at most is one
part. Smaller files go in one request, as a whole."""


class AttachmentFile(msgspec.Struct, frozen=True, kw_only=True):
    """What the device holds of one attachment's bytes."""

    attachment_id: str
    sha256: str
    state: str
    """``pending`` (captured, not on the server yet), ``uploaded``, ``refused`` (kept, with
    ``reason``), ``cached`` (downloaded)."""
    reason: str | None
    attempts: int
    path: str | None
    """The local file, when the device has the bytes."""


class UploadReport(msgspec.Struct, kw_only=True):
    uploaded: int = 0
    already_held: int = 0
    refused: int = 0
    waiting: int = 0
    bytes_sent: int = 0
    """Content bytes the server acknowledged in this sync (parts included)."""


class Attachments:
    def __init__(
        self,
        store: Store,
        records: RecordStore,
        outbox: Outbox,
        root: Path,
        *,
        part_size: int = DEFAULT_PART_BYTES,
    ) -> None:
        if part_size < 1:
            raise ValueError("part_size must be at least 1 byte")
        self.store = store
        self.records = records
        self.outbox = outbox
        self.root = Path(root)
        self.part_size = part_size

    # Files ---------------------------------------------------------------------------------------
    def path_of(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def _keep(self, content: bytes, digest: str) -> Path:
        """Write ``content`` under its digest, atomically; a held digest is left as it is."""
        target = self.path_of(digest)
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        part = self.root / f".{new_id()}.part"
        try:
            with part.open("wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
        return target

    def _drop_file_if_unused(self, digest: str) -> None:
        if self.store.scalar("SELECT count(*) FROM attachment_files WHERE sha256 = ?", (digest,)):
            return
        self.path_of(digest).unlink(missing_ok=True)

    # Capture -------------------------------------------------------------------------------------
    def capture(
        self,
        owner_entity: str,
        owner_id: str,
        content: bytes,
        *,
        media_type: str,
        file_name: str,
        author_id: str,
        captured_at: datetime,
    ) -> str:
        if self.records.get(owner_entity, owner_id) is None:
            raise RecordNotFound(f"no {owner_entity} {owner_id} on this device", field="owner_id")
        digest = hashlib.sha256(content).hexdigest()
        fields = {
            "owner_entity": owner_entity,
            "owner_id": owner_id,
            "file_name": file_name,
            "media_type": media_type,
            "byte_size": len(content),
            "sha256": digest,
            "captured_at": captured_at.astimezone(UTC).isoformat(),
            "author_id": author_id,
        }
        try:
            # Refused before a file is written: the rule the push would apply.
            check_fields("attachment", fields)
        except InvalidValue as exc:
            raise InvalidFieldValue(exc.field, str(exc)) from None
        held = self.path_of(digest).is_file()
        self._keep(content, digest)
        attachment_id = new_id()
        try:
            with self.outbox.transaction() as tx:
                tx.upsert("attachment", attachment_id, fields)
                self.store.execute(
                    "INSERT INTO attachment_files (attachment_id, sha256, state, updated_at) "
                    "VALUES (?, ?, 'pending', ?)",
                    (attachment_id, digest, _now()),
                )
        except BaseException:
            if not held:
                self._drop_file_if_unused(digest)
            raise
        return attachment_id

    # Upload --------------------------------------------------------------------------------------
    def upload_pending(self, transport: Transport) -> UploadReport:
        report = UploadReport()
        rows = self.store.all(
            "SELECT attachment_id, sha256 FROM attachment_files WHERE state = 'pending' "
            "ORDER BY attachment_id"
        )
        if not rows:
            return report
        unsent = self._unsent_or_refused()
        ready = [r for r in rows if r["attachment_id"] not in unsent]
        for row in rows:
            refusal = unsent.get(row["attachment_id"])
            if refusal:
                self._mark(row["attachment_id"], "refused", refusal)
                report.refused += 1
            elif row["attachment_id"] in unsent:
                report.waiting += 1
        missing: set[str] = set()
        for start in range(0, len(ready), 1000):
            batch = [r["attachment_id"] for r in ready[start : start + 1000]]
            try:
                answer = transport.post_json(f"{API}/missing-content", {"ids": batch})
            except (NetworkUnavailable, ServerError):
                report.waiting += len(ready)
                return report
            missing.update(answer["missing"])
            for attachment_id in answer["unknown"]:
                # Pushed and applied, yet unknown: it left the rep's reach (its owner moved).
                self._mark(attachment_id, "refused", "the server no longer has this attachment")
                report.refused += 1
        sent: set[str] = set()
        for row in ready:
            attachment_id, digest = row["attachment_id"], row["sha256"]
            if attachment_id not in missing or digest in sent:
                # The server holds this content already (under this attachment or another
                # with the same digest, maybe one uploaded a moment ago): nothing to send.
                if self._state(attachment_id) == "pending":
                    self._mark(attachment_id, "uploaded", None)
                    report.already_held += 1
                continue
            if self._upload_one(transport, attachment_id, digest, report):
                sent.add(digest)
        return report

    def _upload_one(
        self, transport: Transport, attachment_id: str, digest: str, report: UploadReport
    ) -> bool:
        record = self.records.get("attachment", attachment_id)
        path = self.path_of(digest)
        if record is None or not path.is_file():
            self._mark(attachment_id, "refused", "the captured file is missing on this device")
            report.refused += 1
            return False
        content = path.read_bytes()
        media_type = str(record["media_type"])
        url = f"{API}/{attachment_id}/content"
        tried_before = bool(
            self.store.scalar(
                "SELECT attempts FROM attachment_files WHERE attachment_id = ?", (attachment_id,)
            )
        )
        self.store.execute(
            "UPDATE attachment_files SET attempts = attempts + 1 WHERE attachment_id = ?",
            (attachment_id,),
        )
        parts = transport.upload_parts
        if parts is None:
            parts = bool(self.store.get_meta("upload_parts", False))
        # A server that never said it takes parts (an older one) gets the content whole.
        if len(content) <= self.part_size or not parts:
            try:
                response = transport.put_content(url, content, media_type)
            except (NetworkUnavailable, ServerError):
                report.waiting += 1
                return False
            if response.status_code < 300:
                self._mark(attachment_id, "uploaded", None)
                report.uploaded += 1
                report.bytes_sent += len(content)
                return True
            self._refused(transport, attachment_id, response, report)
            return False
        return self._upload_in_parts(
            transport, attachment_id, url, content, media_type, tried_before, report
        )

    def _upload_in_parts(
        self,
        transport: Transport,
        attachment_id: str,
        url: str,
        content: bytes,
        media_type: str,
        tried_before: bool,
        report: UploadReport,
    ) -> bool:
        """Send ``content`` in parts from the offset the server holds (asked for when an
        earlier attempt may have left some there; else learnt from a 409 naming it)."""
        size = len(content)
        offset = 0
        try:
            if tried_before:
                status = transport.get_response(f"{API}/{attachment_id}/upload")
                if status.status_code >= 300:
                    self._refused(transport, attachment_id, status, report)
                    return False
                offset = int(status.json()["offset"])
            conflicts = cuts = 0
            while offset < size:
                end = min(offset + self.part_size, size)
                try:
                    response = transport.put_content(
                        url,
                        content[offset:end],
                        media_type,
                        content_range=f"bytes {offset}-{end - 1}/{size}",
                    )
                except (NetworkUnavailable, ServerError):
                    # Cut mid-part: the server keeps what arrived. Ask how much, resume there
                    # (resending the whole part would cost up to part_size for nothing).
                    cuts += 1
                    if cuts >= transport.retry.attempts:
                        raise
                    transport.pause(cuts - 1)
                    status = transport.get_response(f"{API}/{attachment_id}/upload")
                    if status.status_code >= 300:
                        self._refused(transport, attachment_id, status, report)
                        return False
                    offset = int(status.json()["offset"])
                    continue
                if response.status_code == 409 and "offset" in (held := _problem(response)):
                    # The server holds another offset (a part whose answer was lost arrived
                    # after all, or the content is stored already): resume from there.
                    conflicts += 1
                    if conflicts > 3:
                        report.waiting += 1
                        return False
                    offset = int(held["offset"])
                    continue
                if response.status_code >= 300:
                    self._refused(transport, attachment_id, response, report)
                    return False
                report.bytes_sent += end - offset
                if response.status_code != 202:
                    self._mark(attachment_id, "uploaded", None)
                    report.uploaded += 1
                    return True
                offset = int(response.json()["offset"])
        except (NetworkUnavailable, ServerError):
            report.waiting += 1
            return False
        # Every byte is on the server already (this content was stored meanwhile).
        self._mark(attachment_id, "uploaded", None)
        report.already_held += 1
        return True

    def _refused(
        self,
        transport: Transport,
        attachment_id: str,
        response: httpx.Response,
        report: UploadReport,
    ) -> None:
        """Keep a refusal (4xx) with the server's reason; anything else waits for the next
        sync."""
        try:
            transport.raise_for_status(response)
        except RequestRejected as exc:
            if exc.status == 409:  # another request of this upload is being written: retry
                report.waiting += 1
                return
            detail = exc.problem.get("detail") or str(exc)
            self._mark(attachment_id, "refused", f"HTTP {exc.status}: {detail}")
            report.refused += 1
            return
        report.waiting += 1

    def _unsent_or_refused(self) -> dict[str, str | None]:
        """Attachments whose metadata is still in the outbox: None while it waits to be sent,
        the server's reason once it was refused."""
        found: dict[str, str | None] = {}
        for row in self.store.all(
            "SELECT record_id, state, reason, detail FROM outbox WHERE entity = 'attachment'"
        ):
            if row["state"] == "pending":
                found.setdefault(row["record_id"], None)
            else:  # rejected, and then dismissed or amended by the rep: refused all the same
                found[row["record_id"]] = f"{row['reason']}: {row['detail'] or ''}".strip()
        return found

    def _state(self, attachment_id: str) -> str | None:
        return self.store.scalar(  # type: ignore[no-any-return]
            "SELECT state FROM attachment_files WHERE attachment_id = ?", (attachment_id,)
        )

    def _mark(self, attachment_id: str, state: str, reason: str | None) -> None:
        with self.store.atomic():
            self.store.execute(
                "UPDATE attachment_files SET state = ?, reason = ?, updated_at = ? "
                "WHERE attachment_id = ?",
                (state, reason, _now(), attachment_id),
            )

    # Download ------------------------------------------------------------------------------------
    def content(self, attachment_id: str, transport: Callable[[], Transport]) -> bytes:
        record = self.records.get("attachment", attachment_id)
        if record is None:
            raise RecordNotFound(f"no attachment {attachment_id} on this device")
        digest = str(record["sha256"])
        path = self.path_of(digest)
        if path.is_file():
            return path.read_bytes()
        content = transport().get_content(f"{API}/{attachment_id}/content")
        if hashlib.sha256(content).hexdigest() != digest:
            raise ServerError(
                f"attachment {attachment_id}: the content downloaded does not match its digest",
                status=200,
            )
        self._keep(content, digest)
        with self.store.atomic():
            self.store.execute(
                "INSERT INTO attachment_files (attachment_id, sha256, state, updated_at) "
                "VALUES (?, ?, 'cached', ?) ON CONFLICT (attachment_id) DO NOTHING",
                (attachment_id, digest, _now()),
            )
        return content

    # Eviction ------------------------------------------------------------------------------------
    def evict(self) -> int:
        """Forget the bytes of attachments no longer on the device; returns how many."""
        gone = self.store.all(
            "SELECT f.attachment_id, f.sha256 FROM attachment_files f "
            "WHERE f.state IN ('uploaded', 'cached') AND NOT EXISTS ("
            "SELECT 1 FROM records r WHERE r.entity = 'attachment' AND r.id = f.attachment_id)"
        )
        if not gone:
            return 0
        with self.store.atomic():
            for row in gone:
                self.store.execute(
                    "DELETE FROM attachment_files WHERE attachment_id = ?", (row["attachment_id"],)
                )
        for digest in {row["sha256"] for row in gone}:
            self._drop_file_if_unused(digest)
        return len(gone)

    # What the rep sees ---------------------------------------------------------------------------
    def files(self, state: str | None = None) -> list[AttachmentFile]:
        rows = self.store.all(
            "SELECT * FROM attachment_files"
            + (" WHERE state = ?" if state else "")
            + " ORDER BY attachment_id",
            (state,) if state else (),
        )
        return [
            AttachmentFile(
                attachment_id=r["attachment_id"],
                sha256=r["sha256"],
                state=r["state"],
                reason=r["reason"],
                attempts=r["attempts"],
                path=str(p) if (p := self.path_of(r["sha256"])).is_file() else None,
            )
            for r in rows
        ]

    def record(self, attachment_id: str) -> Record | None:
        return self.records.get("attachment", attachment_id)


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _now() -> str:
    return datetime.now(UTC).isoformat()
