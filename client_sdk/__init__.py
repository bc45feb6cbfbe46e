"""Fieldline's client SDK: what a rep's tablet app embeds to work offline and sync.

    from client_sdk import FieldClient
    client = FieldClient("rep.db", server_url="https://fieldline.example")
    client.login("rep_n1", "…")          # once, online
    client.sync()                        # whenever a network appears
    client.route()                       # today's visits, offline

See docs/sdk.md.

The names below are imported on first use, so that importing a light submodule (the
``fieldline rep`` parser in ``client_sdk.cli``) does not pay for the client, httpx and the sync
rules.
"""

import typing as _typing

if _typing.TYPE_CHECKING:
    from client_sdk import errors
    from client_sdk.client import AsyncFieldClient, Conflict, FieldClient, RejectedChange, Status
    from client_sdk.field import RouteStop, VisitPolicy
    from client_sdk.identity import UserInfo
    from client_sdk.records import Record
    from client_sdk.secrets import FileTokenStore, MemoryTokenStore, Tokens, TokenStore
    from client_sdk.suggestions import SuggestionView
    from client_sdk.sync_loop import Progress, SyncReport
    from client_sdk.transport import RetryPolicy

__all__ = [
    "AsyncFieldClient",
    "Conflict",
    "FieldClient",
    "FileTokenStore",
    "MemoryTokenStore",
    "Progress",
    "Record",
    "RejectedChange",
    "RetryPolicy",
    "RouteStop",
    "Status",
    "SuggestionView",
    "SyncReport",
    "TokenStore",
    "Tokens",
    "UserInfo",
    "VisitPolicy",
    "errors",
]

_SOURCES: dict[str, str] = {
    "AsyncFieldClient": "client_sdk.client",
    "Conflict": "client_sdk.client",
    "FieldClient": "client_sdk.client",
    "RejectedChange": "client_sdk.client",
    "Status": "client_sdk.client",
    "RouteStop": "client_sdk.field",
    "VisitPolicy": "client_sdk.field",
    "Record": "client_sdk.records",
    "FileTokenStore": "client_sdk.secrets",
    "MemoryTokenStore": "client_sdk.secrets",
    "Tokens": "client_sdk.secrets",
    "TokenStore": "client_sdk.secrets",
    "SuggestionView": "client_sdk.suggestions",
    "Progress": "client_sdk.sync_loop",
    "SyncReport": "client_sdk.sync_loop",
    "RetryPolicy": "client_sdk.transport",
    "UserInfo": "client_sdk.identity",
}


# Hidden from type checkers, which see the imports above: a misspelt name stays an error there.
if not _typing.TYPE_CHECKING:

    def __getattr__(name: str) -> _typing.Any:
        import importlib

        if name == "errors":
            return importlib.import_module("client_sdk.errors")
        source = _SOURCES.get(name)
        if source is None:
            raise AttributeError(f"module 'client_sdk' has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__))
