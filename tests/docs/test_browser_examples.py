"""The browser-only examples (camera, canvas, RTCPeerConnection) in headless Chromium whose fake
camera plays video/blink_live.mp4. Each runs in a page of the server's own origin (the examples'
`fetch('/api/...')` paths are relative), wrapped in an async function; the lines the harness adds
(a `<video>` element for `videoElement`, the signaling the examples leave as a comment) are shown
in HARNESS_* below."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from playwright.async_api import async_playwright

from tests.docs.conftest import FACE, Reader
from tests.docs.seeds import block
from tests.test_browser import ARGS, CHROMIUM

AIG = "api_integration_guide.md"
UG = "user_guide.md"

# `videoElement`: the camera in a <video>, as the examples' pages would have it.
HARNESS_VIDEO = """
const videoElement = document.createElement('video');
videoElement.muted = true; videoElement.playsInline = true;
videoElement.srcObject = await navigator.mediaDevices.getUserMedia({video: true});
await videoElement.play();
while (!videoElement.videoWidth) await new Promise(r => setTimeout(r, 50));
"""
# After the example: offer video + the `events` channel over the socket at `signaling_url`
# (api_integration_guide.md: "Handle offer/answer/ice candidates"), collect events.
HARNESS_SIGNAL = """
const events = [];
const channel = peerConnection.createDataChannel('events');
channel.onmessage = (e) => events.push(JSON.parse(e.data));
if (!peerConnection.getSenders().length) {
  const cam = await navigator.mediaDevices.getUserMedia({video: true});
  cam.getTracks().forEach(track => peerConnection.addTrack(track, cam));
}
const signaling = typeof ws !== 'undefined' ? ws : new WebSocket(session.signaling_url);
const answered = new Promise((resolve, reject) => {
  signaling.addEventListener('message', async (e) => {
    const m = JSON.parse(e.data);
    if (m.type === 'answer') { await peerConnection.setRemoteDescription({type: 'answer', sdp: m.payload.sdp}); resolve(); }
    if (m.type === 'error') reject(new Error(JSON.stringify(m.payload)));
  });
});
if (signaling.readyState !== WebSocket.OPEN) await new Promise(r => signaling.addEventListener('open', r));
await peerConnection.setLocalDescription(await peerConnection.createOffer());
signaling.send(JSON.stringify({type: 'offer', sdp: peerConnection.localDescription.sdp}));
await answered;
const deadline = Date.now() + 40000;
while (!events.some(e => e.type === 'recognition_result') && Date.now() < deadline) await new Promise(r => setTimeout(r, 100));
peerConnection.close();
return {signaling_url: session.signaling_url, types: [...new Set(events.map(e => e.type))],
        results: events.filter(e => e.type === 'recognition_result').map(e => e.payload)};
