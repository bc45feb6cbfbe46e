"""Logging in, refreshing, logging out, changing a password, and back-office API keys.

Token model: a login binds an access token (short-lived JWT) and a refresh token (opaque,
stored as a digest) to a device. Each refresh rotates the refresh token; presenting one that
was already rotated out means it leaked, so that device's sessions end (its token generation
is bumped, which the middleware checks on every request). Failures that must be remembered
(failed logins, reuse detection) are committed before the refusal is raised, because the
request's own transaction is rolled back on any error.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.service import record as audit
from server.auth.models import ApiKey, Device, Role, User
from server.auth.passwords import hash_password, hashing, needs_rehash, verify_password
from server.auth.principal import Principal
from server.auth.ratelimit import check_login_allowed, note_attempt
from server.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    LoginResult,
    LoginUser,
    PasswordChange,
)
from server.auth.tokens import digest, issue_access_token, new_api_key, new_refresh_token
from server.db.base import utcnow
from server.db.engine import create_engine, create_sessionmaker
from server.errors import BadRequest, FieldlineError, Forbidden, NotFound, RateLimited, Unauthorized
from server.org.models import Region, Territory
from server.pagination import Page, paginate
from server.rest import to_out
from server.settings import Settings
from server.users.schemas import UserCreate
from server.users.service import create_user

__all__ = [
    "LoginResult",
    "change_password",
    "create_api_key",
    "create_user_cli",
    "end_device_sessions",
    "get_api_key",
    "list_api_keys",
    "login",
    "logout",
    "refresh",
    "revoke_api_key",
]

logger = logging.getLogger("fieldline.auth")

_BAD_CREDENTIALS = "wrong username or password"
_BAD_REFRESH = "refresh token is not valid; log in again"


async def _price_list_of(session: AsyncSession, user: User) -> str | None:
    if user.region_id is None:
        return None
    return (
        await session.execute(select(Region.price_list_id).where(Region.id == user.region_id))
    ).scalar_one_or_none()


def _issue(
    settings: Settings, user: User, device: Device, now: datetime, price_list_id: str | None
) -> LoginResult:
    """Mint an access token for the device's current generation and rotate its refresh token."""
    refresh_token = new_refresh_token(device.id)
    device.refresh_token_hash = digest(refresh_token)
    device.refresh_expires_at = now + timedelta(seconds=settings.refresh_token_ttl_s)
    access_token, expires_at = issue_access_token(
        secret=settings.secret_key,
        user_id=user.id,
        device_id=device.id,
        generation=device.token_generation,
        now=now,
        ttl_s=settings.access_token_ttl_s,
    )
    return LoginResult(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=expires_at,
        device_id=device.id,
        user=LoginUser(
            id=user.id,
            username=user.username,
            full_name=user.full_name,
            role=user.role,
            region_id=user.region_id,
            territory_id=user.territory_id,
            price_list_id=price_list_id,
        ),
    )


def end_device_sessions(device: Device) -> None:
    """Every access token of the device stops working and its refresh token is forgotten."""
    device.token_generation += 1
    device.refresh_token_hash = None
    device.refresh_expires_at = None


