"""Access tokens (short-lived JWTs bound to a device and its token generation), refresh tokens
and API keys (opaque random strings, stored only as SHA-256 digests)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import jwt
import msgspec

from server.errors import Unauthorized

__all__ = [
    "AccessClaims",
    "decode_access_token",
    "digest",
    "issue_access_token",
    "new_api_key",
    "new_refresh_token",
]

_ALGORITHM = "HS256"
_AUDIENCE = "fieldline"


class AccessClaims(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    device_id: str
    generation: int
    expires_at: datetime


def issue_access_token(
    *, secret: str, user_id: str, device_id: str, generation: int, now: datetime, ttl_s: int
) -> tuple[str, datetime]:
    expires = now + timedelta(seconds=ttl_s)
    payload = {
        "sub": user_id,
        "did": device_id,
        "gen": generation,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "aud": _AUDIENCE,
        "typ": "access",
    }
    return jwt.encode(payload, secret, algorithm=_ALGORITHM), expires


# A device sends the same access token on every request until it refreshes it; verifying its
# signature again each time was a tenth of a small sync request's CPU. Verified claims are kept
# by (secret, token) and the expiry is still checked on every use. Revocation is not cached:
# the middleware checks the device row on every request.
_VERIFIED_MAX = 4096
_verified: dict[tuple[str, str], AccessClaims] = {}


def decode_access_token(token: str, *, secret: str) -> AccessClaims:
    key = (secret, token)
    claims = _verified.get(key)
    if claims is None:
        claims = _verify(token, secret)
        if len(_verified) >= _VERIFIED_MAX:
            _verified.pop(next(iter(_verified), key), None)  # the oldest entry
        _verified[key] = claims
    if claims.expires_at <= datetime.now(UTC):
        _verified.pop(key, None)
        raise Unauthorized("access token expired; refresh it")
    return claims


def _verify(token: str, secret: str) -> AccessClaims:
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            options={"require": ["exp", "sub", "did", "gen"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("access token expired; refresh it") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("access token is not valid") from exc
    if payload.get("typ") != "access":
        raise Unauthorized("not an access token")
    return AccessClaims(
        user_id=str(payload["sub"]),
        device_id=str(payload["did"]),
        generation=int(payload["gen"]),
        expires_at=datetime.fromtimestamp(payload["exp"], UTC),
    )


def digest(secret_value: str) -> str:
    """Refresh tokens and API keys are long random strings, so a fast hash is enough (argon2 is
    for low-entropy passwords)."""
    return hashlib.sha256(secret_value.encode()).hexdigest()


def new_refresh_token(device_id: str) -> str:
    # The device id travels inside the token so a replayed (rotated-out) token can be traced to
    # its device and that device's sessions ended.
    return f"flr_{device_id}.{secrets.token_urlsafe(32)}"


def new_api_key() -> tuple[str, str]:
    """(full key shown once, prefix kept for display and lookup)."""
    prefix = secrets.token_hex(4)
    return f"flk_{prefix}_{secrets.token_urlsafe(32)}", prefix
