"""Who the client is, as a real server process decides it: ``X-Forwarded-For`` counts only when
the TCP peer is a proxy listed in FIELDLINE_TRUSTED_PROXIES, so a caller cannot pick its own
address for the login rate limit or the audit log."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.models import AuditEntry
from tests.live import live_server
from tests.seed import PASSWORD, run_db, seed_world
from tests.stores import Store

# The login limit per address is 4 × the per-username limit (5): the 21st failure is refused.
ADDRESS_LIMIT = 20


def _login(url: str, n: int, forwarded_for: str) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/auth/login",
        # A different unknown username each time: the per-username lock never decides.
        json={"username": f"nobody{n}", "password": "guess", "device_name": "probe"},
        headers={"X-Forwarded-For": forwarded_for},
        timeout=30,
    )


def _audited_addresses(url: str) -> list[str | None]:
    async def work(session: AsyncSession) -> list[str | None]:
        rows = await session.execute(select(AuditEntry.ip).order_by(AuditEntry.at))
        return list(rows.scalars())

    return run_db(url, work)


@pytest.mark.e2e
def test_a_forged_forwarded_for_from_outside_is_ignored(
    sqlite_store: Store, tmp_path: Path
) -> None:
    seed_world(sqlite_store.url, accounts_per_territory=1)
    with live_server(sqlite_store.url, tmp_path) as server:
        answers = [
            _login(server.url, n, f"198.51.100.{n}, 203.0.113.{n}").status_code
            for n in range(ADDRESS_LIMIT + 1)
        ]
    assert answers == [401] * ADDRESS_LIMIT + [429]
    assert set(_audited_addresses(sqlite_store.url)) == {"127.0.0.1"}


@pytest.mark.e2e
def test_the_forwarded_for_of_a_trusted_proxy_names_the_client(
    sqlite_store: Store, tmp_path: Path
) -> None:
    seed_world(sqlite_store.url, accounts_per_territory=1)
    env = {"FIELDLINE_TRUSTED_PROXIES": "127.0.0.1/32"}
    with live_server(sqlite_store.url, tmp_path, env=env) as server:
        # What nginx sends: the client-written part first, the address it saw appended last.
        answers = [
            _login(server.url, n, f"6.6.6.6, 203.0.113.{n}").status_code
            for n in range(ADDRESS_LIMIT + 1)
        ]
    assert answers == [401] * (ADDRESS_LIMIT + 1)
    assert _audited_addresses(sqlite_store.url) == [
        f"203.0.113.{n}" for n in range(ADDRESS_LIMIT + 1)
    ]


@pytest.mark.e2e
def test_a_trusted_proxys_requests_all_from_one_client_are_limited_as_one_address(
    sqlite_store: Store, tmp_path: Path
) -> None:
    seed_world(sqlite_store.url, accounts_per_territory=1)
    env = {"FIELDLINE_TRUSTED_PROXIES": "127.0.0.1"}
    with live_server(sqlite_store.url, tmp_path, env=env) as server:
        answers = [
            _login(server.url, n, f"10.9.{n}.1, 192.0.2.44").status_code
            for n in range(ADDRESS_LIMIT + 1)
        ]
    assert answers == [401] * ADDRESS_LIMIT + [429]


def _manager_login(url: str, proto: str) -> httpx.Response:
    return httpx.post(
        f"{url}/manager/login",
        data={"username": "mgr_north", "password": PASSWORD},
        headers={"X-Forwarded-Proto": proto, "X-Forwarded-For": "203.0.113.5"},
        timeout=30,
    )


def _cookie_flags(answer: httpx.Response) -> list[bool]:
    cookies = answer.headers.get_list("set-cookie")
    assert cookies, answer.text
    return ["secure" in cookie.lower().split("; ") for cookie in cookies]


@pytest.mark.e2e
def test_behind_a_trusted_tls_proxy_session_cookies_are_secure_and_hsts_is_sent(
    sqlite_store: Store, tmp_path: Path
) -> None:
    seed_world(sqlite_store.url, accounts_per_territory=1)
    env = {"FIELDLINE_TRUSTED_PROXIES": "127.0.0.1"}
    with live_server(sqlite_store.url, tmp_path, env=env) as server:
        answer = _manager_login(server.url, "https")
    assert answer.status_code == 303
    # Session, refresh and the browser's device cookie: every one Secure.
    assert _cookie_flags(answer) == [True, True, True]
    assert answer.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.e2e
def test_a_forwarded_proto_from_an_untrusted_peer_changes_nothing(
    sqlite_store: Store, tmp_path: Path
) -> None:
    seed_world(sqlite_store.url, accounts_per_territory=1)
    with live_server(sqlite_store.url, tmp_path) as server:
        answer = _manager_login(server.url, "https")
    assert answer.status_code == 303
    assert _cookie_flags(answer) == [False, False, False]
    assert "strict-transport-security" not in answer.headers
