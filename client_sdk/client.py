"""``FieldClient`` (plain calls) and ``AsyncFieldClient`` (asyncio) over one core.

The core is synchronous: a SQLite store and an ``httpx.Client``. ``AsyncFieldClient`` runs every
call of that same core on one dedicated worker thread, so the event loop never blocks on disk
or network, calls stay strictly ordered, and there is exactly one implementation of every rule.
"""

from __future__ import annotations

import platform
import tempfile
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import msgspec

from client_sdk.attachments import DEFAULT_PART_BYTES, AttachmentFile, Attachments
from client_sdk.errors import NetworkUnavailable, NotLoggedIn
from client_sdk.field import Field, VisitPolicy
from client_sdk.identity import UserInfo
from client_sdk.migrations import migrate
from client_sdk.outbox import Outbox
from client_sdk.records import Record, RecordStore
from client_sdk.secrets import FileTokenStore, MemoryTokenStore, TokenStore
from client_sdk.store import Store, loads
from client_sdk.sync_loop import (
    FULL_CHECK_EVERY_S,
    ProgressCallback,
    StepHook,
    SyncEngine,
    SyncReport,
)
from sync import codec

if TYPE_CHECKING:
    # httpx and the transport load when the device first talks to the server: a status read
    # or an offline capture does not pay for them.
    import httpx

    from client_sdk.transport import RetryPolicy, Transport

__all__ = ["AsyncFieldClient", "Conflict", "FieldClient", "RejectedChange", "Status"]


def _app_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("fieldline")
    except metadata.PackageNotFoundError:
        return "0"


class RejectedChange(msgspec.Struct, frozen=True, kw_only=True):
    """A change the server refused, kept on the device until the rep amends or dismisses it."""

    seq: int
    tx: str
    entity: str
    record_id: str
    op: str
    fields: dict[str, Any]
    reason: str
    detail: str
    field: str | None
    current: dict[str, Any] | None
    captured_at: str
    answered_at: str | None


class Conflict(msgspec.Struct, frozen=True, kw_only=True):
    """A value this device sent that a conflict rule discarded in favour of another."""

    conflict_id: int
    entity: str
    record_id: str
    field: str
    kept: Any
    discarded: Any
    kept_origin: str | None
    discarded_origin: str | None
    rule: str
    received_at: str


class Status(msgspec.Struct, frozen=True, kw_only=True):
    logged_in: bool
    device_id: str | None
    user: dict[str, Any] | None
    server_url: str | None
    unsent: int
    oldest_unsent_at: str | None
    oldest_unsent_age_s: float | None
    last_sync_at: str | None
    last_sync_error: str | None
    rejected: int
    conflicts: int
    records: int
    bootstrapping: bool
    max_offline_days: int | None


