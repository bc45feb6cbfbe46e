"""The shipped nginx.conf, run for real (where nginx is installed) in front of a real server
process: TLS with the demo's self-signed certificate, http redirected, the client's own
X-Forwarded-For replaced, HSTS and Secure cookies through the trusted proxy, /metrics refused."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.models import AuditEntry
from tests.live import free_port, live_server
from tests.seed import PASSWORD, run_db, seed_world
from tests.stores import Store

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _audited_addresses(url: str) -> list[str | None]:
    async def work(session: AsyncSession) -> list[str | None]:
        return list((await session.execute(select(AuditEntry.ip))).scalars())

    return run_db(url, work)


def _trusting(certificate: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate))


def _certificate(into: Path) -> Path:
    tls = into / "tls"
    tls.mkdir()
    shutil.copy(DEPLOY / "tls" / "make-self-signed.sh", tls)
    made = subprocess.run(
        ["sh", str(tls / "make-self-signed.sh")], capture_output=True, text=True, check=True
    )
    assert "wrote" in made.stdout
    return tls


def test_the_demo_certificate_is_made_once_and_then_left_alone(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    tls = _certificate(tmp_path)
    first = (tls / "fieldline.crt").read_bytes()
    again = subprocess.run(
        ["sh", str(tls / "make-self-signed.sh")], capture_output=True, text=True, check=True
    )
    assert "leaving it" in again.stdout
    assert (tls / "fieldline.crt").read_bytes() == first
    assert (tls / "fieldline.key").stat().st_mode & 0o077 == 0
    subject = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-in", str(tls / "fieldline.crt")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "CN = localhost" in subject or "CN=localhost" in subject


@pytest.fixture
def proxied(sqlite_store: Store, tmp_path: Path) -> Iterator[tuple[str, str, Path, str]]:
    """(https url, http url, certificate) of nginx in front of one replica."""
    if shutil.which("nginx") is None or shutil.which("openssl") is None:
        pytest.skip("nginx and openssl are needed (apt-get install nginx-light openssl)")
    tls = _certificate(tmp_path)
    seed_world(sqlite_store.url, accounts_per_territory=1)
    env = {"FIELDLINE_TRUSTED_PROXIES": "127.0.0.1"}
    with live_server(sqlite_store.url, tmp_path, env=env) as server:
        https_port, http_port = free_port(), free_port()
        conf = (DEPLOY / "nginx.conf").read_text()
        # The compose file's names and ports, made local; everything else as shipped.
        conf = (
            conf.replace("server app1:8000", f"server 127.0.0.1:{server.port}")
            .replace("server app2:8000", f"server 127.0.0.1:{server.port}")
            .replace("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
            .replace("listen 80;", f"listen 127.0.0.1:{http_port};")
            .replace("/etc/nginx/tls/", f"{tls}/")
        )
        conf = f"pid {tmp_path}/nginx.pid;\n" + conf
        (tmp_path / "nginx.conf").write_text(conf)
        (tmp_path / "logs").mkdir()
        command = ["nginx", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        nginx = subprocess.Popen(
            [*command, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"https://127.0.0.1:{https_port}"
            for _ in range(100):
                try:
                    httpx.get(f"{url}/health/live", verify=_trusting(tls / "fieldline.crt"))
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            yield url, f"http://127.0.0.1:{http_port}", tls / "fieldline.crt", sqlite_store.url
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)


@pytest.mark.e2e
def test_nginx_terminates_tls_and_the_replica_sees_https_and_the_real_client(
    proxied: tuple[str, str, Path, str],
) -> None:
    url, plain, certificate, database = proxied
    with httpx.Client(verify=_trusting(certificate), timeout=30) as client:
        health = client.get(f"{url}/health/live")
        login = client.post(
            f"{url}/manager/login",
            data={"username": "mgr_north", "password": PASSWORD},
            headers={"X-Forwarded-For": "6.6.6.6"},
        )
        metrics = client.get(f"{url}/metrics")
        failed = client.post(
            f"{url}/api/v1/auth/login",
            json={"username": "rep_n1", "password": "wrong", "device_name": "x"},
            headers={"X-Forwarded-For": "6.6.6.6"},
        )
    assert health.status_code == 200
    assert health.headers["strict-transport-security"].startswith("max-age=")
    assert len(health.headers["x-request-id"]) == 32  # nginx's $request_id, passed through
    assert login.status_code == 303
    assert all("secure" in c.lower() for c in login.headers.get_list("set-cookie"))
    assert metrics.status_code == 404
    assert failed.status_code == 401
    # nginx replaced the client's own X-Forwarded-For with the address it saw.
    assert set(_audited_addresses(database)) == {"127.0.0.1"}
    redirect = httpx.get(f"{plain}/manager", follow_redirects=False)
    assert redirect.status_code == 301
    assert redirect.headers["location"].startswith("https://")
