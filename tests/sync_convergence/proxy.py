"""A fault-injecting HTTP/1.1 proxy on a loopback port, in front of a real server process.

Devices talk to the proxy as if it were the server (``FaultProxy.url``); the proxy forwards each
request to ``upstream_port`` on 127.0.0.1 over a fresh connection and, per request, by seeded
randomness (one ``random.Random`` per device, so a seed replays the same decisions for the same
sequence of requests):

* ``drop``: forwards the request, reads the server's whole answer (the server has applied it),
  then closes the device's connection without it — or after a prefix of it;
* ``duplicate``: sends the request twice, one copy after the other or both at once on two
  connections, and hands the device one of the answers;
* ``cut``: forwards the request head and a prefix of its body (of the head, for a request
  without one), then closes both connections: the server never gets a whole request;
* ``replay``: before a push, sends a late copy of an older push of the same device;
* ``delay``: waits before forwarding and before answering;
* ``offline``: closes the device's connection without forwarding anything.

Which device sent a request is read from the ``X-Fieldline-Test-Device`` header the test puts on
each device's ``httpx.Client`` (requests without it are ``"-"``). ``set_faults`` changes what
one device's requests suffer; ``paths`` limits the faults to some request paths.

Every answer the server gave (to a delivered request, a duplicate, a late copy) is reported to
``observer`` as an ``Exchange`` with the request and the decoded answer, *before* the device
could have read it; ``delivered`` says whether the device got it whole. A server that is down
(``upstream_port`` None, connection refused, or the process killed mid-request) is a closed
connection to the device.

``arm_kill`` calls a function (SIGKILL of the server) when the n-th request after arming has
been forwarded whole, after a short random delay: the kill lands before, during or after the
server's commit.

Only loopback: the proxy listens on 127.0.0.1 and connects to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import random
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DEVICE_HEADER", "Exchange", "FaultProxy", "NetFaults"]

DEVICE_HEADER = "X-Fieldline-Test-Device"
LOOPBACK = "127.0.0.1"
_HEAD_END = b"\r\n\r\n"
_READ_LIMIT = 1 << 20

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class NetFaults:
    """What the network does to one device's requests (each request decided on its own)."""

    offline: bool = False
    drop: float = 0.0
    duplicate: float = 0.0
    concurrent: float = 0.5
    """Of the duplicates, the share sent at the same time (on two connections)."""
    cut: float = 0.0
    replay: float = 0.0
    delay: float = 0.0
    max_delay_s: float = 0.0
    paths: frozenset[str] | None = None
    """The request paths the faults apply to (None: all); other requests pass untouched."""

    @classmethod
    def none(cls) -> NetFaults:
        return cls()

    @classmethod
    def random(cls, rng: random.Random) -> NetFaults:
        if rng.random() < 0.1:
            return cls(offline=True)
        return cls(
            drop=rng.choice((0.0, 0.2, 0.4)),
            duplicate=rng.choice((0.0, 0.15, 0.3)),
            concurrent=rng.choice((0.0, 0.5, 1.0)),
            cut=rng.choice((0.0, 0.1, 0.25)),
            replay=rng.choice((0.0, 0.2)),
            delay=rng.choice((0.0, 0.2)),
            max_delay_s=rng.choice((0.02, 0.1)),
        )

    def applies_to(self, path: str) -> bool:
        return self.paths is None or path in self.paths

    def __str__(self) -> str:
        if self.offline:
            return "offline"
        parts = [
            f"{name}={getattr(self, name)}"
            for name in ("drop", "duplicate", "cut", "replay", "delay")
            if getattr(self, name)
        ]
        if self.paths is not None:
            parts.append(f"paths={sorted(self.paths)}")
        return ", ".join(parts) or "healthy"


@dataclass(frozen=True)
class Exchange:
    """One request the server answered, with the answer (body de-chunked and decompressed)."""

    label: str
    method: str
    target: str
    request_headers: Headers
    request_body: bytes
    status: int
    response_headers: Headers
    response_body: bytes
    delivered: bool
    copy: str
    """``"original"``, ``"duplicate"`` or ``"replay"``."""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass
class _Request:
    method: str
    target: str
    headers: Headers
    head: bytes
    body: bytes
    raw: bytes
    """Head and body as they came (chunked framing kept): what is forwarded."""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass
class _Answer:
    status: int
    headers: Headers
    raw: bytes
    body: bytes
    close: bool


@dataclass
class _Kill:
    after: int
    action: Callable[[], None]
    delay_s: float