class FieldClient(Field):
    """The rep's device: a local store, an outbox, and a sync engine.

    ``path`` is the SQLite file (created and migrated on open). ``http`` is any ``httpx.Client``
    aimed at the server (Litestar's ``TestClient`` in tests); without one, ``server_url`` (or the
    one remembered from the last login) is used when a network call is needed, and everything
    else works offline.
    """

    def __init__(
        self,
        path: str | Path,
        http: httpx.Client | None = None,
        *,
        server_url: str | None = None,
        token_store: TokenStore | None = None,
        media_type: str = codec.MEDIA_MSGPACK,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        batch_size: int = 500,
        page_limit: int | None = None,
        verify_checksums: bool = True,
        full_check_every_s: float = FULL_CHECK_EVERY_S,
        step: StepHook | None = None,
        now: Callable[[], datetime] | None = None,
        visit_policy: VisitPolicy | None = None,
        attachments_dir: str | Path | None = None,
        upload_part_bytes: int = DEFAULT_PART_BYTES,
    ) -> None:
        store = Store(path)
        migrate(store)
        records = RecordStore(store)
        super().__init__(store, records, Outbox(store, records), now=now, visit_policy=visit_policy)
        if attachments_dir is None:
            attachments_dir = (
                tempfile.mkdtemp(prefix="fieldline-attachments-")
                if str(path) == ":memory:"
                else Path(path).with_name(Path(path).name + ".attachments")
            )
        self.attachments = Attachments(
            store, records, self.outbox, Path(attachments_dir), part_size=upload_part_bytes
        )
        if token_store is None:
            token_store = (
                MemoryTokenStore()
                if str(path) == ":memory:"
                else FileTokenStore(Path(path).with_name(Path(path).name + ".tokens"))
            )
        self.tokens = token_store
        self._http = http
        self._owns_http = False
        self._server_url = server_url
        self._transport_options: dict[str, Any] = {"media_type": media_type, "retry": retry}
        if sleep is not None:
            self._transport_options["sleep"] = sleep
        self._engine_options: dict[str, Any] = {
            "batch_size": batch_size,
            "page_limit": page_limit,
            "verify_checksums": verify_checksums,
            "full_check_every_s": full_check_every_s,
            "step": step,
        }
        self._transport: Transport | None = None

    # Lifecycle -----------------------------------------------------------------------------------
    def close(self) -> None:
        if self._owns_http and self._http is not None:
            self._http.close()
        self.store.close()

    def __enter__(self) -> FieldClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            if self._http is None:
                url = self._server_url or self.store.get_meta("server_url")
                if not url:
                    raise NetworkUnavailable("no server configured: give server_url to log in")
                import httpx

                self._http = httpx.Client(base_url=str(url), timeout=30.0)
                self._owns_http = True
            from client_sdk.transport import Transport

            self._transport = Transport(self._http, self.tokens, **self._transport_options)
        return self._transport

    # Session -------------------------------------------------------------------------------------
    def login(
        self,
        username: str,
        password: str,
        *,
        device_name: str | None = None,
        app_version: str | None = None,
    ) -> UserInfo:
        """Log in online once; afterwards the device works offline with what it stored."""
        result = self.transport.login(
            username,
            password,
            device_name=device_name or platform.node() or "fieldline-device",
            device_id=self.store.get_meta("device_id"),
            app_version=app_version or _app_version(),
        )
        previous = self.store.get_meta("user")
        with self.store.atomic():
            if previous and previous.get("id") != result.user.id:
                # Another rep on this tablet: their predecessor's records are not theirs to see.
                self.store.execute("DELETE FROM records WHERE on_server = 1")
                self.store.set_meta("cursor", None)
            self.store.set_meta("device_id", result.device_id)
            self.store.set_meta("user", msgspec.to_builtins(result.user))
            if self._server_url:
                self.store.set_meta("server_url", self._server_url)
            elif self._http is not None and str(self._http.base_url):
                self.store.set_meta("server_url", str(self._http.base_url))
        self._me = None
        self.outbox.forget_identity()
        return result.user

    def logout(self) -> None:
        """End the session on the server and forget the tokens; the store and its unsent
        changes stay (they are sent after the next login)."""
        try:
            self.transport.logout()
        except (NetworkUnavailable, NotLoggedIn):
            self.tokens.clear()

    @property
    def user(self) -> UserInfo | None:
        data = self.store.get_meta("user")
        return None if not data else msgspec.convert(data, UserInfo)

    # Sync ----------------------------------------------------------------------------------------
    def sync(self, progress: ProgressCallback | None = None) -> SyncReport:
        """Push the outbox, then pull until caught up. Safe to interrupt at any point."""
        if not self.store.get_meta("device_id"):
            raise NotLoggedIn("log in once online before syncing")
        engine = SyncEngine(
            self.store, self.records, self.outbox, self.transport, **self._engine_options
        )
        report = engine.sync(progress)
        # Content goes after the push: the server verifies it against metadata it holds.
        uploads = self.attachments.upload_pending(self.transport)
        report.uploaded, report.upload_refused = uploads.uploaded, uploads.refused
        report.upload_waiting = uploads.waiting
        self.attachments.evict()
        return report

    # Attachments ---------------------------------------------------------------------------------
    def attach(
        self,
        owner_entity: str,
        owner_id: str,
        content: bytes | str | Path,
        *,
        media_type: str,
        file_name: str | None = None,
    ) -> Record:
        """Attach a photo or document (bytes, or a file's path) to a visit, ticket or order on
        this device, offline: the bytes are kept in the attachments directory and sent by the
        next sync, after the metadata."""
        if isinstance(content, bytes):
            data, name = content, file_name or f"attachment{_suffix(media_type)}"
        else:
            data, name = Path(content).read_bytes(), file_name or Path(content).name
        attachment_id = self.attachments.capture(
            owner_entity,
            owner_id,
            data,
            media_type=media_type,
            file_name=name,
            author_id=self.me["id"],
            captured_at=self.now(),
        )
        return self._get("attachment", attachment_id)

    def attachments_of(self, owner_entity: str, owner_id: str) -> list[Record]:
        return self.records.where("attachment", owner_entity=owner_entity, owner_id=owner_id)

    def attachment_content(self, attachment_id: str) -> bytes:
        """The bytes of an attachment on this device: from the local file, else downloaded
        once (needs the network) and kept."""
        return self.attachments.content(attachment_id, lambda: self.transport)

    def attachment_files(self, state: str | None = None) -> list[AttachmentFile]:
        """The device's attachment files and their state; ``refused`` ones carry the server's
        reason and keep their bytes."""
        return self.attachments.files(state)

    def rejected(self) -> list[RejectedChange]:
        rows = self.store.all("SELECT * FROM outbox WHERE state = 'rejected' ORDER BY seq")
        return [
            RejectedChange(
                seq=r["seq"],
                tx=r["tx"],
                entity=r["entity"],
                record_id=r["record_id"],
                op=r["op"],
                fields=loads(r["fields"]),
                reason=r["reason"],
                detail=r["detail"] or "",
                field=r["field"],
                current=loads(r["current"]),
                captured_at=r["created_at"],
                answered_at=r["answered_at"],
            )
            for r in rows
        ]

    def dismiss_rejected(self, seqs: list[int]) -> None:
        """The rep has read these refusals and lets them go (they stay on the server's list)."""
        self.outbox.close_rejected(seqs, state="dismissed")

    def conflicts(self) -> list[Conflict]:
        rows = self.store.all("SELECT * FROM conflicts ORDER BY conflict_id")
        return [
            Conflict(
                conflict_id=r["conflict_id"],
                entity=r["entity"],
                record_id=r["record_id"],
                field=r["field"],
                kept=loads(r["kept"]),
                discarded=loads(r["discarded"]),
                kept_origin=r["kept_origin"],
                discarded_origin=r["discarded_origin"],
                rule=r["rule"],
                received_at=r["received_at"],
            )
            for r in rows
        ]

    def status(self) -> Status:
        oldest = self.outbox.oldest_pending_at()
        age = None
        if oldest is not None:
            age = (datetime.now(UTC) - datetime.fromisoformat(oldest)).total_seconds()
        last_run = self.store.one(
            "SELECT finished_at, error FROM sync_runs WHERE finished_at IS NOT NULL "
            "ORDER BY id DESC LIMIT 1"
        )
        retention = self.store.get_meta("retention_days")
        return Status(
            logged_in=self.tokens.load() is not None,
            device_id=self.store.get_meta("device_id"),
            user=self.store.get_meta("user"),
            server_url=self.store.get_meta("server_url"),
            unsent=self.outbox.pending_count(),
            oldest_unsent_at=oldest,
            oldest_unsent_age_s=age,
            last_sync_at=self.store.get_meta("last_sync_at"),
            last_sync_error=last_run["error"] if last_run is not None else None,
            rejected=int(self.store.scalar("SELECT count(*) FROM outbox WHERE state = 'rejected'")),
            conflicts=int(self.store.scalar("SELECT count(*) FROM conflicts")),
            records=self.records.count(),
            bootstrapping=bool(self.store.get_meta("bootstrapping", False)),
            max_offline_days=None if retention is None else int(retention),
        )

    def get(self, entity: str, record_id: str) -> Record | None:
        return self.records.get(entity, record_id)


