"""One sync: push the outbox, record the answers, pull pages until caught up, rebase.

Theory of operation
-------------------
Push. Pending mutations leave in sequence order, in batches cut on client-transaction
boundaries. The answers (applied / merged / rejected) are recorded in one local transaction
together with the rebase they cause. A batch whose answer never arrives (network cut, process
killed) is simply sent again next time: the server answers a resent (device, seq) with its first
answer, so there is no duplicate, and since nothing is removed from the outbox before its answer
is committed locally, there is no loss.

Pull. Each page is applied in one local transaction together with the cursor that follows it,
so a process killed mid-page leaves the store at the previous page and asks for the same page
again. Server state replaces the base of each record and the device's pending edits are
re-applied over it (client_sdk/records.py), so a pulled change never hides an edit the server
has not answered yet. Reads never wait on writes: a device with pending or rejected mutations
pulls like any other.

Recovery. 410 (offline past the retention horizon) drops the cursor and bootstraps again from a
snapshot of the scope; the outbox is untouched and rebased on top. A scope checksum that does not
match the local copy has that entity fetched again (``resync``): the device drifted, the
server's copy wins, pending edits survive.

Batch size. A batch holds at most ``batch_size`` mutations (more only to finish a client
transaction) and never more than the server's limit per push, which every push answer names
(``X-Fieldline-Max-Mutations``; the last value is kept in the store, so a sync starts within it):
a batch that would pass it ends at the last client-transaction boundary under it. A 413 (the
limit, or the body size) halves the batch, within the limit the 413 names, and the rest of the
sync keeps the smaller size; a single client transaction too large for the server is an error
the app must surface.

Kill points. ``step`` names the moments a test may stop the process at (``push:before``,
``push:received``, ``push:answered``, ``pull:before``, ``pull:received``, ``pull:applying``
(inside the page's transaction), ``pull:applied``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from client_sdk.errors import CursorExpired, PayloadTooLarge
from client_sdk.outbox import Outbox, PendingMutation
from client_sdk.records import RecordStore, ref_of
from client_sdk.store import Store, dumps
from sync import clock
from sync.checksum import as_hex, as_signed, scope_digest
from sync.messages import (
    Change,
    ConflictNotice,
    Eviction,
    PullPage,
    PullRequest,
    PushRequest,
    PushResponse,
)

if TYPE_CHECKING:
    from client_sdk.transport import Transport

__all__ = [
    "FULL_CHECK_EVERY_S",
    "Progress",
    "ProgressCallback",
    "StepHook",
    "SyncEngine",
    "SyncReport",
]

FULL_CHECK_EVERY_S = 24 * 3600.0
"""How often a sync also hashes the device's copy itself, not just its kept checksums (a
corruption outside the SDK's writes, which the kept sums would not see)."""


class SyncReport(msgspec.Struct, kw_only=True):
    pushed: int = 0
    applied: int = 0
    merged: int = 0
    rejected: int = 0
    pulled: int = 0
    """Records received (changes and deletions)."""
    evicted: int = 0
    conflicts: int = 0
    pages: int = 0
    bootstrapped: bool = False
    repaired: list[str] = msgspec.field(default_factory=list)
    """Entities whose scope checksum disagreed and were fetched again."""
    duration_s: float = 0.0
    uploaded: int = 0
    """Attachment contents sent to the server after the push (client_sdk/attachments.py)."""
    upload_refused: int = 0
    """Attachment contents the server refused; kept on the device with the reason."""
    upload_waiting: int = 0
    """Attachment contents still to send (the network failed, or their record is unsent)."""


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    phase: Literal["push", "pull"]
    pages: int
    records: int
    pushed: int
    pending: int


ProgressCallback = Callable[[Progress], None]
StepHook = Callable[[str], None]


def _noop(_step: str) -> None:
    return None


