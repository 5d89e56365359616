"""The process's door cameras: one runner per enabled camera, started with the app (from the
cameras table, which config.yaml's `cameras:` list is written into at start) and closed at
shutdown; REST changes replace or stop a camera's runner."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from sessions.camera_config import CameraConfig
from sessions.service import SessionServices
from storage.camera_store import CameraRecord, CameraStore
from streaming.camera import CameraPublish, CameraRunner
from streaming.camera_settings import IngestSettings

log = logging.getLogger(__name__)

_FIELDS = {f.name for f in dataclasses.fields(CameraConfig)}


def camera_from_record(record: CameraRecord) -> CameraConfig:
    spec = {k: v for k, v in record.spec.items() if k in _FIELDS}
    for key in ("allowed_users", "allowed_groups", "schedule"):
        spec[key] = tuple(spec.get(key) or ())
    return CameraConfig(**{**spec, "id": record.id, "client_id": record.client_id})


def camera_spec(camera: CameraConfig) -> dict[str, Any]:
    spec = dataclasses.asdict(camera)
    for key in ("id", "client_id"):
        spec.pop(key)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in spec.items()}


class CameraManager:
    def __init__(self, svc: SessionServices, store: CameraStore, ingest: IngestSettings, publish: CameraPublish,
                 status_interval_s: float) -> None:
        self.svc = svc
        self.store = store
        self.ingest = ingest
        self.publish = publish
        self.status_interval_s = status_interval_s
        self._runners: dict[str, CameraRunner] = {}

    async def sync_config(self, cameras: tuple[CameraConfig, ...]) -> None:
        """config.yaml's cameras are written at every start (config wins over REST edits)."""
        for cam in cameras:
            await self.store.put(cam.id, cam.client_id, camera_spec(cam), "config")

    async def start_all(self) -> None:
        for record in await self.store.all():
            await self.apply(camera_from_record(record))

    def runner(self, camera_id: str) -> CameraRunner | None:
        return self._runners.get(camera_id)

    async def apply(self, camera: CameraConfig) -> None:
        """Start a camera, or restart it with new settings (the old runner is closed first)."""
        await self.remove(camera.id)
        if camera.enabled and camera.url:
            runner = CameraRunner(camera, self.svc, self.ingest, self.store, self.publish, self.status_interval_s)
            self._runners[camera.id] = runner
            runner.start()

    async def remove(self, camera_id: str) -> None:
        old = self._runners.pop(camera_id, None)
        if old is not None:
            await old.close()

    async def close_all(self) -> None:
        runners, self._runners = list(self._runners.values()), {}
        await asyncio.gather(*(r.close() for r in runners))
