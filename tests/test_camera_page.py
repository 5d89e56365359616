"""The door cameras page in a real headless Chromium: it lists a camera served by a real RTSP
server, plays it live over WebRTC through the relay and draws the overlay and decision log."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from api.keys import CAMERAS, STORE
from tests.conftest import FaceClient
from testkit.rtsp_server import RtspServer, make_media
from tests.session_helpers import direct_enroll, make_user, still_jpeg
from tests.test_browser import ARGS, CHROMIUM
from tests.test_cameras import FAST_INGEST, add_camera


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("rtsp"))


async def test_cameras_page_shows_live_video_with_overlay(face_client: FaceClient, media: dict[str, Path],
                                                         tmp_path: Path) -> None:
    server = RtspServer(media).start()
    try:
        http, _ = await face_client(**FAST_INGEST)
        made = await http.app[STORE].create_client("browser")
        auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
        await make_user(http, auth, "EMP001", "Door Person")
        status, body = await direct_enroll(http, auth, "EMP001", still_jpeg())
        assert status in (200, 201), body
        await add_camera(http, auth, id="front",
                         name="Front door", url=server.url("door", "cam:pw9x7"), door_id="D1",
                         require_liveness=False)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1100, "height": 1000})
                console: list[str] = []
                page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
                await page.goto(str(http.make_url("/cameras/")))
                await page.fill("input[name=api_key]", made.client.api_key)
                await page.fill("input[name=api_secret]", made.api_secret)
                await page.click("#signin-form button[type=submit]")
                row = page.locator("tr[data-camera=front]")
                await row.locator("td.status-online").wait_for(timeout=20_000)
                assert "pw9x7" not in await page.content()
                await row.locator("button.watch-btn").click()
                await page.wait_for_function(
                    "() => (window.facestreamCameraEvents || []).includes('faces')", timeout=30_000)
                await page.wait_for_function("() => document.getElementById('cam-video').videoWidth > 0",
                                             timeout=30_000)
                painted = await page.wait_for_function(
                    """() => {
                        const c = document.getElementById('cam-overlay');
                        if (!c.width || !c.height) return 0;
                        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                        let n = 0;
                        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                        return n;
                    }""", timeout=20_000)
                assert await painted.json_value() > 200
                # the enrolled person at the door: granted, by name, in the log
                try:
                    await page.wait_for_function(
                        "() => document.querySelectorAll('#decision-log li').length > 0", timeout=60_000)
                except Exception as exc:  # say what the camera did (seen once in a full run: no decision)
                    status = http.app[CAMERAS].runner("front").status()  # type: ignore[union-attr]
                    raise AssertionError(f"no access decision on the page; camera status {status}; "
                                         f"console {console[-10:]}") from exc
                assert "GRANTED · Door Person" in (await page.text_content("#last-decision") or "")
                # Chromium offers H.264: it plays the camera's own packets (passthrough), nothing encoded
                runner = http.app[CAMERAS].runner("front")
                assert runner is not None and runner.status()["viewers_passthrough"] == 1, runner.status()
                frames = "() => document.getElementById('cam-video').getVideoPlaybackQuality().totalVideoFrames"
                before, sent = await page.evaluate(frames), runner.viewers.packets_sent()[0]
                await page.wait_for_timeout(1000)
                assert await page.evaluate(frames) >= before + 10  # playing live, not a frozen first picture
                assert runner.viewers.packets_sent()[0] >= sent + 15 and runner.video.delivered == 0
                shot = tmp_path / "cameras.png"
                await page.screenshot(path=str(shot))
                assert shot.stat().st_size > 20_000
                if out := os.environ.get("FACESTREAM_SCREENSHOTS"):
                    shutil.copy(shot, Path(out) / "cameras_live.png")
                assert not [line for line in console if line.startswith("error")], console
            finally:
                await browser.close()
    finally:
        server.stop()
