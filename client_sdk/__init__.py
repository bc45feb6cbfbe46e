"""Fieldline's client SDK: what a rep's tablet app embeds to work offline and sync.

    from client_sdk import FieldClient
    client = FieldClient("rep.db", server_url="https://fieldline.example")
    client.login("rep_n1", "…")          # once, online
    client.sync()                        # whenever a network appears
    client.route()                       # today's visits, offline

See docs/sdk.md.
"""

from client_sdk import errors
from client_sdk.client import AsyncFieldClient, Conflict, FieldClient, RejectedChange, Status
from client_sdk.field import RouteStop, VisitPolicy
from client_sdk.records import Record
from client_sdk.secrets import FileTokenStore, MemoryTokenStore, Tokens, TokenStore
from client_sdk.sync_loop import Progress, SyncReport
from client_sdk.transport import RetryPolicy, UserInfo

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
    "SyncReport",
    "TokenStore",
    "Tokens",
    "UserInfo",
    "VisitPolicy",
    "errors",
]
