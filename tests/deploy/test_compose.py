"""deploy/compose.yaml, read as compose reads it (YAML with merge keys): every container has
limits and rotated logs, the replicas' limits fit the memory budget, and the replicas trust only
nginx's fixed address. (No Docker engine runs where this suite runs; the file's behaviour is
tested piecewise: nginx.conf, backup.sh and the image's install steps elsewhere in tests/deploy.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
BUDGET_MB = 300  # resident memory per replica, DESIGN.md's performance targets


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def _megabytes(text: str) -> float:
    units = {"K": 1 / 1024, "M": 1, "G": 1024}
    return float(text[:-1]) * units[text[-1].upper()]


def test_every_service_has_resource_limits_and_rotated_logs() -> None:
    for name, service in _compose()["services"].items():
        limits = service["deploy"]["resources"]["limits"]
        assert "memory" in limits and "cpus" in limits, name
        assert service["logging"]["driver"] == "json-file", name
        assert service["logging"]["options"]["max-size"], name


def test_a_replicas_limit_covers_the_budget_with_bounded_headroom() -> None:
    services = _compose()["services"]
    for name in ("app1", "app2"):
        limit = _megabytes(services[name]["deploy"]["resources"]["limits"]["memory"])
        assert BUDGET_MB <= limit <= 1.5 * BUDGET_MB, (name, limit)


def test_the_replicas_trust_only_the_proxys_fixed_address() -> None:
    services = _compose()["services"]
    proxy_ip = services["proxy"]["networks"]["backend"]["ipv4_address"]
    for name in ("app1", "app2", "migrate"):
        env = services[name]["environment"]
        assert env["FIELDLINE_TRUSTED_PROXIES"] == proxy_ip
        assert "FORWARDED_ALLOW_IPS" not in env


def test_the_proxy_terminates_tls_and_a_backup_job_runs() -> None:
    services = _compose()["services"]
    assert any(port.endswith(":443") for port in services["proxy"]["ports"])
    assert "./tls:/etc/nginx/tls:ro" in services["proxy"]["volumes"]
    assert "/deploy/backup.sh" in " ".join(services["backup"]["command"])
