"""One small driver per transport for the cross-path tests (issue 8: the same person, the same
answer, on every path). Each drives an enrollment or a verification the way an integrator
would, stops at the first decision, and returns what the server said in one shape (`Outcome`),
so a test can compare paths without knowing each transport's envelope.

Transports: REST sessions (`/api/auth/...`), WebRTC stream sessions (`/api/streaming/...` + a
real aiortc peer), WebSocket `process_frame` (`/ws/recognition/`) and the root face API
(`/enroll`, `/verify`, `/identify`; tenant 0 is the platform users' namespace).
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from api.keys import STORE
from testkit.helpers import form
from testkit.rtc_client import FrameTrack, RtcPeer, video_source
from tests.session_helpers import post_frame, video_jpegs

AUTH_FRAME = "/api/auth/authentication/process-frame/"
TERMINAL = ("completed", "failed", "closed")


@dataclass
class Outcome:
    """A verification as one path answered it.

    `success` is the path's own yes/no (REST `success`, event `status == "success"`, root
    `verified`); `refused` is the error code when the path refused before deciding (HTTP error
    body or WebSocket `error` event); `final_status` is the session's last `session_status`
    (streamed paths) or `session_status` (REST); `raw` is everything the path sent back, for the
    leak checks and for failure messages.
    """

    path: str
    success: bool = False
    status: str | None = None
    reason: str | None = None
    user_id: str | None = None
    name: str | None = None
    matches: list[dict[str, Any]] = field(default_factory=list)
    liveness_verified: bool | None = None
    refused: str | None = None
    http_status: int | None = None
    final_status: str | None = None
    session_id: str | None = None
    raw: Any = None

    @property
    def decided(self) -> bool:
        return self.refused is None and self.status is not None

    def text(self) -> str:
        """Everything the path sent back, as one string (for "this name appears nowhere")."""
        return json.dumps(self.raw, default=str)

    def __str__(self) -> str:
        head = (f"{self.path}: success={self.success} status={self.status} reason={self.reason} "
                f"user_id={self.user_id} name={self.name} refused={self.refused} http={self.http_status} "
                f"final={self.final_status} matches={self.matches}")
        if isinstance(self.raw, list):  # event streams: the tail of the event types
            return head + f" events={[e.get('type') for e in self.raw][-15:]}"
        return head + f" raw={self.text()[:600]}"


# -- clients and users ------------------------------------------------------------------------


async def new_api_client(http: TestClient, name: str) -> dict[str, str]:
    made = await http.app[STORE].create_client(name)
    return {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}


def ws_credentials(headers: dict[str, str]) -> dict[str, str]:
    key, secret = headers["Authorization"].split(" ", 1)[1].split(":", 1)
    return {"api_key": key, "api_secret": secret}


def error_code(body: Any) -> str | None:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("code"))
        if "detail" in body:
            return "detail"
    return None


async def json_of(resp: Any) -> Any:
    text = await resp.text()
    try:
        return json.loads(text)
    except ValueError:
        return {"text": text}


def data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


# -- REST sessions ----------------------------------------------------------------------------


async def rest_verify(http: TestClient, headers: dict[str, str], user_ref: str, *, require_liveness: bool = True,
                      max_seconds: float = 8.0) -> Outcome:
    """An authentication session in verification mode, fed the live video until it decides."""
    resp = await http.post("/api/auth/authentication/create/", headers=headers, json={
        "user_id": user_ref, "mode": "verification", "session_type": "webcam", "require_liveness": require_liveness})
    created = await json_of(resp)
    if resp.status != 201:
        return Outcome("rest", refused=error_code(created), http_status=resp.status, raw=created)
    out: dict[str, Any] = {}
    for t, data in video_jpegs():
        if t > max_seconds:
            break
        status, out = await post_frame(http, created["session_token"], data, t, path=AUTH_FRAME)
        if status != 200:
            return Outcome("rest", refused=error_code(out), http_status=status, raw=out,
                           session_id=created["session_id"])
        if out["status"] != "processing":
            break
    result = out.get("result") or {}
    return Outcome(
        "rest", success=out.get("success") is True, status=result.get("status"), reason=result.get("reason"),
        user_id=result.get("user_id"), name=result.get("user_name"), matches=list(result.get("matches") or []),
        liveness_verified=result.get("liveness_verified"), http_status=200, final_status=out.get("session_status"),
        session_id=created["session_id"], raw=out,
    )


# -- WebRTC stream sessions ---------------------------------------------------------------------


async def create_stream(http: TestClient, headers: dict[str, str], **body: Any) -> tuple[int, Any]:
    resp = await http.post("/api/streaming/sessions/", json={"session_type": "webrtc", **body}, headers=headers)
    return resp.status, await json_of(resp)


def _decided_or_over(events: Any) -> bool:
    return any(
        e["type"] in ("recognition_result", "error")
        or (e["type"] == "session_status" and e["payload"].get("status") in TERMINAL)
        for e in events
    )


def _terminal(events: Any) -> bool:
    return any(e["type"] == "session_status" and e["payload"].get("status") in TERMINAL for e in events)


def _final_status(events: list[dict[str, Any]]) -> str | None:
    statuses = [e["payload"].get("status") for e in events if e["type"] == "session_status"]
    return statuses[-1] if statuses else None


def _event_outcome(path: str, events: list[dict[str, Any]], session_id: str | None) -> Outcome:
    errors = [e["payload"] for e in events if e["type"] == "error"]
    results = [e["payload"] for e in events if e["type"] == "recognition_result"]
    final = _final_status(events)
    if not results:
        return Outcome(path, refused=errors[0].get("code") if errors else None, final_status=final,
                       session_id=session_id, raw=events)
    first = results[0]
    return Outcome(
        path, success=first.get("status") == "success", status=first.get("status"), reason=first.get("reason"),
        user_id=first.get("user_id"), name=first.get("name"), matches=list(first.get("matches") or []),
        liveness_verified=first.get("liveness_verified"), final_status=final, session_id=session_id, raw=events,
    )


async def rtc_verify(http: TestClient, headers: dict[str, str], user_ref: str, *, require_liveness: bool = True,
                     wait_s: float = 30.0) -> Outcome:
    """A WebRTC verification session streaming the live video until the first recognition_result."""
    status, created = await create_stream(http, headers, mode="verification", user_id=user_ref,
                                          require_liveness=require_liveness, timeout=30)
    if status != 201:
        return Outcome("webrtc", refused=error_code(created), http_status=status, raw=created)
    peer = RtcPeer(http, headers)
    peer.session = created
    await peer.connect(FrameTrack(video_source()))
    try:
        await peer.wait_for(_decided_or_over, wait_s)
        if any(e["type"] == "recognition_result" for e in peer.events):
            # the session_status that closes the decision: a ceiling, not a wait (returns when it comes)
            await peer.wait_for(_terminal, 20.0)
    finally:
        await peer.close()
    outcome = _event_outcome("webrtc", peer.events, created["session_id"])
    outcome.http_status = status
    return outcome


async def rtc_enroll(http: TestClient, headers: dict[str, str], user_ref: str, *, wait_s: float = 40.0,
                     **extra: Any) -> tuple[int, Any, list[dict[str, Any]]]:
    """A WebRTC enrollment session streaming the live video until it completes or fails;
    returns (create status, create body, events)."""
    status, created = await create_stream(http, headers, mode="enrollment", user_id=user_ref,
                                          require_liveness=True, timeout=40, **extra)
    if status != 201:
        return status, created, []
    peer = RtcPeer(http, headers)
    peer.session = created
    await peer.connect(FrameTrack(video_source()))
    try:
        await peer.wait_for(lambda evs: _terminal(evs) or any(e["type"] == "error" for e in evs), wait_s)
        await peer.wait_for(_terminal, 20.0)
    finally:
        await peer.close()
    return status, created, peer.events


# -- WebSocket process_frame ------------------------------------------------------------------


async def ws_receive(ws: Any, timeout: float) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == WSMsgType.TEXT, msg
    return dict(msg.json())


async def ws_open(http: TestClient, headers: dict[str, str]) -> Any:
    ws = await http.ws_connect("/ws/recognition/")
    await ws.send_json({"type": "authenticate", **ws_credentials(headers)})
    reply = await ws_receive(ws, 10.0)
    assert reply["type"] == "authenticated", reply
    return ws


async def ws_verify(http: TestClient, headers: dict[str, str], user_ref: str, *, require_liveness: bool = True,
                    max_seconds: float = 8.0, ws: Any = None) -> Outcome:
    """`process_frame` with the live video's frames, one at a time: the next frame goes after the
    previous frame's `faces` event (no drops), stamped with its media time so liveness judges real
    blink durations; stops at the first recognition_result, an error, or a terminal status."""
    own = ws is None
    ws = ws if ws is not None else await ws_open(http, headers)
    events: list[dict[str, Any]] = []
    options = {"mode": "verification", "user_id": user_ref, "require_liveness": require_liveness}
    try:
        for t, data in video_jpegs():
            if t > max_seconds or _decided_or_over(events):
                break
            await ws.send_json({"type": "process_frame", "frame": data_url(data), "timestamp": t, "options": options})
            while True:
                try:
                    event = await ws_receive(ws, 15.0)
                except TimeoutError:
                    events.append({"type": "timeout", "payload": {"t": t}})
                    break
                events.append(event)
                if event["type"] == "faces" or _decided_or_over([event]):
                    break
        if any(e["type"] == "recognition_result" for e in events) and not _terminal(events):
            loop = asyncio.get_running_loop()
            until = loop.time() + 3.0
            while not _terminal(events) and (left := until - loop.time()) > 0:
                try:
                    events.append(await ws_receive(ws, left))
                except TimeoutError:
                    break
    finally:
        if own:
            await ws.close()
    sessions = [e.get("session_id") for e in events if e["type"] == "session_status"]
    return _event_outcome("websocket", events, sessions[0] if sessions else None)


# -- root face API ----------------------------------------------------------------------------


async def root_enroll(http: TestClient, headers: dict[str, str], tenant_id: int, user_id: str, name: str,
                      image: bytes) -> tuple[int, Any]:
    resp = await http.post("/enroll", data=form(image, tenant_id=tenant_id, user_id=user_id, name=name), headers=headers)
    return resp.status, await json_of(resp)


async def root_verify(http: TestClient, headers: dict[str, str], user_id: str, image: bytes,
                      tenant_id: int = 0) -> Outcome:
    resp = await http.post("/verify", data=form(image, tenant_id=tenant_id, user_id=user_id), headers=headers)
    body = await json_of(resp)
    if resp.status != 200:
        return Outcome("root", refused=error_code(body), http_status=resp.status, raw=body)
    return Outcome("root", success=body.get("verified") is True, status="success" if body.get("verified") else "failure",
                   user_id=None if body.get("user_id") is None else str(body.get("user_id")), http_status=200, raw=body)


async def root_identify(http: TestClient, headers: dict[str, str], tenant_id: int, image: bytes) -> tuple[int, Any]:
    resp = await http.post("/identify", data=form(image, tenant_id=tenant_id), headers=headers)
    return resp.status, await json_of(resp)
