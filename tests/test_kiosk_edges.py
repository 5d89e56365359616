"""The kiosk around its edges, in Chromium: a photo held to the camera ends with the liveness
reason and no name; a person swap leaves no box of the first; a server restart mid-session says
"connection lost" and the next Start works again (the page signs itself back in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import cv2
import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.keys import STORE
from engine.face_engine import FaceEngine
from tests.browser_support import DESKTOP, PHONE, PageWatch, chromium, shot, sign_in
from testkit.data import DATA
from testkit.media import STILL, letterbox, still_image, video_frames, write_y4m


async def _enroll_from_still(client: TestClient, auth: dict[str, str], external_id: str, name: str,
                             photo: Path = STILL) -> dict[str, Any]:
    """Enroll a person from one photo (default: the blink video's still frame) over the REST API."""
    resp = await client.post("/api/clients/users/", json={"external_id": external_id, "name": name}, headers=auth)
    assert resp.status == 201, await resp.text()
    user = await resp.json()
    form = aiohttp.FormData()
    form.add_field("user_id", user["id"])
    form.add_field("image", photo.read_bytes(), filename=photo.name, content_type="image/jpeg")
    resp = await client.post("/api/auth/enrollment/direct/", data=form, headers=auth)
    assert resp.status == 201, await resp.text()
    return user


async def _start(page, mode: str, user_id: str = "") -> None:  # type: ignore[no-untyped-def]
    await page.check(f"input[name=mode][value={mode}]")
    if user_id:
        await page.fill("input[name=user_id]", user_id)
    await page.click("#start")
    await page.wait_for_selector("#live:not([hidden])", timeout=20_000)


@pytest.fixture(scope="module")
def photo_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "photo.y4m"
    frame = letterbox(still_image())
    assert write_y4m(str(path), (frame,) * 30, fps=15) == 30
    return path


@pytest.fixture(scope="module")
def swap_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of the live person, then 4 s of another person's portrait in the same place."""
    path = tmp_path_factory.mktemp("camera") / "swap.y4m"
    live = [letterbox(f) for _, f in video_frames(fps=15.0, seconds=4.0)][:60]
    other = letterbox(cv2.imread(str(DATA / "faces" / "angelina_jolie" / "img5.jpg")))
    assert write_y4m(str(path), (*live, *([other] * 60)), fps=15) == 120
    return path


async def test_a_photo_ends_with_the_liveness_reason_and_no_name(
    aiohttp_client: Any, engine: FaceEngine, make_config: Any, photo_camera: Path
) -> None:
    client = await aiohttp_client(create_app(make_config(**{"pages.kiosk_session_timeout_s": 6.0}), engine=engine))
    made = await client.app[STORE].create_client("kiosk")
    auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    await _enroll_from_still(client, auth, "EMP042", "Alex Photo")
    async with chromium(photo_camera) as browser:
        page = await browser.new_page(viewport=DESKTOP)
        watch = PageWatch(page)
        await page.goto(str(client.make_url("/")))
        await sign_in(page, made.client.api_key, made.api_secret)
        await page.wait_for_selector("#setup:not([hidden])")
        for mode, user_id in (("verification", "EMP042"), ("identification", "")):
            await _start(page, mode, user_id)
            # The server's challenge is drawn large on the video, with a countdown.
            await page.wait_for_selector("#prompt:not([hidden])", timeout=30_000)
            assert await page.text_content("#prompt-text") == "Please blink"
            countdown = await page.text_content("#prompt-countdown")
            assert countdown and countdown.endswith(" s") and 0 <= int(countdown[:-2]) <= 10
            await shot(page, f"kiosk_photo_prompt_{mode}_1280")
            await page.wait_for_selector("#done:not([hidden])", timeout=40_000)
            assert await page.text_content("#done-title") == "Not live"
            assert await page.text_content("#done-detail") == "Please use your real face, not a photo or a screen."
            body = await page.text_content("body")
            assert "Alex" not in body and "EMP042" not in body  # a failure never names the person it resembled
            await shot(page, f"kiosk_photo_refused_{mode}_1280")
            await page.click("#next")
            await page.wait_for_selector("#setup:not([hidden])")
        # Claiming to be someone else: the answer names only the person claimed.
        angelina = DATA / "faces" / "angelina_jolie" / "img5.jpg"
        await _enroll_from_still(client, auth, "EMP043", "Angelina Test", angelina)
        await _start(page, "verification", "EMP043")
        await page.wait_for_selector("#done:not([hidden])", timeout=40_000)
        assert await page.text_content("#done-title") == "Not Angelina Test"
        assert await page.text_content("#done-detail") == "The face does not match this person."
        assert "Alex" not in await page.text_content("body")
        await shot(page, "kiosk_not_claimed_person_1280")
        assert watch.errors() == [] and watch.failed == []


SWAP_PROBE = """() => {
  // Each animation frame: is the local camera showing the second person (her portrait fills the
  // columns left of the first video's letterbox), and which track boxes the overlay holds.
  const k = window.facestreamKiosk, video = document.getElementById('video');
  const c = document.createElement('canvas'); c.width = 640; c.height = 480;
  const ctx = c.getContext('2d', { willReadFrequently: true });
  window.swapLog = []; window.firstTracks = new Set();
  const step = () => {
    if (video.videoWidth) {
      ctx.drawImage(video, 0, 0, 640, 480);
      const d = ctx.getImageData(168, 100, 12, 280).data;
      let sum = 0; for (let i = 0; i < d.length; i += 4) sum += d[i] + d[i + 1] + d[i + 2];
      const second = sum / (d.length / 4) > 60;
      for (const [tid, name] of k.names) if (name === 'Alex Swap') window.firstTracks.add(tid);
      window.swapLog.push({ t: performance.now(), second, boxes: k.faces.map((f) => f.track_id) });
    }
    if (!window.stopProbe) requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}"""


async def test_a_person_swap_leaves_no_box_of_the_first_after_a_second(
    aiohttp_client: Any, engine: FaceEngine, make_config: Any, swap_camera: Path
) -> None:
    client = await aiohttp_client(create_app(make_config(), engine=engine))
    made = await client.app[STORE].create_client("kiosk")
    auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    await _enroll_from_still(client, auth, "EMP007", "Alex Swap")
    async with chromium(swap_camera) as browser:
        page = await browser.new_page(viewport=DESKTOP)
        # A continuous display (`?continuous=1`): "Recognise me" would otherwise end at its first answer.
        await page.goto(str(client.make_url("/?continuous=1")))
        await sign_in(page, made.client.api_key, made.api_secret)
        await page.wait_for_selector("#setup:not([hidden])")
        await _start(page, "identification")
        await page.evaluate(SWAP_PROBE)
        await page.wait_for_function(
            "() => document.getElementById('result-title').textContent === 'Recognised: Alex Swap'", timeout=60_000)
        # Wait for a cut after the recognition, then two more seconds of the second person.
        await page.wait_for_function(
            """() => {
              const log = window.swapLog, first = window.firstTracks;
              const seen = log.findIndex((r) => r.boxes.some((b) => first.has(b)));
              if (seen < 0) return false;
              const cut = log.findIndex((r, i) => i > seen && r.second);
              return cut > 0 && log[log.length - 1].t - log[cut].t > 2000 && log[log.length - 1].second;
            }""", timeout=60_000, polling=200)
        await shot(page, "kiosk_after_swap_1280")
        log = await page.evaluate("() => { window.stopProbe = true; return window.swapLog; }")
        first = set(await page.evaluate("() => [...window.firstTracks]"))
        seen = next(i for i, r in enumerate(log) if first & set(r["boxes"]))
        cut = next(i for i in range(seen, len(log)) if log[i]["second"])
        later = [r for r in log[cut:] if r["second"] and r["t"] - log[cut]["t"] > 1000]
        run = []  # the contiguous stretch of the second person after the cut
        for r in log[cut:]:
            if not r["second"]:
                break
            run.append(r)
        later = [r for r in run if r["t"] - log[cut]["t"] > 1000]
        assert later, "no frames of the second person a second after the cut"
        stale = [r for r in later if first & set(r["boxes"])]
        assert stale == [], f"the first person's box was drawn {stale[0]['t'] - log[cut]['t']:.0f} ms after the cut"
        linger = max((r["t"] - log[cut]["t"] for r in run if first & set(r["boxes"])), default=0.0)
        print(f"first person's box gone {linger:.0f} ms after the cut")
        # Her verdict (unknown) may be on screen; the first person's is not.
        assert await page.text_content("#result-title") != "Recognised: Alex Swap" or await page.is_hidden("#result")


async def test_a_server_restart_mid_session_says_connection_lost_and_start_works_again(
    aiohttp_client: Any, engine: FaceEngine, make_config: Any, tmp_path: Path
) -> None:
    config = make_config(**{"auth.access_token_ttl_s": 4})
    camera = tmp_path / "live.y4m"
    write_y4m(str(camera), tuple(letterbox(f) for _, f in video_frames(fps=15.0, seconds=6.0)), fps=15)
    client = await aiohttp_client(create_app(config, engine=engine))
    made = await client.app[STORE].create_client("kiosk")
    auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    await _enroll_from_still(client, auth, "EMP009", "Alex Restart")
    port = client.server.port
    async with chromium(camera) as browser:
        page = await browser.new_page(viewport=PHONE)
        # A continuous display (`?continuous=1`): "Recognise me" would otherwise end at its first answer.
        await page.goto(str(client.make_url("/?continuous=1")))
        await sign_in(page, made.client.api_key, made.api_secret)
        await page.wait_for_selector("#setup:not([hidden])")
        await _start(page, "identification")
        await page.wait_for_function("() => window.facestreamEvents.includes('faces')", timeout=60_000)
        # 4 s access tokens are renewed before they expire, while the session runs.
        await page.wait_for_function("() => window.facestreamAuthLog.includes('refreshed')", timeout=10_000)

        await client.server.close()  # the server goes away mid-session
        await page.wait_for_selector("#done:not([hidden])", timeout=30_000)
        assert await page.text_content("#done-title") == "Connection lost"
        assert await page.text_content("#conn") == "connection lost"
        assert await page.evaluate("() => document.getElementById('video').srcObject") is None
        await shot(page, "kiosk_connection_lost_390", full_page=True)

        # Back up (a new process: a new random JWT key, so the old tokens are refused).
        server = TestServer(create_app(config, engine=engine), port=port)
        await server.start_server()
        try:
            await page.click("#next")
            await page.wait_for_selector("#setup:not([hidden])")
            await _start(page, "identification")
            await page.wait_for_function(
                "() => document.getElementById('result-title').textContent === 'Recognised: Alex Restart'",
                timeout=60_000)
            assert await page.text_content("#conn") == "live"
            assert (await page.evaluate("() => window.facestreamAuthLog")).count("signed-in") == 2
            await page.click("#finish")
        finally:
            await server.close()
