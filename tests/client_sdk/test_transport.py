"""The transport's failure handling, against an httpx mock (no server): retries, refresh,
and the errors the app sees."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from client_sdk.errors import (
    AuthenticationFailed,
    CursorExpired,
    NetworkUnavailable,
    PayloadTooLarge,
    ServerError,
    UpgradeRequired,
)
from client_sdk.secrets import MemoryTokenStore, Tokens
from client_sdk.transport import MAX_MUTATIONS_HEADER, RetryPolicy, Transport
from sync import codec
from sync.messages import PullPage, PushRequest, PushResponse

Handler = Callable[[httpx.Request], httpx.Response]


def _tokens() -> MemoryTokenStore:
    return MemoryTokenStore(
        Tokens(
            access_token="old-access",
            refresh_token="refresh-1",
            expires_at=datetime.now(UTC) + timedelta(minutes=5),
            device_id="d1",
        )
    )


def _transport(handler: Handler, sleeps: list[float], **kw: object) -> Transport:
    http = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://fieldline.test")
    return Transport(
        http,
        kw.pop("tokens", None) or _tokens(),  # type: ignore[arg-type]
        retry=RetryPolicy(attempts=4, base_s=0.5, cap_s=2.0),
        sleep=sleeps.append,
        rng=lambda: 1.0,
    )


def _page() -> httpx.Response:
    page = PullPage(items=[], cursor="c1", more=False)
    return httpx.Response(
        200,
        content=codec.encode(page, codec.MEDIA_MSGPACK),
        headers={"content-type": codec.MEDIA_MSGPACK},
    )


def _login_body(access: str) -> dict[str, object]:
    return {
        "access_token": access,
        "refresh_token": "refresh-2",
        "token_type": "bearer",
        "expires_at": (datetime.now(UTC) + timedelta(minutes=15)).isoformat(),
        "device_id": "d1",
        "user": {
            "id": "u1",
            "username": "rep",
            "full_name": "Rep",
            "role": "rep",
            "region_id": None,
            "territory_id": None,
        },
    }


def test_requests_carry_the_protocol_header_and_ask_for_msgpack_and_gzip() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _page()

    _transport(handler, []).pull(None)
    [request] = seen
    assert request.headers[codec.PROTOCOL_HEADER] == "1"
    assert request.headers["accept"] == codec.MEDIA_MSGPACK
    assert "gzip" in request.headers["accept-encoding"]
    assert request.headers["authorization"] == "Bearer old-access"


def test_a_push_body_is_msgpack_by_default_and_decodes_as_a_push_request() -> None:
    bodies: list[PushRequest] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(codec.decode_push(request.content, request.headers["content-type"]))
        response = PushResponse(results=[], server_hlc="000000000000001-00000-server")
        return httpx.Response(200, content=codec.encode(response, codec.MEDIA_JSON))

    _transport(handler, []).push(PushRequest(device_id="d1", mutations=[]))
    assert bodies == [PushRequest(device_id="d1", mutations=[])]


def test_server_errors_are_retried_with_capped_exponential_backoff() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return _page() if len(calls) == 4 else httpx.Response(503)

    _transport(handler, sleeps).pull(None)
    assert len(calls) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_backoff_uses_full_jitter() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=10.0)
    assert policy.delay(3, lambda: 0.25) == 2.0
    assert policy.delay(3, lambda: 0.0) == 0.0
    assert policy.delay(10, lambda: 1.0) == 10.0


def test_network_errors_give_up_after_the_last_attempt_with_a_clear_error() -> None:
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route to host", request=request)

    with pytest.raises(NetworkUnavailable, match="after 4 attempts"):
        _transport(handler, sleeps).pull(None)
    assert len(sleeps) == 3


def test_a_server_that_keeps_failing_raises_server_error() -> None:
    with pytest.raises(ServerError) as caught:
        _transport(lambda r: httpx.Response(500), []).pull(None)
    assert caught.value.status == 500


def test_a_401_refreshes_the_token_once_and_retries_with_the_new_one() -> None:
    seen: list[str] = []
    tokens = _tokens()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/refresh"):
            return httpx.Response(200, json=_login_body("new-access"))
        seen.append(request.headers["authorization"])
        return (
            _page()
            if request.headers["authorization"] == "Bearer new-access"
            else httpx.Response(401)
        )

    _transport(handler, [], tokens=tokens).pull(None)
    assert seen == ["Bearer old-access", "Bearer new-access"]
    stored = tokens.load()
    assert stored is not None and stored.refresh_token == "refresh-2"


def test_a_second_401_after_refreshing_asks_to_log_in_again() -> None:
    refreshes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/refresh"):
            refreshes.append(1)
            return httpx.Response(200, json=_login_body("new-access"))
        return httpx.Response(401, json={"detail": "device revoked"})

    with pytest.raises(AuthenticationFailed, match="log in again"):
        _transport(handler, []).pull(None)
    assert refreshes == [1]


def test_a_refused_refresh_forgets_the_tokens() -> None:
    tokens = _tokens()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"detail": "refresh token revoked"})

    with pytest.raises(AuthenticationFailed):
        _transport(handler, [], tokens=tokens).pull(None)
    assert tokens.load() is None


def test_426_tells_the_app_to_upgrade() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(426, json={"detail": "server speaks protocol 2"})

    with pytest.raises(UpgradeRequired, match="update the app") as caught:
        _transport(handler, []).pull(None)
    assert caught.value.server_detail == "server speaks protocol 2"


def test_410_means_the_cursor_expired() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(410, json={"detail": "cursor older than 45 days"})

    with pytest.raises(CursorExpired):
        _transport(handler, []).pull("old-cursor")


def test_a_push_answer_names_the_most_mutations_a_push_may_carry() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        response = PushResponse(results=[], server_hlc="000000000000001-00000-server")
        return httpx.Response(
            200,
            content=codec.encode(response, codec.MEDIA_JSON),
            headers={MAX_MUTATIONS_HEADER: "250"},
        )

    transport = _transport(handler, [])
    assert transport.max_mutations is None
    transport.push(PushRequest(device_id="d1", mutations=[]))
    assert transport.max_mutations == 250


def test_a_413_teaches_the_limit_it_names() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            413,
            json={"detail": "a push carries at most 20 mutations", "max_mutations": 20},
            headers={"content-type": "application/problem+json"},
        )

    transport = _transport(handler, [])
    with pytest.raises(PayloadTooLarge):
        transport.push(PushRequest(device_id="d1", mutations=[]))
    assert transport.max_mutations == 20
