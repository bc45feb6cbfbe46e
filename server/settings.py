"""Settings, read once from FIELDLINE_* environment variables and passed in explicitly.

Nothing reads the environment at import time: ``Settings.from_env()`` is called by the CLI (or a
test) and the result handed to ``create_app``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any, Literal

import msgspec

__all__ = ["DEFAULT_SECRET", "Settings", "SettingsError", "parse_networks", "read_env_file"]

DEFAULT_SECRET = "fieldline-development-secret-do-not-use-in-production"


@cache
def parse_networks(text: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """``"10.0.0.1, 172.16.0.0/12"`` as networks (a bare address is a network of one)."""
    return tuple(
        ip_network(part, strict=False) for part in text.replace(" ", ",").split(",") if part
    )


class SettingsError(ValueError):
    """The environment holds a setting that cannot be used (bad type, default secret in
    production, …)."""


_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """An env file as systemd's ``EnvironmentFile`` and compose's ``env_file`` read the shipped
    one: ``KEY=VALUE`` lines, blank lines and ``#`` comment lines, a value optionally in single
    or double quotes (taken literally). An unreadable line is an error naming its number, never
    its content, which may be a secret."""
    found: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            match = _ENV_LINE.match(line)
            if match is None:
                raise SettingsError(f"{path}, line {number}: expected KEY=VALUE")
            key, value = match.group(1), match.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            found[key] = value
    return found


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./fieldline.db"
    secret_key: str = DEFAULT_SECRET
    host: str = "127.0.0.1"
    port: int = 8000
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 30 * 24 * 3600
    max_body_bytes: int = 8 * 1024 * 1024
    login_max_failures: int = 5
    login_window_s: int = 15 * 60
    locale: str = "en"
    """How the manager pages write numbers, money and dates: ``en`` or ``de-DE`` (any locale
    Babel knows); what a manager types into a form is read the same way."""
    timezone: str = ""
    """The time zone of the manager pages (days, months, "to date"); empty: each region's own
    (the demo's regions: Europe/Berlin)."""
    offline_after_h: int = 48
    """A rep whose devices have not synced for this long is flagged on the devices page."""
    holidays: str = ""
    """Public holidays pace expects no sales on: a country code, optionally with a subdivision
    (``DE``, ``DE-HH``); empty: weekends only."""
    sync_retention_days: int = 45
    """How long the change log keeps history; a device offline longer re-bootstraps (HTTP 410)."""
    sync_page_size: int = 1000
    sync_max_mutations: int = 1000
    """The most mutations one push may carry; a larger push is refused whole (413) and the device
    sends smaller batches. Every push answer names it (``X-Fieldline-Max-Mutations``)."""
    analyze_after_rows: int = 5000
    """PostgreSQL: once a server process has written this many rows, it refreshes the planner's
    statistics of the tables it grew by a tenth (server/db/statistics.py)."""
    max_future_skew_s: int = 300
    """A pushed clock stamp further ahead of the server than this is clamped (docs/sync.md)."""
    scheduler_enabled: bool = True
    leads_assign_every_s: int = 120
    """How often the scheduler retries unassigned leads."""
    leads_sla_every_s: int = 300
    """How often the scheduler checks the first-touch SLA."""
    jobs_test_interval_s: float | None = None
    """When set, a heartbeat job runs at this interval (used to prove run-once across replicas)."""
    webhooks_enabled: bool = True
    """Run the webhook dispatcher in this process (every replica may: deliveries are claimed)."""
    webhook_poll_interval_s: float = 1.0
    webhook_timeout_s: float = 5.0
    webhook_retry_base_s: float = 10.0
    """First retry delay; it doubles per attempt (with jitter) up to ``webhook_retry_max_s``."""
    webhook_retry_max_s: float = 3600.0
    webhook_give_up_s: float = 24 * 3600.0
    """A delivery still failing this long after it was queued is marked dead."""
    db_pool_warm: int = 100
    """Database connections opened at start-up (at most the pool's size), so the first burst of
    devices does not pay for opening them: a SQLite connection parses the whole schema on first
    use, about 1 ms each, on the thread that serves requests."""
    auto_migrate: bool | None = None
    """Migrate on start-up. Default: yes on SQLite outside production, never on PostgreSQL."""
    log_level: str = "INFO"
    log_requests: bool = True
    min_visit_minutes: int = 5
    max_travel_kmh: float = 130.0
    trusted_proxies: str = ""
    """Addresses or networks (comma-separated, e.g. ``172.28.0.10, 10.0.0.0/8``) of the proxies
    whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed. Default: none, so the
    client address is the TCP peer's and no header can change it (server/edge.py)."""
    cors_origins: str = ""
    """Browser origins (comma-separated, e.g. ``https://crm.example.com``) allowed to call the
    API cross-origin. Default: none: no CORS headers, so browsers keep other sites out."""
    metrics_token: str | None = None
    """When set, ``/metrics`` answers only ``Authorization: Bearer <token>``; unset, it answers
    only callers on the loopback interface (a scraper on the same host)."""
    hsts_max_age_s: int = 365 * 24 * 3600
    """``Strict-Transport-Security`` max-age on responses to https requests; 0 sends none."""
    data_dir: str = "./fieldline-data"
    """Where the server keeps files outside the database: attachment content under
    ``<data_dir>/attachments`` (docs/attachments.md). Every replica must see the same one."""
    attachment_max_bytes: int = 10 * 1024 * 1024
    """The largest attachment an upload may carry; a larger one is refused with 413."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        environ = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        for field in msgspec.structs.fields(cls):
            key = f"FIELDLINE_{field.name.upper()}"
            if key in environ:
                raw[field.name] = environ[key]
        # HOST and PORT are the conventional names a platform (and `make run`) sets.
        for plain, name in (("HOST", "host"), ("PORT", "port")):
            if plain in environ and f"FIELDLINE_{plain}" not in environ:
                raw[name] = environ[plain]
        raw.update(overrides)
        try:
            settings = msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"invalid setting: {exc}") from exc
        settings.check()
        return settings

    def check(self) -> None:
        if self.env == "production" and self.secret_key == DEFAULT_SECRET:
            raise SettingsError(
                "FIELDLINE_SECRET_KEY is the development default; set a long random secret "
                "before running with FIELDLINE_ENV=production"
            )
        if self.env == "production" and len(self.secret_key) < 32:
            raise SettingsError("FIELDLINE_SECRET_KEY must be at least 32 characters in production")
        try:
            self.trusted_proxy_networks  # noqa: B018 - parsed here to fail at start-up
        except ValueError as exc:
            raise SettingsError(f"FIELDLINE_TRUSTED_PROXIES: {exc}") from None

    @property
    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def cors_origin_list(self) -> list[str]:
        return [part for part in self.cors_origins.replace(" ", ",").split(",") if part]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def should_auto_migrate(self) -> bool:
        if self.auto_migrate is not None:
            return self.auto_migrate
        return self.is_sqlite and self.env != "production"

    def replace(self, **changes: Any) -> Settings:
        return msgspec.structs.replace(self, **changes)
