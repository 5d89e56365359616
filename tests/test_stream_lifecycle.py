"""50 streaming sessions opened and closed every way a real client does it, including clients
that vanish without a word: afterwards no session, task, peer connection or thread is left."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import av
from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection

from api.keys import SESSIONS
from engine.mediapipe_landmarks import shared_pool
from tests.conftest import FaceClient
from testkit.rtc_client import FrameTrack, RtcPeer, video_source
from tests.waiting import wait_until

# Rate limits are off: this test polls and opens sessions far faster than a basic-tier client may.
# The timeouts leave room for a busy machine: at a 3 s connect timeout a peer still doing its ICE
# and DTLS handshake was closed as connect_timeout and never saw a `faces` event; at 1.5 s idle a
# peer closing normally was taken for gone (peer_gone) when its frames stalled that long.
SETTINGS = {
    "streaming.idle_timeout_s": 4.0, "streaming.connect_timeout_s": 15.0, "streaming.max_sessions": 60,
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
    await _wait_gone(http, peer.session["session_id"], auth, 30.0)
    await peer.close()
    return peer.session["session_id"], "peer_gone"


async def _wait_gone(http: TestClient, session_id: str, auth: dict[str, str], timeout: float) -> None:
    async def closed() -> bool:
        resp = await http.get(f"/api/streaming/sessions/{session_id}/", headers=auth)
        return bool((await resp.json())["status"] == "closed")

    await wait_until(closed, timeout, f"session {session_id} never closed")


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
    await wait_until(lambda: len(registry) == 0, 30.0, "stream sessions left in the registry")
    # The server recorded why each session ended: every path was really taken.
    for sid, reason in expected:
        snapshot = await (await http.get(f"/api/streaming/sessions/{sid}/", headers=auth)).json()
        assert snapshot["status"] == "closed" and snapshot["close_reason"] in reason.split("|"), (sid, snapshot)

    def leftover() -> list[str]:
        return [
            repr(t) for t in asyncio.all_tasks()
            if not t.done() and t not in tasks_before and t is not asyncio.current_task()
            # aiohttp's handlers of the test client's pooled keep-alive HTTP connections
            and t.get_coro().__qualname__ != "RequestHandler.start"  # type: ignore[union-attr]
        ]

    # aiortc finishes its own teardown callbacks after the sessions are gone: wait for them (a
    # fixed half second was not always enough on a busy machine); a task that never ends fails.
    try:
        await wait_until(lambda: not leftover(), 30.0, "tasks left behind")
    except AssertionError:
        raise AssertionError(f"tasks left behind: {leftover()}") from None
    assert _live_peer_connections() == []
    await http.close()  # app shutdown: inference pool and database connection threads end
    # The event loop's own default executor (aioice resolves addresses there) belongs to the
    # loop, which pytest closes after the test; everything else must be gone now.
    extra = [
        t.name for t in threading.enumerate() if t.ident not in threads_before and not t.name.startswith("asyncio_")
    ]
    assert extra == [], extra


async def test_events_made_before_the_channel_opens_arrive_when_it_does(face_client: FaceClient) -> None:
    """A client whose `events` channel opens late (SCTP after the media, on a loaded machine)
    still gets what the frames before produced: the newest `faces` and per-track liveness state,
    then the current `session_status`."""
    http, auth = await face_client(**{**SETTINGS, "streaming.connect_timeout_s": 20.0})
    peer = RtcPeer(http, auth)
    session = await peer.create(mode="identification")
    await peer.connect(FrameTrack(video_source(seconds=8.0)), events=False)
    url = f"/api/streaming/sessions/{session['session_id']}/"
    snapshot: dict[str, Any] = {}
    for _ in range(300):
        snapshot = await (await http.get(url, headers=auth)).json()
        if snapshot["processed_frames"] >= 15:
            break
        await asyncio.sleep(0.1)
    assert snapshot["processed_frames"] >= 15 and peer.events == []
    peer.open_events()
    try:
        assert await peer.wait_for(lambda evs: any(e["type"] == "session_status" for e in evs), 20.0)
        first_status = next(i for i, e in enumerate(peer.events) if e["type"] == "session_status")
        held = peer.events[:first_status]
        kinds = [e["type"] for e in held]
        assert kinds.count("faces") == 1 and kinds.count("liveness_update") == 1, kinds
        faces = held[kinds.index("faces")]["payload"]
        assert faces["processed_frames"] >= 15 and len(faces["faces"]) == 1
        live = held[kinds.index("liveness_update")]["payload"]
        assert live["track_id"] == faces["faces"][0]["track_id"]
        status = peer.events[first_status]["payload"]
        assert status["status"] == "active" and status["processed_frames"] >= faces["processed_frames"]
    finally:
        await peer.close()


class LateTrack(FrameTrack):
    """Media that starts flowing well after the offer, as when ICE and DTLS take seconds."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(video_source(seconds=6.0))  # still streaming when the test looks at it
        self._delay = delay_s

    async def recv(self) -> av.VideoFrame:
        if self._delay:
            delay, self._delay = self._delay, 0.0
            await asyncio.sleep(delay)
        return await super().recv()


async def test_the_idle_clock_starts_with_the_first_frame_not_the_offer(face_client: FaceClient) -> None:
    """Before its first frame a session is connecting (connect timeout), not idle: media that
    starts later than idle_timeout_s after the offer is processed, and a peer that never sends
    any ends as connect_timeout."""
    # idle 1.5 s, shorter than the late track's 3 s delay, which starts once connected (seconds here)
    http, auth = await face_client(**{**SETTINGS, "streaming.idle_timeout_s": 1.5, "streaming.connect_timeout_s": 12.0})
    late = RtcPeer(http, auth)
    await late.create(mode="identification")
    await late.connect(LateTrack(delay_s=3.0))
    silent = RtcPeer(http, auth)
    await silent.create(mode="identification")
    await silent.connect(LateTrack(delay_s=60.0))
    try:
        await _first_faces(late)
        snapshot = await (await http.get(f"/api/streaming/sessions/{late.session['session_id']}/", headers=auth)).json()
        assert snapshot["status"] == "active" and snapshot["close_reason"] is None
        await _wait_gone(http, silent.session["session_id"], auth, 30.0)
        snapshot = await (await http.get(f"/api/streaming/sessions/{silent.session['session_id']}/", headers=auth)).json()
        assert snapshot["close_reason"] == "connect_timeout" and snapshot["processed_frames"] == 0
    finally:
        await late.close()
        await silent.close()