def _header(headers: Headers, name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _parse_head(head: bytes) -> tuple[str, Headers]:
    lines = head[: -len(_HEAD_END)].decode("latin-1").split("\r\n")
    headers: Headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return lines[0], headers


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """The head of the next message, or None at a clean end of stream."""
    try:
        return await reader.readuntil(_HEAD_END)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise


async def _read_body(
    reader: asyncio.StreamReader, headers: Headers, *, until_eof: bool
) -> tuple[bytes, bytes]:
    """(raw bytes as framed, body). ``until_eof``: a response without a length ends with the
    connection."""
    encoding = (_header(headers, "transfer-encoding") or "").lower()
    if "chunked" in encoding:
        raw = bytearray()
        body = bytearray()
        while True:
            line = await reader.readuntil(b"\r\n")
            raw += line
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while True:
                    trailer = await reader.readuntil(b"\r\n")
                    raw += trailer
                    if trailer == b"\r\n":
                        return bytes(raw), bytes(body)
            chunk = await reader.readexactly(size + 2)
            raw += chunk
            body += chunk[:-2]
    length = _header(headers, "content-length")
    if length is not None:
        data = await reader.readexactly(int(length))
        return data, data
    if until_eof:
        data = await reader.read()
        return data, data
    return b"", b""


def _decoded(body: bytes, headers: Headers) -> bytes:
    encoding = (_header(headers, "content-encoding") or "").lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


class FaultProxy:
    def __init__(
        self,
        *,
        seed: int,
        upstream_port: int | None = None,
        observer: Callable[[Exchange], None] | None = None,
    ) -> None:
        self.seed = seed
        self.upstream_port = upstream_port
        """Where the server listens now (None: down). Changed when the server restarts."""
        self.observer = observer
        self.port = 0
        self.stats: dict[str, Counter[str]] = {}
        self.observer_errors: list[str] = []
        self._faults: dict[str, NetFaults] = {}
        self._rngs: dict[str, random.Random] = {}
        self._old_pushes: dict[str, list[_Request]] = {}
        self._kill: _Kill | None = None
        self._kill_pending = False
        self.kills: list[str] = []
        """The request each kill went off after (label, method, path)."""
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._clients: set[asyncio.Task[None]] = set()

    # Lifecycle (called from the test's thread) ---------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, LOOPBACK, 0, limit=_READ_LIMIT), self._loop
        ).result(10)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def close(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._clients):
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_faults(self, label: str, faults: NetFaults) -> None:
        self._faults[label] = faults

    def arm_kill(self, after: int, action: Callable[[], None], *, delay_s: float = 0.0) -> None:
        """Call ``action`` once, ``delay_s`` after the ``after``-th request from now has been
        forwarded whole to the server."""
        self._kill = _Kill(max(1, after), action, delay_s)

    def disarm_kill(self) -> None:
        """Forget a kill not triggered yet, and wait for one already on its way."""
        self._kill = None
        deadline = time.monotonic() + 5
        while self._kill_pending and time.monotonic() < deadline:
            time.sleep(0.01)

    @property
    def kill_armed(self) -> bool:
        """A kill is armed, or triggered and about to go off."""
        return self._kill is not None or self._kill_pending

    def rng(self, label: str) -> random.Random:
        rng = self._rngs.get(label)
        if rng is None:
            rng = self._rngs[label] = random.Random(f"{self.seed}:{label}")
        return rng

    def count(self, label: str, what: str) -> None:
        self.stats.setdefault(label, Counter())[what] += 1

    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counts in self.stats.values():
            total.update(counts)
        return total

    # One device connection -------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None or not await self._exchange(request, writer):
                    break
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # the proxy is closing: end quietly
        finally:
            self._clients.discard(task)
            await _close(writer)

    async def _read_request(self, reader: asyncio.StreamReader) -> _Request | None:
        head = await _read_head(reader)
        if head is None:
            return None
        start, headers = _parse_head(head)
        method, target, _version = start.split(" ", 2)
        raw_body, body = await _read_body(reader, headers, until_eof=False)
        return _Request(method, target, headers, head, body, head + raw_body)

    async def _exchange(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        """Handle one request; False when the device's connection is to be closed."""
        label = _header(request.headers, DEVICE_HEADER.lower()) or "-"
        faults = self._faults.get(label, NetFaults.none())
        if not faults.applies_to(request.path):
            faults = NetFaults.none()
        rng = self.rng(label)
        self.count(label, "requests")
        if faults.offline:
            self.count(label, "refused")
            return False
        # The same draws for every request, whatever is decided: a seed replays its decisions.
        (
            r_delay_in,
            r_delay_out,
            r_replay,
            r_dup,
            r_concurrent,
            r_cut,
            r_drop,
            r_partial,
            r_which,
        ) = (rng.random() for _ in range(9))
        delay_in = rng.uniform(0, faults.max_delay_s)
        delay_out = rng.uniform(0, faults.max_delay_s)
        cut_at = rng.random()
        is_push = request.method == "POST" and request.path.endswith("/sync/push")

        if r_delay_in < faults.delay:
            self.count(label, "delayed")
            await asyncio.sleep(delay_in)
        if r_cut < faults.cut:
            self.count(label, "cut")
            await self._cut(request, cut_at)
            return False
        if is_push:
            old = self._old_pushes.setdefault(label, [])
            if old and r_replay < faults.replay:
                self.count(label, "replayed")
                late = old[int(r_which * len(old)) % len(old)]
                answer = await self._forward(late)
                self._observe(label, late, answer, delivered=False, copy="replay")
            old.append(request)
            del old[:-20]

        if r_dup < faults.duplicate:
            if r_concurrent < faults.concurrent:
                self.count(label, "duplicated_concurrently")
                first, second = await asyncio.gather(self._forward(request), self._forward(request))
                answers = [first, second] if r_which < 0.5 else [second, first]
            else:
                self.count(label, "duplicated")
                answers = [await self._forward(request)]
                answers.append(await self._forward(request))
            spare, answer = answers
            self._observe(label, request, spare, delivered=False, copy="duplicate")
        else:
            answer = await self._forward(request)

        if answer is None:
            self.count(label, "upstream_failed")
            return False
        lost = r_drop < faults.drop
        self._observe(label, request, answer, delivered=not lost, copy="original")
        if r_delay_out < faults.delay:
            await asyncio.sleep(delay_out)
        if lost:
            if r_partial < 0.5:
                self.count(label, "dropped")
            else:
                self.count(label, "truncated")
                writer.write(answer.raw[: max(1, int(len(answer.raw) * cut_at))])
                await writer.drain()
            return False
        writer.write(answer.raw)
        await writer.drain()
        return not answer.close

    def _observe(
        self,
        label: str,
        request: _Request,
        answer: _Answer | None,
        *,
        delivered: bool,
        copy: str,
    ) -> None:
        if answer is None or self.observer is None:
            return
        try:
            self.observer(
                Exchange(
                    label=label,
                    method=request.method,
                    target=request.target,
                    request_headers=list(request.headers),
                    request_body=request.body,
                    status=answer.status,
                    response_headers=list(answer.headers),
                    response_body=_decoded(answer.body, answer.headers),
                    delivered=delivered,
                    copy=copy,
                )
            )
        except Exception as exc:  # the test's bookkeeping must not take the proxy down
            self.observer_errors.append(f"{label} {request.method} {request.target}: {exc!r}")

    # The server side -------------------------------------------------------------------------
    def _forwarded(self, request: _Request) -> None:
        kill = self._kill
        if kill is None:
            return
        kill.after -= 1
        if kill.after > 0:
            return
        label = _header(request.headers, DEVICE_HEADER.lower()) or "-"

        def fire() -> None:
            try:
                kill.action()
            finally:
                self._kill_pending = False

        self._kill_pending = True
        self._kill = None
        self.kills.append(f"{label} {request.method} {request.path} (+{kill.delay_s}s)")
        self._loop.call_later(kill.delay_s, fire)

    async def _forward(self, request: _Request) -> _Answer | None:
        """Send the whole request on a fresh connection and read the whole answer; None when
        the server is down or went away before answering."""
        port = self.upstream_port
        if port is None:
            return None
        try:
            reader, writer = await asyncio.open_connection(LOOPBACK, port, limit=_READ_LIMIT)
        except OSError:
            return None
        try:
            writer.write(request.raw)
            await writer.drain()
            self._forwarded(request)
            head = await _read_head(reader)
            if head is None:
                return None
            start, headers = _parse_head(head)
            status = int(start.split(" ", 2)[1])
            bodiless = request.method == "HEAD" or status in (204, 304) or status < 200
            until_eof = not bodiless
            raw_body, body = (
                (b"", b"") if bodiless else await _read_body(reader, headers, until_eof=until_eof)
            )
            framed = (
                _header(headers, "content-length") is not None
                or "chunked" in (_header(headers, "transfer-encoding") or "").lower()
            )
            close = (_header(headers, "connection") or "").lower() == "close" or (
                not bodiless and not framed
            )
            return _Answer(status, headers, head + raw_body, body, close)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            return None
        finally:
            await _close(writer)

    async def _cut(self, request: _Request, fraction: float) -> None:
        """Forward a strict prefix of the request, then hang up."""
        body_len = len(request.raw) - len(request.head)
        if body_len > 0:
            upto = len(request.head) + int(body_len * fraction)
        else:
            upto = max(1, int(len(request.head) * fraction))
        upto = min(upto, len(request.raw) - 1)
        port = self.upstream_port
        if port is None:
            return
        try:
            _reader, writer = await asyncio.open_connection(LOOPBACK, port)
        except OSError:
            return
        try:
            writer.write(request.raw[:upto])
            await writer.drain()
            # Give the server the prefix before the hang-up, as a slow link would.
            await asyncio.sleep(0.005)
        except OSError:
            pass
        finally:
            await _close(writer)
