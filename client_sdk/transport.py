"""HTTP for the SDK: the auth and sync endpoints over an ``httpx.Client`` the caller supplies.

Any ``httpx.Client`` works — one with a ``base_url`` pointing at the server, Litestar's
``TestClient`` (which runs the app in-process), or one whose transport injects faults. Bodies
are MessagePack by default (JSON on request); responses are negotiated with ``Accept`` and gzip
with ``Accept-Encoding``; every request carries the protocol version header.

Failures, and what is done about them:
  * network errors, 5xx and 429 → retried with exponential backoff and full jitter (the delay is
    uniform in [0, min(cap, base·2^attempt)]), a bounded number of times, then raised. Retrying a
    push is safe: the server answers a resent (device, seq) with its first answer.
  * 401 → the access token is refreshed once and the request retried; a second 401, or a refused
    refresh, raises ``AuthenticationFailed`` (the rep logs in again; nothing local is lost).
  * 410 → ``CursorExpired`` (the sync loop re-bootstraps, keeping the outbox).
  * 413 → ``PayloadTooLarge`` (the sync loop sends smaller batches).
  * 426 → ``UpgradeRequired`` with a message the app can show as is.

Push answers (413 included) name the most mutations the server takes in one push in the
``X-Fieldline-Max-Mutations`` header; the last value seen is kept in ``max_mutations`` for the
sync loop, which never sends more.

Push bodies of a few kilobytes or more are sent gzip-compressed once a sync answer has said the
server takes that (``Accept-Encoding: gzip`` on the answer, RFC 7694): a batch of 500 mutations
is mostly repeated keys, ids and clock stamps, and a phone pays for every byte. A server that
refuses the coding (415) gets the same body again, as is, and is not sent gzip again.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import msgspec

from client_sdk.errors import (
    AuthenticationFailed,
    CursorExpired,
    NetworkUnavailable,
    NotLoggedIn,
    PayloadTooLarge,
    RequestRejected,
    ServerError,
    UpgradeRequired,
)
from client_sdk.identity import UserInfo
from client_sdk.secrets import Tokens, TokenStore
from sync import codec
from sync.messages import PROTOCOL_VERSION, PullPage, PushRequest, PushResponse

__all__ = ["API", "MAX_MUTATIONS_HEADER", "LoginResult", "RetryPolicy", "Transport", "UserInfo"]

API = "/api/v1"
MAX_MUTATIONS_HEADER = "X-Fieldline-Max-Mutations"
"""Response header of a push (and of its 413): the most mutations one push may carry."""
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class LoginResult(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    refresh_token: str
    expires_at: datetime
    device_id: str
    user: UserInfo
    token_type: str = "bearer"


_login_decoder = msgspec.json.Decoder(LoginResult)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    """Tries in all (so ``attempts - 1`` retries)."""
    base_s: float = 0.25
    cap_s: float = 8.0

    def delay(self, attempt: int, rng: Callable[[], float]) -> float:
        return float(rng()) * min(self.cap_s, self.base_s * (2.0**attempt))


def _positive(value: Any) -> int | None:
    """A positive whole number from a header or a problem field, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
        return number if number > 0 else None
    return None


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text[:500]}
    return body if isinstance(body, dict) else {"detail": str(body)}


GZIP_PUSH_FROM_BYTES = 2048
"""Smaller push bodies go as they are: a few hundred bytes barely shrink, and gzip's header and
the server's inflate cost more than they save."""


def _gzip(body: bytes) -> bytes:
    # Level 6: a device compresses a batch once and a phone's radio pays for every byte it sends.
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    return packer.compress(body) + packer.flush()


