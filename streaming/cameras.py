"""The process's door cameras: one runner per enabled camera, started with the app (from the
cameras table, which config.yaml's `cameras:` list is written into at start) and closed at
shutdown; REST changes replace or stop a camera's runner."""

from __future__ import annotations

import asyncio
import logging

from doors.camera_config import CameraConfig
from doors.directory import CameraDirectory
from sessions.service import SessionServices
from streaming.camera import CameraPublish, CameraRunner
from streaming.camera_settings import IngestSettings

log = logging.getLogger(__name__)


class CameraManager:
    def __init__(self, svc: SessionServices, store: CameraDirectory, ingest: IngestSettings, publish: CameraPublish,
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
            try:
                await self.store.put(cam, "config")
            except Exception:  # e.g. its client_id names no client: the app still starts, without it
                log.exception("config camera %s (client %d) could not be saved; it is not started", cam.id,
                              cam.client_id)

    async def start_all(self) -> None:
        for entry in await self.store.all():
            await self.apply(entry.camera)

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
