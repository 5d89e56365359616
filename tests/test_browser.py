"""The page in a real headless Chromium whose fake camera plays `video/blink_live.mp4`.

The browser signs in with an API key (exchanged for a JWT), opens a
WebRTC session to the real server and draws the server's `faces` events on the overlay.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from api.keys import SESSIONS, STORE
from tests.conftest import FaceClient
from testkit.media import letterbox, video_frames, write_y4m

CHROMIUM = os.environ.get("FACESTREAM_CHROMIUM", "/usr/bin/chromium")
# DESIGN §8: without the background-networking flags Chromium keeps dialling out of this
# closed network; the fake-media flags turn the y4m file into the camera.
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "blink_live.y4m"
    frames = tuple(letterbox(frame) for _, frame in video_frames(fps=15.0, seconds=6.0))
    assert write_y4m(str(path), frames, fps=15) == len(frames) >= 80
    return path


async def test_page_streams_the_camera_and_draws_the_overlay(
    face_client: FaceClient, camera_file: Path, tmp_path: Path
) -> None:
    client, _ = await face_client()
    made = await client.app[STORE].create_client("browser")
    # A continuous display: "Recognise me" would otherwise end at its first answer (this unknown face).
    base = str(client.make_url("/?continuous=1"))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=[*ARGS, f"--use-file-for-fake-video-capture={camera_file}"]
        )
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 900})
            console: list[str] = []
            page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
            auth_headers: list[str] = []
            page.on("request", lambda r: auth_headers.append(r.headers.get("authorization", ""))
                    if r.url.endswith("/api/streaming/sessions/") else None)
            missing: list[str] = []
            page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
            await page.goto(base)
            await page.fill("input[name=api_key]", made.client.api_key)
            await page.fill("input[name=api_secret]", made.api_secret)
            await page.click("#signin-form button[type=submit]")
            await page.wait_for_selector("#setup:not([hidden])")
            assert await page.input_value("input[name=api_secret]") == ""  # the secret is forgotten
            await page.click("#session-form button[type=submit]")
            await page.wait_for_selector("#live:not([hidden])", timeout=20_000)
            await page.wait_for_function(
                "() => window.facestreamEvents.includes('faces') && window.facestreamEvents.includes('liveness_update')",
                timeout=60_000,
            )
            # The overlay is a transparent canvas; a drawn face box leaves opaque pixels on it.
            painted = await page.wait_for_function(
                """() => {
                    const c = document.getElementById('overlay');
                    if (!c.width || !c.height) return 0;
                    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    let n = 0;
                    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                    return n;
                }""",
                timeout=20_000,
            )
            assert await painted.json_value() > 200
            # The fake camera loops the video, which blinks: the page shows counted blinks.
            await page.wait_for_function("() => Number(document.getElementById('blinks').textContent) >= 1", timeout=45_000)
            assert await page.text_content("#conn") == "live"
            shot = tmp_path / "live.png"
            await page.screenshot(path=str(shot))
            assert shot.stat().st_size > 20_000
            if out := os.environ.get("FACESTREAM_SCREENSHOTS"):
                shutil.copy(shot, Path(out) / "browser_live.png")
            assert missing == []
            # The session was created with the JWT from sign-in, not the key and secret.
            assert auth_headers and all(h.startswith("Bearer ey") for h in auth_headers), auth_headers
            # 404s are checked by URL above; any other console error is a page bug.
            assert not [line for line in console if line.startswith("error") and "status of 404" not in line], console
            (session,) = client.app[SESSIONS].sessions_of(made.client.id)
            assert session.live.counters.processed > 0
            await page.click("#stop")  # the page closes its session on the server
            await page.wait_for_selector("#setup:not([hidden])")
            for _ in range(50):
                if not client.app[SESSIONS].sessions_of(made.client.id):
                    break
                await asyncio.sleep(0.1)
            assert client.app[SESSIONS].sessions_of(made.client.id) == []
        finally:
            await browser.close()
