"""Prometheus-format metrics at ``/metrics``: request counts and latency by route and status,
and sync counters (mutations applied, merged, rejected; items pulled). Kept in process memory:
each replica exposes its own, and the scraper sums them.

Access. Route names, error rates and sync volumes tell an outsider more than they should, so
``/metrics`` is not public: with ``FIELDLINE_METRICS_TOKEN`` set it answers only
``Authorization: Bearer <token>`` (compared in constant time); without one, only callers on the
loopback interface, i.e. a scraper on the same host. The client address is the one
server/edge.py settled, so a trusted proxy forwarding an outside caller does not count as
loopback; the shipped nginx.conf refuses the path anyway."""

from __future__ import annotations

import hmac
import threading
from collections import Counter, defaultdict
from ipaddress import ip_address
from typing import Any, cast

from litestar import Controller, Request, get
from litestar.response import Response

from server.errors import Forbidden, Unauthorized
from server.settings import Settings

__all__ = ["METRICS", "Metrics", "MetricsController", "check_metrics_access"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.latency: dict[tuple[str, str], list[int]] = defaultdict(
            lambda: [0] * (len(_BUCKETS) + 1)
        )
        self.latency_sum: Counter[tuple[str, str]] = Counter()
        self.sync: Counter[str] = Counter()
        self.disconnects: Counter[tuple[str, str]] = Counter()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            buckets = self.latency[(method, route)]
            for index, bound in enumerate(_BUCKETS):
                if seconds <= bound:
                    buckets[index] += 1
                    break
            else:
                buckets[-1] += 1
            self.latency_sum[(method, route)] += seconds  # type: ignore[assignment]

    def observe_disconnect(self, method: str, route: str) -> None:
        """A client went away before its request was read: the network, not a server error."""
        with self._lock:
            self.disconnects[(method, route)] += 1

    def count(self, name: str, value: int = 1) -> None:
        with self._lock:
            self.sync[name] += value

    def render(self) -> str:
        lines = [
            "# HELP fieldline_http_requests_total HTTP requests by method, route and status.",
            "# TYPE fieldline_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self.requests.items()):
                lines.append(
                    f'fieldline_http_requests_total{{method="{method}",route="{route}",'
                    f'status="{status}"}} {n}'
                )
            lines += [
                "# HELP fieldline_http_request_seconds Request latency.",
                "# TYPE fieldline_http_request_seconds histogram",
            ]
            for (method, route), buckets in sorted(self.latency.items()):
                labels = f'method="{method}",route="{route}"'
                cumulative = 0
                for bound, n in zip(_BUCKETS, buckets, strict=False):
                    cumulative += n
                    lines.append(
                        f'fieldline_http_request_seconds_bucket{{{labels},le="{bound}"}} '
                        f"{cumulative}"
                    )
                cumulative += buckets[-1]
                lines.append(
                    f'fieldline_http_request_seconds_bucket{{{labels},le="+Inf"}} {cumulative}'
                )
                lines.append(
                    f"fieldline_http_request_seconds_sum{{{labels}}} "
                    f"{self.latency_sum[(method, route)]:.6f}"
                )
                lines.append(f"fieldline_http_request_seconds_count{{{labels}}} {cumulative}")
            lines += [
                "# HELP fieldline_http_client_disconnected_total Requests whose client went away "
                "before the request was read (recorded with status 499, never 500).",
                "# TYPE fieldline_http_client_disconnected_total counter",
            ]
            for (method, route), n in sorted(self.disconnects.items()):
                lines.append(
                    f'fieldline_http_client_disconnected_total{{method="{method}",'
                    f'route="{route}"}} {n}'
                )
            lines += [
                "# HELP fieldline_sync_total Sync events (mutations by outcome, pulled items).",
                "# TYPE fieldline_sync_total counter",
            ]
            for name, n in sorted(self.sync.items()):
                lines.append(f'fieldline_sync_total{{event="{name}"}} {n}')
        return "\n".join(lines) + "\n"


METRICS = Metrics()


class MetricsController(Controller):
    path = "/metrics"
    tags = ("health",)
    include_in_schema = False

    @get("/", summary="Prometheus metrics", opt={"public": True, "own_credentials": True})
    async def metrics(self, request: Request[Any, Any, Any]) -> Response[Any]:
        check_metrics_access(request)
        return Response(METRICS.render(), media_type="text/plain; version=0.0.4")


def check_metrics_access(request: Request[Any, Any, Any]) -> None:
    settings = cast("Settings", request.app.state.settings)
    if settings.metrics_token:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {settings.metrics_token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized(
                "/metrics needs Authorization: Bearer <FIELDLINE_METRICS_TOKEN>",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return
    host = request.client.host if request.client else ""
    try:
        loopback = ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise Forbidden(
            "/metrics answers only the loopback interface; set FIELDLINE_METRICS_TOKEN to "
            "scrape it from elsewhere"
        )