async def login(
    session: AsyncSession,
    settings: Settings,
    *,
    username: str,
    password: str,
    device_name: str,
    device_id: str | None,
    ip: str,
    app_version: str | None = None,
    roles: Collection[Role] | None = None,
    reuse_named_device: bool = False,
) -> LoginResult:
    """Check the password, then (``roles``) that the user's role may sign in here: a refusal
    creates no device and no token. ``reuse_named_device``: sign in on the user's existing
    device of that name (a browser's) that no one is signed in on, instead of adding a device
    per sign-in."""
    now = utcnow()
    # The sign-in page passes its form as typed: a name no user can have (longer than the column,
    # or with a NUL, which PostgreSQL refuses) is looked up nowhere, and counted and audited
    # under what the stores can keep of it.
    possible = _possible_username(username)
    if not possible:
        username = username.replace("\x00", "\\0")[:_USERNAME_MAX]
    refusal = await check_login_allowed(session, settings, username=username, ip=ip, now=now)
    if refusal is not None:
        await audit(
            session,
            "auth.rate_limited",
            ip=ip,
            target_type="user",
            details={"username": username, "by": refusal.by},
        )
        await session.commit()
        raise RateLimited(
            f"too many failed logins for this {refusal.by}; try again in {refusal.retry_after_s} s",
            headers={"Retry-After": str(refusal.retry_after_s)},
            extra={"retry_after_s": refusal.retry_after_s},
        )
    user = (
        (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()
        if possible
        else None
    )
    # Always verify (against a dummy hash when the user is unknown) so timing tells nothing.
    password_ok = await hashing(verify_password, user.password_hash if user else None, password)
    if user is None or not password_ok or not user.active:
        reason = "unknown_user" if user is None else "inactive" if password_ok else "bad_password"
        note_attempt(session, username=username, ip=ip, success=False, now=now)
        await audit(
            session,
            "auth.login_failed",
            actor_user_id=user.id if user else None,
            ip=ip,
            target_type="user",
            target_id=user.id if user else None,
            region_id=user.region_id if user else None,
            details={"username": username, "reason": reason},
        )
        await session.commit()
        raise Unauthorized(_BAD_CREDENTIALS)
    if roles is not None and user.role not in roles:
        # The right password for the wrong door: recorded, but no device, no session.
        await audit(
            session,
            "auth.login_refused",
            actor_user_id=user.id,
            ip=ip,
            target_type="user",
            target_id=user.id,
            region_id=user.region_id,
            details={"username": username, "reason": "role", "role": str(user.role)},
        )
        await session.commit()
        raise Forbidden(f"a {user.role!s} cannot sign in here")
    if needs_rehash(user.password_hash):
        user.password_hash = await hashing(hash_password, password)

    device: Device | None = None
    if device_id:
        device = await session.get(Device, device_id)
        if device is not None and (device.user_id != user.id or device.revoked_at is not None):
            device = None
    if device is None and reuse_named_device:
        device = (
            await session.execute(
                select(Device)
                .where(
                    Device.user_id == user.id,
                    Device.name == device_name,
                    Device.revoked_at.is_(None),
                    # Not one another browser is signed in on right now: one device keeps one
                    # refresh token, and a second browser rotating it would make the first
                    # one's next refresh look like a stolen token (and end both sessions).
                    or_(Device.refresh_token_hash.is_(None), Device.refresh_expires_at <= now),
                )
                .order_by(Device.last_seen_at.desc().nulls_last(), Device.id)
                .limit(1)
            )
        ).scalar_one_or_none()
    new_device = device is None
    if device is None:
        device = Device(user_id=user.id, name=device_name)
        session.add(device)
    device.name = device_name
    device.app_version = app_version
    device.last_seen_at = now
    device.last_ip = ip
    await session.flush()
    result = _issue(settings, user, device, now, await _price_list_of(session, user))
    note_attempt(session, username=username, ip=ip, success=True, now=now)
    await audit(
        session,
        "auth.login",
        actor_user_id=user.id,
        device_id=device.id,
        ip=ip,
        target_type="device",
        target_id=device.id,
        region_id=user.region_id,
        details={"device_name": device_name, "new_device": new_device},
    )
    await session.flush()
    logger.info("login", extra={"fields": {"user_id": user.id, "device_id": device.id}})
    return result


_USERNAME_MAX = 80
"""The length of ``users.username`` and ``login_attempts.username``."""


def _possible_username(username: str) -> bool:
    return len(username) <= _USERNAME_MAX and "\x00" not in username


def _device_id_of(refresh_token: str) -> str | None:
    if not refresh_token.startswith("flr_"):
        return None
    device_id, dot, rest = refresh_token[4:].partition(".")
    # Looked up as given: a NUL (which PostgreSQL refuses) or a length no id has names no device.
    if "\x00" in device_id or len(device_id) > 64:
        return None
    return device_id if dot and rest and device_id else None


async def refresh(
    session: AsyncSession, settings: Settings, *, refresh_token: str, ip: str
) -> LoginResult:
    now = utcnow()
    device_id = _device_id_of(refresh_token)
    if device_id is None:
        raise Unauthorized(_BAD_REFRESH)
    device = (
        await session.execute(select(Device).where(Device.id == device_id).with_for_update())
    ).scalar_one_or_none()
    if device is None:
        raise Unauthorized(_BAD_REFRESH)
    if device.revoked_at is not None:
        raise Unauthorized("this device has been revoked; log in again")
    if device.refresh_token_hash is None or device.refresh_token_hash != digest(refresh_token):
        # A refresh token that was rotated out (or logged out) came back: someone holds a copy.
        end_device_sessions(device)
        await audit(
            session,
            "auth.refresh_reuse",
            actor_user_id=device.user_id,
            device_id=device.id,
            ip=ip,
            target_type="device",
            target_id=device.id,
        )
        await session.commit()
        raise Unauthorized(
            "refresh token was already used; this device's sessions have been ended, log in again"
        )
    if device.refresh_expires_at is None or device.refresh_expires_at <= now:
        end_device_sessions(device)
        await session.commit()
        raise Unauthorized("refresh token expired; log in again")
    user = await session.get(User, device.user_id)
    if user is None or not user.active:
        raise Unauthorized("user is deactivated")
    device.last_seen_at = now
    device.last_ip = ip
    result = _issue(settings, user, device, now, await _price_list_of(session, user))
    await session.flush()
    return result


async def _current_device(session: AsyncSession, principal: Principal) -> Device:
    device = await session.get(Device, principal.device_id) if principal.device_id else None
    if device is None:
        raise Unauthorized("this needs a device login")
    return device


async def logout(session: AsyncSession, principal: Principal, *, ip: str | None) -> None:
    device = await _current_device(session, principal)
    end_device_sessions(device)
    await audit(
        session,
        "auth.logout",
        actor=principal,
        ip=ip,
        target_type="device",
        target_id=device.id,
        region_id=principal.region_id,
    )


async def change_password(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    data: PasswordChange,
    *,
    ip: str,
) -> None:
    user = await session.get(User, principal.user_id) if principal.user_id else None
    if user is None:
        raise Unauthorized("this needs a user login")
    now = utcnow()
    # The current password is a guessable secret too: the login rate limit guards it here.
    refusal = await check_login_allowed(session, settings, username=user.username, ip=ip, now=now)
    if refusal is not None:
        raise RateLimited(
            f"too many failed attempts; try again in {refusal.retry_after_s} s",
            headers={"Retry-After": str(refusal.retry_after_s)},
        )
    if not await hashing(verify_password, user.password_hash, data.current_password):
        note_attempt(session, username=user.username, ip=ip, success=False, now=now)
        await audit(session, "auth.password_change_failed", actor=principal, ip=ip)
        await session.commit()
        raise BadRequest("the current password is wrong", field="current_password")
    if data.new_password == data.current_password:
        raise BadRequest("the new password must differ from the current one", field="new_password")
    user.password_hash = await hashing(hash_password, data.new_password)
    # Other devices keep working until now; a changed password should end them.
    others = (
        await session.execute(
            select(Device).where(Device.user_id == user.id, Device.id != principal.device_id)
        )
    ).scalars()
    for device in others:
        end_device_sessions(device)
    await audit(
        session,
        "auth.password_changed",
        actor=principal,
        ip=ip,
        target_type="user",
        target_id=user.id,
        region_id=user.region_id,
    )


async def create_api_key(
    session: AsyncSession, principal: Principal, data: ApiKeyCreate
) -> ApiKeyCreated:
    key, prefix = new_api_key()
    scopes: list[str] = sorted(set(data.scopes))
    api_key = ApiKey(
        name=data.name,
        prefix=prefix,
        key_hash=digest(key),
        scopes=scopes,
        created_by_id=principal.user_id,
    )
    session.add(api_key)
    await session.flush()
    await audit(
        session,
        "api_key.created",
        actor=principal,
        target_type="api_key",
        target_id=api_key.id,
        details={"name": data.name, "prefix": prefix, "scopes": scopes},
    )
    return ApiKeyCreated(id=api_key.id, name=api_key.name, key=key, prefix=prefix, scopes=scopes)


async def list_api_keys(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> Page[ApiKeyOut]:
    return await paginate(
        session,
        select(ApiKey),
        key=ApiKey.id,
        limit=limit,
        cursor=cursor,
        out=lambda k: to_out(k, ApiKeyOut),
    )


async def get_api_key(session: AsyncSession, key_id: str) -> ApiKey:
    api_key = await session.get(ApiKey, key_id)
    if api_key is None:
        raise NotFound(f"no API key with id {key_id}")
    return api_key


async def revoke_api_key(session: AsyncSession, principal: Principal, key_id: str) -> ApiKey:
    api_key = await get_api_key(session, key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        await audit(
            session,
            "api_key.revoked",
            actor=principal,
            target_type="api_key",
            target_id=api_key.id,
            details={"name": api_key.name, "prefix": api_key.prefix},
        )
        await session.flush()
    return api_key


async def create_user_cli(
    settings: Settings,
    *,
    username: str,
    password: str,
    role: str,
    full_name: str,
    region_code: str | None,
    territory_code: str | None,
) -> str:
    """``fieldline create-user``: exits with a one-line message on a taken username, an unknown
    region or territory code, or a password that is too short."""
    engine = create_engine(settings.database_url, null_pool=True)
    try:
        async with create_sessionmaker(engine)() as session:
            region_id = territory_id = None
            if region_code:
                region_id = await session.scalar(
                    select(Region.id).where(Region.code == region_code)
                )
                if region_id is None:
                    raise SystemExit(f"fieldline: no region with code {region_code!r}")
            if territory_code:
                territory_id = await session.scalar(
                    select(Territory.id).where(Territory.code == territory_code)
                )
                if territory_id is None:
                    raise SystemExit(f"fieldline: no territory with code {territory_code!r}")
            try:
                data = msgspec.convert(
                    {
                        "username": username,
                        "password": password,
                        "full_name": full_name,
                        "role": role,
                        "region_id": region_id,
                        "territory_id": territory_id,
                    },
                    UserCreate,
                )
            except msgspec.ValidationError as exc:
                raise SystemExit(f"fieldline: {exc}") from None
            try:
                user = await create_user(session, data)
            except FieldlineError as exc:
                raise SystemExit(f"fieldline: {exc.detail}") from None
            await session.commit()
            return user.id
    finally:
        await engine.dispose()
