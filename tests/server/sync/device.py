"""A bare protocol-level device for server tests: speaks push and pull over the real app and
keeps what it pulled in a dict. (The real device is client_sdk; these tests pin the server.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from sync import clock, codec
from sync.ids import new_id
from sync.messages import (
    Change,
    ConflictNotice,
    Delete,
    Eviction,
    Mutation,
    PullPage,
    PullRequest,
    PushRequest,
    PushResponse,
    Result,
    Upsert,
)


@dataclass
class Device:
    client: TestClient[Litestar]
    token: str
    device_id: str
    seq: int = 0
    hlc: clock.Hlc | None = None
    cursor: str | None = None
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    conflicts: list[ConflictNotice] = field(default_factory=list)
    evicted: list[tuple[str, str]] = field(default_factory=list)
    wall_offset_ms: int = 0

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", codec.PROTOCOL_HEADER: "1"}

    def stamp(self) -> str:
        self.hlc = clock.send(
            self.hlc, wall_ms=clock.wall_now_ms() + self.wall_offset_ms, node=self.device_id
        )
        return self.hlc.encode()

    def upsert(
        self,
        entity: str,
        record_id: str,
        fields: dict[str, Any],
        *,
        tx: str | None = None,
        base_version: int | None = None,
    ) -> Upsert:
        self.seq += 1
        return Upsert(
            seq=self.seq,
            tx=tx or new_id(),
            entity=entity,
            id=record_id,
            fields=fields,
            hlc=self.stamp(),
            base_version=base_version,
        )

    def delete(self, entity: str, record_id: str, *, tx: str | None = None) -> Delete:
        self.seq += 1
        return Delete(
            seq=self.seq, tx=tx or new_id(), entity=entity, id=record_id, hlc=self.stamp()
        )

    def push_raw(
        self,
        mutations: list[Mutation],
        *,
        pull: PullRequest | None = None,
        media_type: str = codec.MEDIA_JSON,
        **kw: Any,
    ) -> Any:
        body = codec.encode(
            PushRequest(device_id=self.device_id, mutations=mutations, pull=pull), media_type
        )
        headers = {
            **self.headers,
            "Content-Type": media_type,
            "Accept": media_type,
            **kw.pop("headers", {}),
        }
        return self.client.post("/api/v1/sync/push", content=body, headers=headers, **kw)

    def push(self, *mutations: Mutation) -> list[Result]:
        return self.push_and_pull(*mutations, pull=None).results

    def push_and_pull(
        self,
        *mutations: Mutation,
        pull: PullRequest | None,
        media_type: str = codec.MEDIA_JSON,
    ) -> PushResponse:
        """A push; with ``pull``, one that asks for the page after it (applied here if it
        came)."""
        response = self.push_raw(list(mutations), pull=pull, media_type=media_type)
        assert response.status_code == 200, response.text
        decoded = codec.decode_push_response(response.content, response.headers["content-type"])
        self.hlc = clock.receive(
            self.hlc,
            clock.Hlc.parse(decoded.server_hlc),
            wall_ms=clock.wall_now_ms(),
            node=self.device_id,
        )
        if decoded.page is not None:
            self.apply(decoded.page)
        return decoded

    def pull_page(self, *, limit: int = 500, checksums: bool = False) -> PullPage:
        params: dict[str, Any] = {"limit": limit}
        if self.cursor:
            params["cursor"] = self.cursor
        if checksums:
            params["checksums"] = "true"
        response = self.client.get("/api/v1/sync/pull", params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        page = codec.decode_pull_page(response.content, response.headers["content-type"])
        self.apply(page)
        return page

    def apply(self, page: PullPage) -> None:
        if page.reset:
            if page.entity:
                self.records = {k: v for k, v in self.records.items() if k[0] != page.entity}
            else:
                self.records = {}
        for item in page.items:
            match item:
                case Change(op="upsert"):
                    current = self.records.get((item.entity, item.id))
                    if current is None or current["version"] <= item.version:
                        self.records[(item.entity, item.id)] = dict(item.fields)
                case Change(op="delete"):
                    self.records.pop((item.entity, item.id), None)
                case Eviction():
                    self.records.pop((item.entity, item.id), None)
                    self.evicted.append((item.entity, item.id))
                case ConflictNotice():
                    self.conflicts.append(item)
        self.cursor = page.cursor

    def pull(self, *, limit: int = 500) -> int:
        """Pull until caught up; returns the number of pages."""
        pages = 0
        while True:
            page = self.pull_page(limit=limit)
            pages += 1
            if not page.more:
                return pages

    def of(self, entity: str) -> dict[str, dict[str, Any]]:
        return {rid: data for (e, rid), data in self.records.items() if e == entity}


def push_response(raw: bytes, content_type: str) -> PushResponse:
    return codec.decode_push_response(raw, content_type)
