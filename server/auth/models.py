"""People, the devices they sync from, back-office API keys and login attempts."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, TimestampMixin, utcnow
from sync.ids import new_id

__all__ = ["ApiKey", "Device", "LoginAttempt", "Role", "User"]


class Role(StrEnum):
    REP = "rep"
    MANAGER = "manager"
    BACKOFFICE = "backoffice"
    ADMIN = "admin"


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(160))
    email: Mapped[str | None] = mapped_column(String(200), default=None)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), index=True)
    region_id: Mapped[str | None] = mapped_column(
        ForeignKey("regions.id"), default=None, index=True
    )
    territory_id: Mapped[str | None] = mapped_column(
        ForeignKey("territories.id"), default=None, index=True
    )
    home_lat: Mapped[float | None] = mapped_column(default=None)
    home_lon: Mapped[float | None] = mapped_column(default=None)
    service_radius_km: Mapped[float] = mapped_column(default=50.0)
    capacity: Mapped[int] = mapped_column(default=25)
    """Most open leads this rep may hold at once."""
    daily_quota: Mapped[int] = mapped_column(default=10)
    """Most new leads per day."""
    weight: Mapped[float] = mapped_column(default=1.0)
    """Relative share of new leads (1.0 = a full share)."""
    skills: Mapped[list[str]] = mapped_column(default=list)
    """Product lines this person can sell."""
    languages: Mapped[list[str]] = mapped_column(default=list)
    working_days: Mapped[list[int]] = mapped_column(default=lambda: [0, 1, 2, 3, 4])
    """ISO weekdays, Monday = 0."""
    on_leave_until: Mapped[date | None] = mapped_column(default=None)
    active: Mapped[bool] = mapped_column(default=True)


class Device(TimestampMixin, Base):
    """A tablet or phone a user logged in from. Tokens are bound to it; revoking it kills them."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    app_version: Mapped[str | None] = mapped_column(String(40), default=None)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    last_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    token_generation: Mapped[int] = mapped_column(default=1)
    """Bumped on logout and refresh-token reuse: access tokens of older generations stop working."""
    refresh_token_hash: Mapped[str | None] = mapped_column(String(128), default=None)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiKey(TimestampMixin, Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    """Shown in lists so a key can be recognised without revealing it."""
    key_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class LoginAttempt(Base):
    """Failed and successful logins, kept in the database so the rate limit holds across
    replicas."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(80))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    success: Mapped[bool] = mapped_column(default=False)