"""


async def _in_page(reader: Reader, camera: Path, script: str) -> Any:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM,
                                           args=[*ARGS, f"--use-file-for-fake-video-capture={camera}"])
        try:
            page = await browser.new_page()
            await page.goto(reader.base + "/health")
            return await page.evaluate(f"async () => {{\n{script}\n}}")
        finally:
            await browser.close()


def _enroll(reader: Reader, external_id: str) -> None:
    requests.post(f"{reader.base}/api/auth/enrollment/direct/", headers=reader.auth, data={"user_id": external_id},
                  files={"image": FACE.read_bytes()}, timeout=60).raise_for_status()


async def test_aig_webrtc_session_setup_with_signaling_url(reader: Reader, camera_file: Path) -> None:
    """api_integration_guide.md §WebRTC Session Setup: verification of `user123` (an external
    id), `new WebSocket(session.signaling_url)`, offer/answer on it, events on the channel."""
    _enroll(reader, "user123")
    example = reader.subst.apply(block(AIG, "#### WebRTC Session Setup"))
    out = await _in_page(reader, camera_file, example + HARNESS_SIGNAL)
    assert out["signaling_url"].startswith("ws://"), out
    assert {"faces", "liveness_update", "recognition_result"} <= set(out["types"]), out
    assert out["results"][0]["status"] == "success" and out["results"][0]["liveness_verified"] is True, out


async def test_ug_webrtc_setup_identification(reader: Reader, camera_file: Path) -> None:
    """user_guide.md §Setup WebRTC: identification; the example stops after addTrack, the harness
    signals over the documented `signaling_url`."""
    _enroll(reader, "EMP001")
    example = reader.subst.apply(block(UG, "#### Setup WebRTC:"))
    out = await _in_page(reader, camera_file, example + HARNESS_SIGNAL)
    assert "recognition_result" in out["types"], out
    assert out["results"][0]["status"] == "success" and out["results"][0]["name"] == "EMP001", out


async def test_ug_websocket_send_video_frames(reader: Reader, camera_file: Path) -> None:
    """user_guide.md §Connect to WebSocket + §Send Video Frames: canvas JPEG frames at 10 fps over
    the socket (identification, no liveness); the example's handler logs each message."""
    _enroll(reader, "EMP001")
    connect = reader.subst.apply(block(UG, "#### Connect to WebSocket:"))
    send = reader.subst.apply(block(UG, "#### Send Video Frames:"))
    script = (HARNESS_VIDEO + "const logged = []; const log = console.log;"
              " console.log = (...a) => { logged.push(a); log(...a); };\n" + connect + send + """
const deadline = Date.now() + 40000;
while (!logged.some(a => a[1] && a[1].type === 'recognition_result') && Date.now() < deadline)
  await new Promise(r => setTimeout(r, 100));
return logged.filter(a => a[0] === 'Recognition result:').map(a => a[1]);
""")
    messages = await _in_page(reader, camera_file, script)
    types = [m["type"] for m in messages]
    assert types[0] == "authenticated" and "recognition_result" in types, types
    result = next(m for m in messages if m["type"] == "recognition_result")["payload"]
    assert result["status"] == "success" and result["name"] == "EMP001", result


async def test_aig_realtime_frame_processing_with_a_session_token(reader: Reader, camera_file: Path) -> None:
    """api_integration_guide.md §Connection Setup (token) + §Real-time Frame Processing (30 fps
    canvas frames, no options): the token of a streaming session; the frames are processed as that
    session's identification with liveness, and `recognition_result` reaches the handler."""
    _enroll(reader, "user123")
    created = requests.post(f"{reader.base}/api/streaming/sessions/", headers=reader.auth, timeout=60,
                            json={"session_type": "webrtc", "mode": "identification"}).json()
    connect = reader.subst.apply(block(AIG, "### Connection Setup")).replace("YOUR_SESSION_TOKEN", created["session_token"])
    send = reader.subst.apply(block(AIG, "### Real-time Frame Processing"))
    script = (HARNESS_VIDEO + "const handled = [];\n"
              "const handleRecognitionResult = (p) => handled.push(['recognition_result', p]);\n"
              "const updateLivenessIndicator = (p) => handled.push(['liveness_update', p]);\n"
              "const updateSessionStatus = (p) => handled.push(['session_status', p]);\n"
              "const errors = [];\n" + connect + send + """
ws.addEventListener('message', (e) => { const m = JSON.parse(e.data); if (m.type === 'error') errors.push(m.payload); });
const deadline = Date.now() + 40000;
while (!handled.some(h => h[0] === 'recognition_result') && Date.now() < deadline && errors.length === 0)
  await new Promise(r => setTimeout(r, 100));
return {handled, errors};
""")
    out = await _in_page(reader, camera_file, script)
    assert out["errors"] == [], out["errors"]
    kinds = {h[0] for h in out["handled"]}
    assert {"liveness_update", "session_status", "recognition_result"} <= kinds, kinds
    result = next(h[1] for h in out["handled"] if h[0] == "recognition_result")
    assert result["status"] == "success" and result["user_id"], result
