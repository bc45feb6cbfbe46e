"""Login rate limiting, per username and per client address.

Attempts live in the ``login_attempts`` table rather than process memory so the limit holds
across every replica behind the proxy. A username is refused after ``login_max_failures``
failures inside ``login_window_s`` (a success starts its count afresh); an address after
``ADDRESS_FACTOR`` times as many, since one office or carrier NAT can front many honest reps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import LoginAttempt
from server.settings import Settings

__all__ = ["ADDRESS_FACTOR", "Refusal", "check_login_allowed", "note_attempt"]

ADDRESS_FACTOR = 4


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a login is refused for now, and for how long."""

    by: str
    """"username" or "address"."""
    retry_after_s: int


async def _retry_after(
    session: AsyncSession,
    where: list[object],
    *,
    limit: int,
    window: timedelta,
    now: datetime,
) -> int | None:
    """Seconds until fewer than ``limit`` failures matching ``where`` remain in the window, or
    None if there are fewer already."""
    newest = (
        (
            await session.execute(
                select(LoginAttempt.at)
                .where(*where)  # type: ignore[arg-type]
                .order_by(LoginAttempt.at.desc())
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    if len(newest) < limit:
        return None
    # The limit-th newest failure is the one whose expiry lets the next attempt through.
    return max(1, math.ceil((newest[-1] + window - now).total_seconds()))


async def check_login_allowed(
    session: AsyncSession, settings: Settings, *, username: str, ip: str, now: datetime
) -> Refusal | None:
    window = timedelta(seconds=settings.login_window_s)
    since = now - window
    last_success = (
        await session.execute(
            select(func.max(LoginAttempt.at)).where(
                LoginAttempt.username == username, LoginAttempt.success.is_(True)
            )
        )
    ).scalar_one_or_none()
    user_since = max(since, last_success) if last_success else since
    by_user = await _retry_after(
        session,
        [
            LoginAttempt.username == username,
            LoginAttempt.success.is_(False),
            LoginAttempt.at > user_since,
        ],
        limit=settings.login_max_failures,
        window=window,
        now=now,
    )
    if by_user is not None:
        return Refusal("username", by_user)
    by_ip = await _retry_after(
        session,
        [LoginAttempt.ip == ip, LoginAttempt.success.is_(False), LoginAttempt.at > since],
        limit=settings.login_max_failures * ADDRESS_FACTOR,
        window=window,
        now=now,
    )
    if by_ip is not None:
        return Refusal("address", by_ip)
    return None


def note_attempt(
    session: AsyncSession, *, username: str, ip: str, success: bool, now: datetime
) -> None:
    session.add(LoginAttempt(username=username, ip=ip, success=success, at=now))