P = ParamSpec("P")
R = TypeVar("R")


def _in_worker(
    method: Callable[Concatenate[FieldClient, P], R],
) -> Callable[Concatenate[AsyncFieldClient, P], Coroutine[Any, Any, R]]:
    async def call(self: AsyncFieldClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        import asyncio

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._worker, partial(method, self.client, *args, **kwargs)
        )

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


_SUFFIXES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "application/pdf": ".pdf",
}


def _suffix(media_type: str) -> str:
    return _SUFFIXES.get(media_type, "")


class AsyncFieldClient:
    """The same client for asyncio apps: ``await client.sync()``, ``await client.check_in(...)``.

    Takes the same arguments as ``FieldClient`` (the ``httpx.Client`` is a synchronous one: it is
    used on the worker thread). Progress callbacks run on the worker thread too.
    """

    def __init__(self, path: str | Path, http: httpx.Client | None = None, **options: Any) -> None:
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldline-sdk")
        self.client = self._worker.submit(partial(FieldClient, path, http, **options)).result()

    async def close(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._worker, self.client.close)
        self._worker.shutdown(wait=True)

    async def __aenter__(self) -> AsyncFieldClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    login = _in_worker(FieldClient.login)
    logout = _in_worker(FieldClient.logout)
    sync = _in_worker(FieldClient.sync)
    status = _in_worker(FieldClient.status)
    rejected = _in_worker(FieldClient.rejected)
    dismiss_rejected = _in_worker(FieldClient.dismiss_rejected)
    conflicts = _in_worker(FieldClient.conflicts)
    get = _in_worker(FieldClient.get)
    route = _in_worker(FieldClient.route)
    accounts = _in_worker(FieldClient.accounts)
    products = _in_worker(FieldClient.products)
    visits = _in_worker(FieldClient.visits)
    orders = _in_worker(FieldClient.orders)
    order_lines = _in_worker(FieldClient.order_lines)
    tickets = _in_worker(FieldClient.tickets)
    leads = _in_worker(FieldClient.leads)
    repriced_orders = _in_worker(FieldClient.repriced_orders)
    suggestions = _in_worker(FieldClient.suggestions)
    plan_visit = _in_worker(FieldClient.plan_visit)
    check_in = _in_worker(FieldClient.check_in)
    check_out = _in_worker(FieldClient.check_out)
    cancel_visit = _in_worker(FieldClient.cancel_visit)
    edit_visit = _in_worker(FieldClient.edit_visit)
    add_visit_note = _in_worker(FieldClient.add_visit_note)
    verification = _in_worker(FieldClient.verification)
    create_order = _in_worker(FieldClient.create_order)
    add_line = _in_worker(FieldClient.add_line)
    update_line = _in_worker(FieldClient.update_line)
    remove_line = _in_worker(FieldClient.remove_line)
    order_totals = _in_worker(FieldClient.order_totals)
    submit_order = _in_worker(FieldClient.submit_order)
    take_order = _in_worker(FieldClient.take_order)
    cancel_order = _in_worker(FieldClient.cancel_order)
    amend_order = _in_worker(FieldClient.amend_order)
    open_ticket = _in_worker(FieldClient.open_ticket)
    comment = _in_worker(FieldClient.comment)
    edit_ticket = _in_worker(FieldClient.edit_ticket)
    move_ticket = _in_worker(FieldClient.move_ticket)
    capture_lead = _in_worker(FieldClient.capture_lead)
    edit_account = _in_worker(FieldClient.edit_account)
    edit_contact = _in_worker(FieldClient.edit_contact)
    add_contact = _in_worker(FieldClient.add_contact)
    record_consent = _in_worker(FieldClient.record_consent)
    consent = _in_worker(FieldClient.consent)
    attach = _in_worker(FieldClient.attach)
    attachments_of = _in_worker(FieldClient.attachments_of)
    attachment_content = _in_worker(FieldClient.attachment_content)
    attachment_files = _in_worker(FieldClient.attachment_files)
