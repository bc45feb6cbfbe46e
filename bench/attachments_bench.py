"""Attachment upload through the SDK against the floor: a plain httpx PUT of the same kind of
bytes to the same server in the same run.

Workload: a rep's device attaches N photos of ~300 KB (incompressible bytes, as JPEG is) to a
visit offline; its metadata is pushed by a sync, then the SDK's upload step sends the bytes
(one request asking which contents the server lacks, then one PUT per photo). The floor pushes
the metadata of N other photos the same way and PUTs their bytes with a bare ``httpx.Client``,
nothing else. Rounds alternate which goes first; the figures are medians.

Units: photos/s and MB/s (10^6 bytes) of content; wire overhead in bytes per attachment on top
of the content (request lines, headers and bodies sent, response headers and bodies received).

python -m bench.attachments_bench [--photos 50] [--rounds 3] [--size 300000]

``--cut`` measures instead what a dropped connection costs: one photo of ``--cut-size`` bytes
(5,000,000) whose upload loses its connection once half its bytes are on the wire, then is
finished by the device, once through the whole-body path (what a device without parts does)
and once through the resumable one (1 MiB parts), in the same run against the same server.
Units: bytes of content sent, and re-sent (sent more than once).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from bench.server_process import ServerProcess
from client_sdk import FieldClient, MemoryTokenStore, RetryPolicy
from client_sdk.sync_loop import SyncEngine
from server.db.migrate import upgrade
from tests.seed import PASSWORD, seed_world

SECRET = "bench-secret-key-that-is-long-enough-for-hs256"


class Wire:
    """Bytes on the wire as httpx sees them (HTTP/1.1 framing of lines and headers)."""

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0
        self.requests = 0

    def reset(self) -> None:
        self.sent = self.received = self.requests = 0

    def on_request(self, request: httpx.Request) -> None:
        self.requests += 1
        line = len(request.method) + len(request.url.raw_path) + len(" HTTP/1.1\r\n") + 1
        headers = sum(len(k) + len(v) + 4 for k, v in request.headers.raw) + 2
        self.sent += line + headers + len(request.content)

    def on_response(self, response: httpx.Response) -> None:
        response.read()
        headers = sum(len(k) + len(v) + 4 for k, v in response.headers.raw) + 2
        self.received += len("HTTP/1.1 200 OK\r\n") + headers + len(response.content)

    def client(self, base_url: str) -> httpx.Client:
        return httpx.Client(
            base_url=base_url,
            timeout=120.0,
            event_hooks={"request": [self.on_request], "response": [self.on_response]},
        )

    def total(self) -> int:
        return self.sent + self.received


def _photos(count: int, size: int) -> list[bytes]:
    return [b"\xff\xd8\xff\xe0" + os.urandom(size - 6) + b"\xff\xd9" for _ in range(count)]


def _capture(device: FieldClient, visit_id: str, photos: list[bytes]) -> tuple[list[str], float]:
    started = time.perf_counter()
    ids = [device.attach("visit", visit_id, p, media_type="image/jpeg").id for p in photos]
    return ids, time.perf_counter() - started


def _push_metadata(device: FieldClient) -> None:
    SyncEngine(device.store, device.records, device.outbox, device.transport).sync()


def _sdk_round(
    device: FieldClient, wire: Wire, visit_id: str, photos: list[bytes]
) -> dict[str, Any]:
    _, capture_s = _capture(device, visit_id, photos)
    wire.reset()
    _push_metadata(device)
    metadata_bytes = wire.total()
    wire.reset()
    started = time.perf_counter()
    report = device.attachments.upload_pending(device.transport)
    elapsed = time.perf_counter() - started
    assert report.uploaded == len(photos), report
    content = sum(len(p) for p in photos)
    return {
        "seconds": elapsed,
        "capture_ms_per_photo": 1000 * capture_s / len(photos),
        "requests": wire.requests,
        "overhead_bytes": wire.total() - content,
        "metadata_push_bytes": metadata_bytes,
    }


def _floor_round(
    device: FieldClient, server_url: str, visit_id: str, photos: list[bytes]
) -> dict[str, Any]:
    ids, _ = _capture(device, visit_id, photos)
    _push_metadata(device)
    tokens = device.tokens.load()
    assert tokens is not None
    wire = Wire()
    with wire.client(server_url) as plain:
        started = time.perf_counter()
        for attachment_id, content in zip(ids, photos, strict=True):
            answer = plain.put(
                f"/api/v1/attachments/{attachment_id}/content",
                content=content,
                headers={
                    "Authorization": f"Bearer {tokens.access_token}",
                    "Content-Type": "image/jpeg",
                },
            )
            assert answer.status_code == 201, answer.text
        elapsed = time.perf_counter() - started
    # The device's own bookkeeping learns on its next sync that the server holds these.
    device.attachments.upload_pending(device.transport)
    return {
        "seconds": elapsed,
        "requests": wire.requests,
        "overhead_bytes": wire.total() - sum(len(p) for p in photos),
    }


class CutOnce(httpx.BaseTransport):
    """An HTTP transport counting the content bytes it sends, that cuts the connection of the
    upload request carrying byte ``cut_at`` of the content once: the request's head and the
    bytes before ``cut_at`` go out on a socket that is then closed, as a phone losing its
    network would."""

    def __init__(self, port: int, cut_at: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.port = port
        self.cut_at: int | None = cut_at
        self.content_sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        if request.method == "PUT" and request.url.path.endswith("/content"):
            header = request.headers.get("content-range", "bytes 0-")
            start = int(header.split()[1].split("-")[0])
            if self.cut_at is not None and start + len(body) > self.cut_at:
                keep = self.cut_at - start
                self.cut_at = None
                self._send_half(request, body[:keep])
                self.content_sent += keep
                raise httpx.ReadError("the connection dropped")
            self.content_sent += len(body)
        return self.inner.handle_request(request)

    def _send_half(self, request: httpx.Request, body: bytes) -> None:
        head = f"{request.method} {request.url.raw_path.decode()} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()) + "\r\n"
        with socket.create_connection(("127.0.0.1", self.port)) as sock:
            sock.sendall(head.encode() + body)
            time.sleep(0.5)  # the server reads what arrived before the line goes dead

    def close(self) -> None:
        self.inner.close()


def cut_run(size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        world = seed_world(url)
        env = {"FIELDLINE_SECRET_KEY": SECRET, "FIELDLINE_DATA_DIR": str(Path(tmp) / "data")}
        results: dict[str, Any] = {}
        with ServerProcess(url, env=env) as server:
            port = int(server.url.rsplit(":", 1)[1])
            for name, part_bytes in (("whole_body", size + 1), ("resumable_1mib_parts", 1 << 20)):
                cutter = CutOnce(port, size // 2)
                http = httpx.Client(base_url=server.url, transport=cutter, timeout=120.0)
                device = FieldClient(
                    Path(tmp) / f"{name}.db",
                    http,
                    token_store=MemoryTokenStore(),
                    upload_part_bytes=part_bytes,
                    retry=RetryPolicy(attempts=1),  # the cut ends this sync; the next finishes
                )
                device.login("rep_n1", PASSWORD, device_name=name)
                device.sync()
                visit = device.plan_visit(world.accounts["N1"][0], date.today())
                [photo] = _photos(1, size)
                device.attach("visit", visit.id, photo, media_type="image/jpeg")
                _push_metadata(device)
                cut = device.attachments.upload_pending(device.transport)
                assert cut.waiting == 1 and cut.uploaded == 0, cut
                before = cutter.content_sent
                done = device.attachments.upload_pending(device.transport)
                assert done.uploaded == 1, done
                after = cutter.content_sent - before
                results[name] = {
                    "sent_before_cut_bytes": before,
                    "sent_after_cut_bytes": after,
                    "resent_bytes": before + after - size,
                    "total_sent_bytes": before + after,
                }
                device.close()
    return {
        "workload": f"one photo of {size} bytes, connection cut after {size // 2} bytes "
        "of content, finished by the next upload",
        **results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.attachments_bench")
    parser.add_argument("--photos", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=300_000)
    parser.add_argument("--cut", action="store_true", help="measure the cost of a cut upload")
    parser.add_argument("--cut-size", type=int, default=5_000_000)
    args = parser.parse_args(argv)
    if args.cut:
        print(json.dumps(cut_run(args.cut_size), indent=2))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        world = seed_world(url)
        env = {"FIELDLINE_SECRET_KEY": SECRET, "FIELDLINE_DATA_DIR": str(Path(tmp) / "data")}
        with ServerProcess(url, env=env) as server:
            wire = Wire()
            device = FieldClient(
                Path(tmp) / "rep.db", wire.client(server.url), token_store=MemoryTokenStore()
            )
            device.login("rep_n1", PASSWORD, device_name="bench")
            device.sync()
            visit = device.plan_visit(world.accounts["N1"][0], date.today())
            device.sync()
            sdk: list[dict[str, Any]] = []
            floor: list[dict[str, Any]] = []
            for round_no in range(args.rounds):
                order = ("sdk", "floor") if round_no % 2 == 0 else ("floor", "sdk")
                for which in order:
                    photos = _photos(args.photos, args.size)
                    if which == "sdk":
                        sdk.append(_sdk_round(device, wire, visit.id, photos))
                    else:
                        floor.append(_floor_round(device, server.url, visit.id, photos))
            peak = server.peak_rss
            device.close()
    n, content = args.photos, args.photos * args.size

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(r[key] for r in rows))

    sdk_s, floor_s = med(sdk, "seconds"), med(floor, "seconds")
    report = {
        "workload": f"{n} photos of {args.size} bytes attached to one visit, uploaded after the "
        f"metadata push; median of {args.rounds} alternated rounds",
        "sdk": {
            "photos_per_s": round(n / sdk_s, 1),
            "mb_per_s": round(content / sdk_s / 1e6, 1),
            "requests_per_photo": round(med(sdk, "requests") / n, 3),
            "wire_overhead_bytes_per_photo": round(med(sdk, "overhead_bytes") / n),
            "metadata_push_bytes_per_photo": round(med(sdk, "metadata_push_bytes") / n),
            "capture_ms_per_photo": round(med(sdk, "capture_ms_per_photo"), 2),
        },
        "floor_plain_httpx_put": {
            "photos_per_s": round(n / floor_s, 1),
            "mb_per_s": round(content / floor_s / 1e6, 1),
            "requests_per_photo": round(med(floor, "requests") / n, 3),
            "wire_overhead_bytes_per_photo": round(med(floor, "overhead_bytes") / n),
        },
        "sdk_time_vs_floor": round(sdk_s / floor_s, 2),
        "server_peak_rss_mb": round(peak / 2**20, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
