"""The cameras table seen as CameraConfig values, and the door audit trail: what the streaming
layer and the API use (streaming/ may not touch storage directly)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sessions.camera_config import CameraConfig
from storage.camera_store import AccessRecord, CameraRecord, CameraStore

_FIELDS = {f.name for f in dataclasses.fields(CameraConfig)}


@dataclass(frozen=True)
class CameraEntry:
    camera: CameraConfig
    source: str  # config | api
    created_at: datetime
    updated_at: datetime


def camera_spec(camera: CameraConfig) -> dict[str, Any]:
    spec = dataclasses.asdict(camera)
    for key in ("id", "client_id"):
        spec.pop(key)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in spec.items()}


def _entry(record: CameraRecord) -> CameraEntry:
    spec = {k: v for k, v in record.spec.items() if k in _FIELDS}
    for key in ("allowed_users", "allowed_groups", "schedule"):
        spec[key] = tuple(spec.get(key) or ())
    camera = CameraConfig(**{**spec, "id": record.id, "client_id": record.client_id})
    return CameraEntry(camera, record.source, record.created_at, record.updated_at)


class CameraDirectory:
    def __init__(self, store: CameraStore) -> None:
        self.store = store

    async def all(self) -> list[CameraEntry]:
        return [_entry(r) for r in await self.store.all()]

    async def of_client(self, client_id: int) -> list[CameraEntry]:
        return [_entry(r) for r in await self.store.of_client(client_id)]

    async def get(self, camera_id: str) -> CameraEntry | None:
        record = await self.store.get(camera_id)
        return _entry(record) if record else None

    async def put(self, camera: CameraConfig, source: str) -> CameraEntry:
        return _entry(await self.store.put(camera.id, camera.client_id, camera_spec(camera), source))

    async def delete(self, camera_id: str) -> bool:
        return await self.store.delete(camera_id)

    async def decisions(self, client_id: int, camera_id: str, limit: int) -> list[AccessRecord]:
        return await self.store.decisions(client_id, camera_id, limit)
