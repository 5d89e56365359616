"""The cameras table seen as CameraConfig values, and the door audit trail: what the streaming
layer and the API use (streaming/ may not touch storage directly).

RTSP URLs carry the camera's password, so with `encryption.keys` configured the stored spec holds
only the masked URL (`rtsp://***@host/...`) and the whole URL sealed with the key ring
(AES-256-GCM, the camera id as associated data: a sealed URL copied to another camera's row does
not open). Rows written before keys were configured are sealed at the next start (`seal_all`).
A URL that does not open (its key removed) leaves the camera without a URL: it is not started,
and the error is logged.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from doors.camera_config import CameraConfig, mask_url
from storage.camera_store import AccessRecord, CameraRecord, CameraStore
from storage.crypto import EmbeddingCipher, EmbeddingCryptoError

log = logging.getLogger(__name__)

_FIELDS = {f.name for f in dataclasses.fields(CameraConfig)}
SEALED = "url_sealed"  # spec key of the sealed URL (base64)


def _aad(camera_id: str) -> bytes:
    return b"facestream-camera-url:" + camera_id.encode()


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


def sealed_spec(camera: CameraConfig, cipher: EmbeddingCipher | None) -> dict[str, Any]:
    """What is stored: camera_spec with the URL sealed when keys are configured."""
    spec = camera_spec(camera)
    if cipher is not None and cipher.enabled and camera.url:
        spec[SEALED] = base64.b64encode(cipher.seal_bytes(camera.url.encode(), _aad(camera.id))).decode()
        spec["url"] = mask_url(camera.url, camera.url)
    return spec


def _url(record: CameraRecord, cipher: EmbeddingCipher | None) -> str:
    sealed = record.spec.get(SEALED)
    if not sealed:
        return str(record.spec.get("url") or "")
    try:
        if cipher is None:
            raise EmbeddingCryptoError("no key ring")
        return cipher.open_bytes(base64.b64decode(sealed), _aad(record.id)).decode()
    except (EmbeddingCryptoError, ValueError) as exc:
        log.error("camera %s: its sealed RTSP URL does not open (%s); the camera is not started", record.id, exc)
        return ""


def _entry(record: CameraRecord, cipher: EmbeddingCipher | None = None) -> CameraEntry:
    spec = {k: v for k, v in record.spec.items() if k in _FIELDS}
    spec["url"] = _url(record, cipher)
    for key in ("allowed_users", "allowed_groups", "schedule"):
        spec[key] = tuple(spec.get(key) or ())
    camera = CameraConfig(**{**spec, "id": record.id, "client_id": record.client_id})
    return CameraEntry(camera, record.source, record.created_at, record.updated_at)


class CameraDirectory:
    def __init__(self, store: CameraStore, cipher: EmbeddingCipher | None = None) -> None:
        self.store = store
        self.cipher = cipher

    async def all(self) -> list[CameraEntry]:
        return [_entry(r, self.cipher) for r in await self.store.all()]

    async def of_client(self, client_id: int) -> list[CameraEntry]:
        return [_entry(r, self.cipher) for r in await self.store.of_client(client_id)]

    async def get(self, camera_id: str) -> CameraEntry | None:
        record = await self.store.get(camera_id)
        return _entry(record, self.cipher) if record else None

    async def put(self, camera: CameraConfig, source: str) -> CameraEntry:
        spec = sealed_spec(camera, self.cipher)
        return _entry(await self.store.put(camera.id, camera.client_id, spec, source), self.cipher)

    async def seal_all(self) -> int:
        """Seal the URLs still stored in plaintext (written before keys were configured)."""
        if self.cipher is None or not self.cipher.enabled:
            return 0
        plain = [r for r in await self.store.all() if SEALED not in r.spec and r.spec.get("url")]
        for record in plain:
            await self.put(_entry(record, self.cipher).camera, record.source)
        return len(plain)

    async def delete(self, camera_id: str) -> bool:
        return await self.store.delete(camera_id)

    async def decisions(self, client_id: int, camera_id: str, limit: int) -> list[AccessRecord]:
        return await self.store.decisions(client_id, camera_id, limit)
