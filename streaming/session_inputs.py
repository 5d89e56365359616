"""What a stream session is made from: its parameters, the shared services it uses, its ICE
configuration and the errors signaling can raise (kept apart so callers need not import the
session machinery)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aiortc import RTCIceServer

from engine.face_engine import FaceEngine
from engine.liveness import LivenessSettings
from storage.galleries import GalleryService
from storage.sql_store import SqlStore
from streaming.settings import StreamingSettings

# Stream sessions match in the face API's default namespace: tenant 0 of the client.
TENANT_ID = 0


class SessionStateError(Exception):
    """The request does not fit the session's state (closed, already connected...)."""


class InvalidSignal(ValueError):
    """Malformed SDP or ICE candidate."""


@dataclass(frozen=True)
class SessionParams:
    mode: str  # verification | identification | enrollment
    user_id: str | None
    name: str | None
    require_liveness: bool
    challenges: tuple[str, ...]
    timeout_s: float


@dataclass(frozen=True)
class SessionServices:
    engine: FaceEngine
    executor: ThreadPoolExecutor
    store: SqlStore
    galleries: GalleryService
    settings: StreamingSettings
    liveness: LivenessSettings
    threshold: float
    top_k: int


def ice_servers(settings: StreamingSettings) -> list[RTCIceServer]:
    return [
        RTCIceServer(urls=url, username=settings.turn_username or None, credential=settings.turn_credential or None)
        if url.startswith("turn")
        else RTCIceServer(urls=url)
        for url in settings.ice_servers
    ]