class Transport:
    def __init__(
        self,
        http: httpx.Client,
        tokens: TokenStore,
        *,
        media_type: str = codec.MEDIA_MSGPACK,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.http = http
        self.tokens = tokens
        self.media_type = media_type
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng
        self.requests = 0
        """Requests sent, retries included (for tests and reports)."""
        self.max_mutations: int | None = None
        self.upload_parts: bool | None = None
        """Whether the server said it takes attachment content in parts (None: no push answer
        seen yet in this process)."""
        """The most mutations the server said one push may carry (the last push answer that
        said so); None until one did."""
        self.gzip_push = False
        """Whether the server said it takes gzip push bodies (set from sync answers)."""
        self.gzip_refused = False
        """A gzip push was refused (415): whatever answers say, pushes go as they are."""

    # Auth --------------------------------------------------------------------------------------
    def login(
        self,
        username: str,
        password: str,
        *,
        device_name: str,
        device_id: str | None = None,
        app_version: str | None = None,
    ) -> LoginResult:
        body = {
            "username": username,
            "password": password,
            "device_name": device_name,
            "device_id": device_id,
            "app_version": app_version,
        }
        response = self._send("POST", f"{API}/auth/login", json_body=body, auth=False)
        if response.status_code in (400, 401, 403):
            detail = _problem(response).get("detail") or "login refused"
            raise AuthenticationFailed(str(detail))
        self._raise_for_status(response)
        result = _login_decoder.decode(response.content)
        self._save(result)
        return result

    def refresh(self) -> Tokens:
        current = self.tokens.load()
        if current is None:
            raise NotLoggedIn("no refresh token on this device: log in while online")
        response = self._send(
            "POST",
            f"{API}/auth/refresh",
            json_body={"refresh_token": current.refresh_token},
            auth=False,
        )
        if response.status_code in (400, 401, 403):
            self.tokens.clear()
            detail = _problem(response).get("detail") or "refresh refused"
            raise AuthenticationFailed(f"session ended ({detail}); log in again")
        self._raise_for_status(response)
        result = _login_decoder.decode(response.content)
        return self._save(result)

    def logout(self) -> None:
        try:
            response = self._send("POST", f"{API}/auth/logout", json_body={}, auth=True)
            if response.status_code >= 500:
                raise ServerError("logout failed", status=response.status_code)
        finally:
            self.tokens.clear()

    def _save(self, result: LoginResult) -> Tokens:
        tokens = Tokens(
            access_token=result.access_token,
            refresh_token=result.refresh_token,
            expires_at=result.expires_at,
            device_id=result.device_id,
        )
        self.tokens.save(tokens)
        return tokens

    # Sync --------------------------------------------------------------------------------------
    def push(self, request: PushRequest) -> PushResponse:
        body = codec.encode(request, self.media_type)
        headers = {"Content-Type": self.media_type}
        compressed = self.gzip_push and len(body) >= GZIP_PUSH_FROM_BYTES
        response = self._send(
            "POST",
            f"{API}/sync/push",
            content=_gzip(body) if compressed else body,
            headers={**headers, "Content-Encoding": "gzip"} if compressed else headers,
        )
        if compressed and response.status_code == 415:
            self.gzip_push, self.gzip_refused = False, True
            response = self._send("POST", f"{API}/sync/push", content=body, headers=headers)
        self._learn_encoding(response)
        self._learn_limit(response)
        self._raise_for_status(response)
        return codec.decode_push_response(response.content, self._content_type(response))

    def _learn_encoding(self, response: httpx.Response) -> None:
        if response.status_code < 400 and not self.gzip_refused:
            self.gzip_push = "gzip" in str(response.headers.get("accept-encoding", "")).lower()

    def _learn_limit(self, response: httpx.Response) -> None:
        limit = _positive(response.headers.get(MAX_MUTATIONS_HEADER))
        if limit is None and response.status_code == 413:
            # A 413 names its limit in the problem body too; the header is the reference.
            problem = _problem(response)
            limit = _positive(problem.get("max_mutations", problem.get("limit")))
        if limit is not None:
            self.max_mutations = limit
        if response.status_code < 400:
            self.upload_parts = response.headers.get(codec.UPLOAD_PARTS_HEADER) == "1"

    def pull(
        self,
        cursor: str | None,
        *,
        limit: int | None = None,
        checksums: bool = False,
        resync: str | None = None,
    ) -> PullPage:
        params: dict[str, str] = {}
        if resync is not None:
            params["resync"] = resync
        if cursor is not None:
            params["cursor"] = cursor
        if limit is not None:
            params["limit"] = str(limit)
        if checksums:
            params["checksums"] = "1"
        response = self._send("GET", f"{API}/sync/pull", params=params)
        self._learn_encoding(response)
        self._raise_for_status(response)
        return codec.decode_pull_page(response.content, self._content_type(response))

    def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        """An authenticated GET of a JSON resource (used by the simulator's checks)."""
        response = self._send("GET", path, params=params, accept="application/json")
        self._raise_for_status(response)
        return response.json()

    def post_json(self, path: str, body: Any) -> Any:
        """An authenticated POST of a JSON body, answered in JSON."""
        response = self._send("POST", path, json_body=body)
        self._raise_for_status(response)
        return response.json()

    def put_content(
        self, path: str, content: bytes, media_type: str, *, content_range: str | None = None
    ) -> httpx.Response:
        """An authenticated PUT of raw bytes (attachment content, whole or, with
        ``content_range``, one part of it). Answered as it came: the caller tells a refusal it
        must keep (4xx) from success. A part is sent once, not retried here: after a failure
        the caller asks the server how much arrived and resends only the rest."""
        headers = {"Content-Type": media_type}
        if content_range is not None:
            headers["Content-Range"] = content_range
        return self._send(
            "PUT",
            path,
            content=content,
            headers=headers,
            accept="*/*",
            attempts=1 if content_range is not None else None,
        )

    def pause(self, attempt: int) -> None:
        """Wait as the retry policy says before attempt ``attempt + 1`` (0-based)."""
        self._sleep(self.retry.delay(attempt, self._rng))

    def get_response(self, path: str) -> httpx.Response:
        """An authenticated GET of a JSON resource, answered as it came (4xx included)."""
        return self._send("GET", path, accept="application/json")

    def get_content(self, path: str) -> bytes:
        """An authenticated GET of raw bytes (attachment content)."""
        response = self._send("GET", path, accept="*/*")
        self._raise_for_status(response)
        return response.content

    def raise_for_status(self, response: httpx.Response) -> None:
        self._raise_for_status(response)

    # The request loop --------------------------------------------------------------------------
    def _content_type(self, response: httpx.Response) -> str:
        return str(response.headers.get("content-type", codec.MEDIA_JSON)).split(";")[0].strip()

    def _headers(self, auth: bool, accept: str | None) -> dict[str, str]:
        headers = {
            codec.PROTOCOL_HEADER: str(PROTOCOL_VERSION),
            "Accept": accept or self.media_type,
            "Accept-Encoding": "gzip",
        }
        if auth:
            tokens = self.tokens.load()
            if tokens is None:
                raise NotLoggedIn("not logged in on this device: log in while online first")
            headers["Authorization"] = f"Bearer {tokens.access_token}"
        return headers

    def _send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        accept: str | None = None,
        attempts: int | None = None,
    ) -> httpx.Response:
        max_attempts = attempts or self.retry.attempts
        refreshed = False
        attempt = 0
        failure = ""
        if json_body is not None:
            content = msgspec.json.encode(json_body)
            headers = {**(headers or {}), "Content-Type": "application/json"}
            accept = accept or "application/json"
        while True:
            all_headers = {**self._headers(auth, accept), **(headers or {})}
            self.requests += 1
            try:
                response = self.http.request(
                    method, path, content=content, params=params, headers=all_headers
                )
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
                response = None
            if response is not None:
                if response.status_code == 401 and auth and not refreshed:
                    refreshed = True
                    self.refresh()
                    continue
                if response.status_code not in _RETRY_STATUS:
                    return response
                failure = f"HTTP {response.status_code}"
            attempt += 1
            if attempt >= max_attempts:
                if response is None:
                    raise NetworkUnavailable(
                        f"the server could not be reached after {attempt} attempts ({failure}); "
                        "everything captured is kept and will be sent on the next sync"
                    )
                raise ServerError(
                    f"the server kept failing ({failure}) after {attempt} attempts",
                    status=response.status_code,
                )
            self._sleep(self._backoff(attempt - 1, response))

    def _backoff(self, attempt: int, response: httpx.Response | None) -> float:
        delay = self.retry.delay(attempt, self._rng)
        if response is not None and response.status_code in (429, 503):
            retry_after = response.headers.get("retry-after")
            if retry_after and retry_after.isdigit():
                delay = max(delay, min(float(retry_after), self.retry.cap_s))
        return delay

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        problem = _problem(response)
        detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
        if status == 426:
            raise UpgradeRequired(
                "This version of the app can no longer sync with the Fieldline server: "
                "update the app to continue syncing (everything captured on this device is "
                f"kept and will be sent after the update). Server said: {detail}",
                server_detail=detail,
            )
        if status == 410:
            raise CursorExpired(detail, status=status, problem=problem)
        if status == 413:
            raise PayloadTooLarge(detail, status=status, problem=problem)
        if status == 401:
            raise AuthenticationFailed(f"{detail}; log in again")
        raise RequestRejected(f"HTTP {status}: {detail}", status=status, problem=problem)
