"""Where the device keeps its tokens.

The honest choice, stated in docs/sdk.md: headless Linux (and this SDK's CLI) has no OS keystore
to lean on, so the default ``FileTokenStore`` writes the tokens to a file readable only by its
owner (mode 0600, written atomically) beside the local store. It does not encrypt them: a key
kept on the same disk would protect nothing against someone who can read the file. What limits
the damage of a stolen tablet is on the server: tokens are bound to the device, access tokens
live minutes, and revoking the device (or logging out) ends the refresh token at once.

Apps on a platform with a keystore (Android Keystore, iOS Keychain, Windows DPAPI, a Secret
Service daemon) pass their own ``TokenStore``; the SDK only needs ``load``, ``save`` and
``clear``.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

import msgspec

__all__ = ["FileTokenStore", "MemoryTokenStore", "TokenStore", "Tokens"]


class Tokens(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    refresh_token: str
    expires_at: datetime
    device_id: str


@runtime_checkable
class TokenStore(Protocol):
    def load(self) -> Tokens | None: ...

    def save(self, tokens: Tokens) -> None: ...

    def clear(self) -> None: ...


class MemoryTokenStore:
    def __init__(self, tokens: Tokens | None = None) -> None:
        self._tokens = tokens

    def load(self) -> Tokens | None:
        return self._tokens

    def save(self, tokens: Tokens) -> None:
        self._tokens = tokens

    def clear(self) -> None:
        self._tokens = None


class FileTokenStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> Tokens | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return msgspec.json.decode(raw, type=Tokens)
        except msgspec.DecodeError:
            # A damaged token file means logging in again, not a crash on every start.
            return None

    def save(self, tokens: Tokens) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, msgspec.json.encode(tokens))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