class SyncEngine:
    def __init__(
        self,
        store: Store,
        records: RecordStore,
        outbox: Outbox,
        transport: Transport,
        *,
        batch_size: int = 500,
        page_limit: int | None = None,
        verify_checksums: bool = True,
        full_check_every_s: float = FULL_CHECK_EVERY_S,
        step: StepHook | None = None,
    ) -> None:
        self.store = store
        self.records = records
        self.outbox = outbox
        self.transport = transport
        self.batch_size = batch_size
        self.page_limit = page_limit
        self.verify_checksums = verify_checksums
        self.full_check_every_s = full_check_every_s
        self.step = step or _noop

    def sync(self, progress: ProgressCallback | None = None) -> SyncReport:
        started = time.perf_counter()
        report = SyncReport()
        run_id = self._start_run()
        try:
            for _ in range(3):
                last_seq, page = self._push_all(report, progress)
                self._pull_all(report, progress, first=page)
                # Writes made while we pulled (another thread of the app) go out now.
                if not self.outbox.next_batch(1, after_seq=last_seq):
                    break
        except BaseException as exc:
            report.duration_s = time.perf_counter() - started
            self._finish_run(run_id, report, error=f"{type(exc).__name__}: {exc}")
            raise
        report.duration_s = time.perf_counter() - started
        self._finish_run(run_id, report, error=None)
        return report

    # Push ----------------------------------------------------------------------------------------
    def _push_all(
        self, report: SyncReport, progress: ProgressCallback | None
    ) -> tuple[int, PullPage | None]:
        """Push every pending batch. The last one also asks for the first pull page when the
        server takes that (one round trip for a small sync); returns the last seq pushed and
        that page, if it came.

        The two sides overlap: as soon as batch n's answer is in, batch n+1 goes out, and this
        device records n's answer while the server applies n+1. Batches still reach the server
        one at a time and in order (n+1 leaves only after n is answered, so n is committed);
        if recording an answer fails, the batch in flight is waited for and its answer dropped,
        and the next sync sends it again (the server answers a resent seq with its first answer).
        """
        device_id = str(self.store.get_meta("device_id"))
        said = self.store.get_meta("push_gzip")
        if said == "refused":
            self.transport.gzip_push, self.transport.gzip_refused = False, True
        elif said:
            self.transport.gzip_push = True
        wire = ThreadPoolExecutor(1, thread_name_prefix="fieldline-push")
        try:
            return self._push_batches(device_id, report, progress, wire)
        finally:
            wire.shutdown(wait=True, cancel_futures=True)

    def _push_batches(
        self,
        device_id: str,
        report: SyncReport,
        progress: ProgressCallback | None,
        wire: ThreadPoolExecutor,
    ) -> tuple[int, PullPage | None]:
        halved: int | None = None
        after = 0
        current = self._prepare(device_id, after, halved)
        if current is None:
            return after, None
        inflight = self._send(current, wire)
        while True:
            batch, request = current
            try:
                response = inflight.result()
            except PayloadTooLarge:
                self._learn_limit()
                if len({m.tx for m in batch}) <= 1:
                    raise
                halved = max(1, len(batch) // 2)
                current = self._prepare(device_id, after, halved)
                assert current is not None  # the batch that was too large is still pending
                inflight = self._send(current, wire)
                continue
            self.step("push:received")
            done = after_this = batch[-1].seq
            page = response.page if request.pull is not None else None
            following = None
            if page is None:
                self._learn_limit()  # sizes the next batch within what this answer said
                following = self._prepare(device_id, after_this, halved)
                if following is not None:
                    inflight = self._send(following, wire)
            with self.store.atomic():
                self._learn_limit()
                answered = self.outbox.answer(response.results)
                self._observe_clock(response.server_hlc)
                if bool(self.store.get_meta("server_pulls")) != response.pulls:
                    self.store.set_meta("server_pulls", response.pulls)
            self.step("push:answered")
            report.pushed += len(batch)
            report.applied += answered.applied
            report.merged += answered.merged
            report.rejected += answered.rejected
            after = done
            if progress is not None:
                progress(
                    Progress(
                        phase="push",
                        pages=report.pages,
                        records=report.pulled,
                        pushed=report.pushed,
                        pending=self.outbox.pending_count(),
                    )
                )
            if page is not None:
                return after, page
            if following is None:
                return after, None
            current = following

    def _prepare(
        self, device_id: str, after: int, halved: int | None
    ) -> tuple[list[PendingMutation], PushRequest] | None:
        """The next batch after ``after`` and its request, or None when nothing is pending."""
        ceiling = self._ceiling(halved)
        batch_size = self.batch_size if ceiling is None else min(self.batch_size, ceiling)
        batch = self.outbox.next_batch(batch_size, after_seq=after, ceiling=ceiling)
        if not batch:
            return None
        server_pulls = bool(self.store.get_meta("server_pulls"))
        ask = server_pulls and not self.outbox.next_batch(1, after_seq=batch[-1].seq)
        request = PushRequest(
            device_id=device_id,
            mutations=[m.message() for m in batch],
            hlc=self.store.get_meta("hlc"),
            pending=self.outbox.pending_count(),
            oldest_pending_at=self.outbox.oldest_pending_at(),
            pull=self._pull_request() if ask else None,
        )
        return batch, request

    def _send(
        self, prepared: tuple[list[PendingMutation], PushRequest], wire: ThreadPoolExecutor
    ) -> Future[PushResponse]:
        self.store.make_durable()
        self.step("push:before")
        return wire.submit(self.transport.push, prepared[1])

    def _ceiling(self, halved: int | None) -> int | None:
        """The most mutations the next batch may hold: the server's last stated limit, and
        the size a 413 of this sync halved the batch to."""
        limit = self.store.get_meta("max_push_mutations")
        bounds = [int(b) for b in (limit, halved) if b is not None]
        return min(bounds) if bounds else None

    def _learn_limit(self) -> None:
        """Keep what the server said of pushes (the most mutations it takes, whether it takes
        gzip bodies) for the next sync, which may start in another process."""
        limit = self.transport.max_mutations
        if limit is not None and limit != self.store.get_meta("max_push_mutations"):
            with self.store.atomic():
                self.store.set_meta("max_push_mutations", limit)
        parts = self.transport.upload_parts
        if parts is not None and parts != self.store.get_meta("upload_parts"):
            with self.store.atomic():
                self.store.set_meta("upload_parts", parts)
        gzip: bool | str = "refused" if self.transport.gzip_refused else self.transport.gzip_push
        if gzip != self.store.get_meta("push_gzip"):
            with self.store.atomic():
                self.store.set_meta("push_gzip", gzip)

    def _pull_request(self) -> PullRequest:
        return PullRequest(
            cursor=self.store.get_meta("cursor"),
            limit=self.page_limit,
            checksums=self.verify_checksums,
        )

    # Pull ----------------------------------------------------------------------------------------
    def _pull_all(
        self,
        report: SyncReport,
        progress: ProgressCallback | None,
        first: PullPage | None = None,
    ) -> None:
        """Pull pages until caught up, starting with ``first`` when the push brought it.

        While a page is applied, the next one is already asked for (its cursor is the page's):
        the server builds it and it travels while the device writes, so a bootstrap takes about
        the longer of the two instead of their sum. The cursor is still stored with its own
        page, in page order; if applying fails, the page asked for is dropped unread."""
        ahead = ThreadPoolExecutor(1, thread_name_prefix="fieldline-pull")
        try:
            self._pull_pages(report, progress, first, ahead)
        finally:
            # After an error a request may still be out. It is waited for (its page is dropped):
            # a caller that syncs again at once must not have two requests racing, and one
            # refreshing the tokens under the other.
            ahead.shutdown(wait=True, cancel_futures=True)

    def _pull_pages(
        self,
        report: SyncReport,
        progress: ProgressCallback | None,
        first: PullPage | None,
        ahead: ThreadPoolExecutor,
    ) -> None:
        cursor: str | None = self.store.get_meta("cursor")
        recovered = False
        rechecked = False
        asked: Future[PullPage] | None = None
        while True:
            try:
                if first is not None:
                    page, first = first, None
                elif asked is not None:
                    page, asked = asked.result(), None
                else:
                    self.step("pull:before")
                    page = self.transport.pull(
                        cursor, limit=self.page_limit, checksums=self.verify_checksums
                    )
            except CursorExpired:
                if recovered:
                    raise
                recovered = True
                cursor = None
                with self.store.atomic():
                    self.store.set_meta("cursor", None)
                continue
            self.step("pull:received")
            if page.more:
                # Only this thread or the one asking uses the transport at any time: the next
                # request goes out here and this thread does not send until it has its answer.
                self.step("pull:before")
                asked = ahead.submit(
                    self.transport.pull,
                    page.cursor,
                    limit=self.page_limit,
                    checksums=self.verify_checksums,
                )
            with self.store.atomic():
                self._apply_page(page, report)
                self.step("pull:applying")
                self.store.set_meta("cursor", page.cursor)
                self.store.set_meta("bootstrapping", page.snapshot and page.more)
                self.store.set_meta("retention_days", page.retention_days)
                if page.server_hlc:
                    self._observe_clock(page.server_hlc)
            self.step("pull:applied")
            cursor = page.cursor
            report.pages += 1
            if progress is not None:
                progress(
                    Progress(
                        phase="pull",
                        pages=report.pages,
                        records=report.pulled,
                        pushed=report.pushed,
                        pending=self.outbox.pending_count(),
                    )
                )
            if page.more:
                continue
            drifted = self._drifted(page)
            if drifted and not rechecked:
                # A cursor can finish a read window with changes already waiting in the next
                # one (PostgreSQL snapshot windows): read once more before calling it drift.
                rechecked = True
                continue
            for entity in drifted:
                self._refetch(entity, report)
                report.repaired.append(entity)
            return

    def _refetch(self, entity: str, report: SyncReport) -> None:
        """Replace the local copy of one entity with the server's (checksum repair). The device
        keeps its own cursor: the re-fetch's pages are applied, its cursor is not adopted, and
        changes the device's cursor replays afterwards are older and ignored by version."""
        cursor: str | None = self.store.get_meta("cursor")
        while True:
            page = self.transport.pull(cursor, limit=self.page_limit, resync=entity)
            with self.store.atomic():
                self._apply_page(page, report)
            report.pages += 1
            cursor = page.cursor
            if not page.more:
                return

    def _apply_page(self, page: PullPage, report: SyncReport) -> None:
        if page.reset:
            self.records.reset_server_state(page.entity)
            report.bootstrapped = report.bootstrapped or page.entity is None
        pending = self.records.pending_records()
        bulk: list[tuple[str, str, int, str, str | None]] = []
        now = datetime.now(UTC).isoformat()
        for item in page.items:
            match item:
                case Change(op="upsert"):
                    data = item.fields  # decoded for us alone: no copy needed
                    data["id"] = item.id
                    data["version"] = item.version
                    if (item.entity, item.id) in pending:
                        self._flush(bulk)
                        self.records.apply_server(
                            item.entity, item.id, item.version, data, pending=True
                        )
                    else:
                        bulk.append(
                            (
                                item.entity,
                                item.id,
                                item.version,
                                dumps(data),
                                ref_of(item.entity, data),
                            )
                        )
                    report.pulled += 1
                case Change():
                    self._flush(bulk)
                    self.records.remove_server(
                        item.entity, item.id, pending=(item.entity, item.id) in pending
                    )
                    self.records.forget_personal(item.entity, item.id)
                    report.pulled += 1
                case Eviction():
                    self._flush(bulk)
                    self.records.remove_server(
                        item.entity, item.id, pending=(item.entity, item.id) in pending
                    )
                    report.evicted += 1
                case ConflictNotice():
                    self.store.execute(
                        "INSERT OR IGNORE INTO conflicts (conflict_id, entity, record_id, field, "
                        "kept, discarded, kept_hlc, discarded_hlc, kept_origin, discarded_origin, "
                        "rule, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            item.conflict_id,
                            item.entity,
                            item.id,
                            item.field,
                            dumps(item.kept),
                            dumps(item.discarded),
                            item.kept_hlc,
                            item.discarded_hlc,
                            item.kept_origin,
                            item.discarded_origin,
                            item.rule,
                            now,
                        ),
                    )
                    report.conflicts += 1
        self._flush(bulk)

    def _flush(self, bulk: list[tuple[str, str, int, str, str | None]]) -> None:
        if bulk:
            self.records.apply_server_many(bulk)
            bulk.clear()

    def _drifted(self, page: PullPage) -> list[str]:
        """Entities whose copy here disagrees with the server's checksums. The device's own
        checksums are kept with its records (migration 0002), so this is a few reads; the table
        itself is hashed only where the kept numbers disagree, and for every entity once per
        ``full_check_every_s``."""
        if not page.checksums:
            return []
        now = time.time()
        full = now - float(self.store.get_meta("checksums_full_at") or 0) >= self.full_check_every_s
        kept = {
            row[0]: (int(row[1]), as_hex(row[2]))
            for row in self.store.all("SELECT entity, count, digest FROM server_sums")
        }
        drifted = []
        with self.store.atomic():
            for checksum in page.checksums:
                theirs = (checksum.count, checksum.digest)
                mine = kept.get(checksum.entity, (0, as_hex(0)))
                if mine == theirs and not full:
                    continue
                held = scope_digest(self.records.server_versions(checksum.entity))
                if held != mine:
                    # The kept numbers lost track of the table: trust the table from now on.
                    self.store.execute(
                        "INSERT INTO server_sums (entity, count, digest) VALUES (?, ?, ?) "
                        "ON CONFLICT (entity) DO UPDATE SET count = excluded.count, "
                        "digest = excluded.digest",
                        (checksum.entity, held[0], as_signed(int(held[1], 16))),
                    )
                if held != theirs:
                    drifted.append(checksum.entity)
            if full:
                self.store.set_meta("checksums_full_at", now)
        return drifted

    # Bookkeeping ---------------------------------------------------------------------------------
    def _observe_clock(self, server_hlc: str) -> None:
        device_id = str(self.store.get_meta("device_id"))
        last_text = self.store.get_meta("hlc")
        last = clock.Hlc.parse(last_text) if last_text else None
        stamp = clock.receive(
            last, clock.Hlc.parse(server_hlc), wall_ms=clock.wall_now_ms(), node=device_id
        )
        self.store.set_meta("hlc", stamp.encode())

    def _start_run(self) -> int:
        with self.store.atomic():
            cursor = self.store.execute(
                "INSERT INTO sync_runs (started_at) VALUES (?)", (datetime.now(UTC).isoformat(),)
            )
            return int(cursor.lastrowid or 0)

    def _finish_run(self, run_id: int, report: SyncReport, *, error: str | None) -> None:
        finished = datetime.now(UTC).isoformat()
        payload: dict[str, Any] = msgspec.to_builtins(report)
        with self.store.atomic():
            self.store.execute(
                "UPDATE sync_runs SET finished_at = ?, report = ?, error = ? WHERE id = ?",
                (finished, dumps(payload), error, run_id),
            )
            if error is None:
                self.store.set_meta("last_sync_at", finished)
            # Keep the history short: the status screen needs the last few runs only.
            self.store.execute("DELETE FROM sync_runs WHERE id <= ?", (run_id - 50,))
