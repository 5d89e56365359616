"""50 streaming sessions opened and closed every way a real client does it, including clients
that vanish without a word: afterwards no session, task, peer connection or thread is left."""

from __future__ import annotations

import asyncio
import gc
import threading

import av
from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection

from api.keys import SESSIONS
from engine.mediapipe_landmarks import shared_pool
from tests.conftest import FaceClient
from tests.rtc_client import FrameTrack, RtcPeer, video_source

# Rate limits are off: this test polls and opens sessions far faster than a basic-tier client may.
SETTINGS = {
    "streaming.idle_timeout_s": 1.5, "streaming.connect_timeout_s": 3.0, "streaming.max_sessions": 60,
    "rate_limits.enabled": False,
}


class VanishingTrack(FrameTrack):
    """Sends frames until told to vanish, then nothing ever again, as a killed tab or a pulled
    cable does. (A fixed handful of frames could all be processed before the events channel was
    open on a loaded machine, so the client never saw a `faces` event: seen in full runs.)"""

    def __init__(self) -> None:
        super().__init__(video_source(seconds=2.0))
        self.vanish = asyncio.Event()

    async def recv(self) -> av.VideoFrame:
        if self.vanish.is_set():
            await asyncio.Event().wait()
        return await super().recv()


async def _first_faces(peer: RtcPeer) -> None:
    assert await peer.wait_for(lambda evs: any(e["type"] == "faces" for e in evs), 20.0)


async def _never_connected(http: TestClient, auth: dict[str, str]) -> tuple[str, str]:
    peer = RtcPeer(http, auth)
    session = await peer.create(mode="identification")
    await peer.pc.close()
    return session["session_id"], "connect_timeout"


async def _closed_over_rest(http: TestClient, auth: dict[str, str]) -> tuple[str, str]:
    peer = RtcPeer(http, auth)
    session = await peer.create(mode="identification")
    await peer.connect(FrameTrack(video_source(seconds=2.0)))
    await _first_faces(peer)
    resp = await http.post(f"/api/streaming/sessions/{session['session_id']}/close/", headers=auth)
    assert resp.status == 200
    await peer.close()
    return session["session_id"], "closed_by_client"


async def _peer_closed(http: TestClient, auth: dict[str, str]) -> tuple[str, str]:
    peer = RtcPeer(http, auth)
    session = await peer.create(mode="identification")
    await peer.connect(FrameTrack(video_source(seconds=2.0)))
    await _first_faces(peer)
    await peer.close()  # DTLS/SCTP goodbye, no REST call
    return session["session_id"], "peer_closed|track_ended"  # whichever the server sees first


async def _vanished(http: TestClient, auth: dict[str, str]) -> tuple[str, str]:
    peer = RtcPeer(http, auth)
    await peer.create(mode="identification")
    track = VanishingTrack()
    await peer.connect(track)
    await _first_faces(peer)
    track.vanish.set()
    # The client keeps its connection up but goes silent; the server must notice on its own.
    await _wait_gone(http, peer.session["session_id"], auth, 15.0)
    await peer.close()
    return peer.session["session_id"], "peer_gone"


async def _wait_gone(http: TestClient, session_id: str, auth: dict[str, str], timeout: float) -> None:
    for _ in range(int(timeout * 10)):
        resp = await http.get(f"/api/streaming/sessions/{session_id}/", headers=auth)
        if (await resp.json())["status"] == "closed":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"session {session_id} never closed")


def _live_peer_connections() -> list[RTCPeerConnection]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, RTCPeerConnection) and o.connectionState != "closed"]


async def test_fifty_sessions_leave_nothing_behind(face_client: FaceClient) -> None:
    # The process-wide MediaPipe pool outlives every app by design (a landmarker costs up to 2.5 s
    # to create) and each landmarker owns a dispatcher thread: have enough idle for five
    # concurrent tracks first, so the threads counted below are the app's own.
    await asyncio.get_running_loop().run_in_executor(None, shared_pool().warm, 6)
    threads_before = {t.ident for t in threading.enumerate()}
    http, auth = await face_client(**SETTINGS)
    tasks_before = {t for t in asyncio.all_tasks() if not t.done()}
    kinds = [_never_connected, _closed_over_rest, _peer_closed, _vanished, _closed_over_rest]
    expected: list[tuple[str, str]] = []
    for _ in range(10):  # 5 at a time, all kinds in every batch: 50 sessions
        expected += await asyncio.gather(*(kind(http, auth) for kind in kinds))
    assert len({sid for sid, _ in expected}) == 50
    registry = http.app[SESSIONS]
    for _ in range(100):
        if len(registry) == 0:
            break
        await asyncio.sleep(0.1)
    assert len(registry) == 0
    # The server recorded why each session ended: every path was really taken.
    for sid, reason in expected:
        snapshot = await (await http.get(f"/api/streaming/sessions/{sid}/", headers=auth)).json()
        assert snapshot["status"] == "closed" and snapshot["close_reason"] in reason.split("|"), (sid, snapshot)
    await asyncio.sleep(0.5)  # aiortc finishes its own teardown callbacks
    leftover = [
        t for t in asyncio.all_tasks()
        if not t.done() and t not in tasks_before and t is not asyncio.current_task()
        # aiohttp's handlers of the test client's pooled keep-alive HTTP connections
        and t.get_coro().__qualname__ != "RequestHandler.start"  # type: ignore[union-attr]
    ]
    assert leftover == [], [t.get_name() for t in leftover]
    assert _live_peer_connections() == []
    await http.close()  # app shutdown: inference pool and database connection threads end
    # The event loop's own default executor (aioice resolves addresses there) belongs to the
    # loop, which pytest closes after the test; everything else must be gone now.
    extra = [
        t.name for t in threading.enumerate() if t.ident not in threads_before and not t.name.startswith("asyncio_")
    ]
    assert extra == [], extra
