"""The kiosk page in Chromium with the live blink video as its camera: enroll, recognise, a
refused duplicate, and no verdict or box of one session left on the next one's screen."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from api.keys import STORE
from tests.browser_support import DESKTOP, PHONE, PageWatch, chromium, shot, sign_in
from tests.conftest import FaceClient
from testkit.data import read
from testkit.media import letterbox, video_frames, write_y4m


@pytest.fixture(scope="module")
def live_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "blink_live.y4m"
    frames = tuple(letterbox(frame) for _, frame in video_frames(fps=15.0, seconds=6.0))
    assert write_y4m(str(path), frames, fps=15) == len(frames) >= 80
    return path


async def _start(page, mode: str, user_id: str = "", name: str = "") -> None:  # type: ignore[no-untyped-def]
    await page.check(f"input[name=mode][value={mode}]")
    if user_id:
        await page.fill("input[name=user_id]", user_id)
    if name:
        await page.fill("input[name=name]", name)
    await page.click("#start")
    await page.wait_for_selector("#live:not([hidden])", timeout=20_000)


async def test_enroll_recognise_and_a_refused_duplicate_on_clean_screens(
    face_client: FaceClient, live_camera: Path
) -> None:
    client, _ = await face_client()
    made = await client.app[STORE].create_client("kiosk")
    auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    async with chromium(live_camera) as browser:
        page = await browser.new_page(viewport=DESKTOP)
        watch = PageWatch(page)
        await page.goto(str(client.make_url("/")))
        assert await page.is_hidden("#liveness-row")  # liveness is the server's decision by default
        await shot(page, "kiosk_signin_1280")
        await sign_in(page, made.client.api_key, made.api_secret)
        await page.wait_for_selector("#setup:not([hidden])")
        assert await page.input_value("input[name=api_secret]") == ""

        # 1. Enroll: a new person typed at the kiosk becomes a real user with an enrollment. The
        # ring never shows 100 % while liveness is still owed.
        await page.evaluate("""() => {
          window.ringLog = [];
          new MutationObserver(() => window.ringLog.push([document.getElementById('ring-text').textContent,
                                                          document.getElementById('liveness').textContent]))
            .observe(document.getElementById('ring-text'), { childList: true, characterData: true, subtree: true });
        }""")
        await _start(page, "enrollment", "EMP001", "Alex Live")
        await page.wait_for_function("() => window.facestreamEvents.includes('enrollment_progress')", timeout=60_000)
        await shot(page, "kiosk_enroll_live_1280")
        await page.wait_for_selector("#done:not([hidden])", timeout=60_000)
        assert await page.text_content("#done-title") == "Enrolled: Alex Live"
        ring = await page.evaluate("() => window.ringLog")
        assert ring and all(pct != "100%" for pct, live in ring if live != "confirmed"), ring
        assert await page.evaluate("() => document.getElementById('video').srcObject") is None  # camera stopped
        await shot(page, "kiosk_enrolled_1280")
        resp = await client.get("/api/clients/users/", headers=auth)
        (user,) = (await resp.json())["results"]
        assert (user["external_id"], user["name"], user["has_enrollment"]) == ("EMP001", "Alex Live", True)

        # 2. Recognise: the same face, by name, with a box labelled with the name.
        await page.click("#next")
        await page.wait_for_selector("#setup:not([hidden])")
        await _start(page, "identification")
        assert await page.is_hidden("#result")  # the enrollment's verdict is not on this screen
        await page.wait_for_function(
            "() => document.getElementById('result-title').textContent === 'Recognised: Alex Live'", timeout=60_000)
        assert await page.get_attribute("#result", "class") == "result success"
        # Screen readers: the verdict, prompts and connection state are live regions, and the
        # video has a text alternative that says who is in view.
        assert await page.get_attribute("#result", "aria-live") == "assertive"
        assert await page.get_attribute("#prompt", "role") == "alert"
        assert await page.get_attribute("#conn", "aria-live") == "polite"
        assert await page.get_attribute("#video", "aria-describedby") == "stage-desc"
        await page.wait_for_function(
            "() => document.getElementById('stage-desc').textContent.includes('One face in view: Alex Live')",
            timeout=10_000)
        await shot(page, "kiosk_recognised_1280")
        await page.set_viewport_size(PHONE)
        await shot(page, "kiosk_recognised_390", full_page=True)
        await page.set_viewport_size(DESKTOP)
        # "Recognise me" ends at its answer, like "Check my ID" (no Finish press needed).
        await page.wait_for_selector("#done:not([hidden])", timeout=20_000)
        assert await page.text_content("#done-title") == "Recognised: Alex Live"

        # 3. The same face under another id is refused, and the screen says so (and nothing older).
        await page.click("#next")
        await _start(page, "enrollment", "EMP002", "Someone Else")
        assert await page.is_hidden("#result")
        assert await page.text_content("#liveness") == "checking…"
        assert await page.text_content("#ring-text") == "0%"
        await page.wait_for_selector("#done:not([hidden])", timeout=60_000)
        assert await page.text_content("#done-title") == "Not enrolled"
        assert await page.text_content("#done-detail") == "This face is already enrolled to another person."
        assert "Alex" not in (await page.text_content("#done"))
        await shot(page, "kiosk_duplicate_refused_1280")
        # A refused enrollment leaves nobody behind (issue 25): no faceless EMP002 on the People page.
        resp = await client.get("/api/clients/users/?search=emp002", headers=auth)
        assert (await resp.json())["results"] == []

        # The kiosk resets itself for the next person, in the default mode (never "Enroll").
        await page.wait_for_selector("#setup:not([hidden])", timeout=15_000)
        assert await page.input_value("input[name=user_id]") == ""
        assert await page.is_checked("input[name=mode][value=identification]")

        # 4. Takeover: "Enroll a person" with the ID of someone enrolled from another face (Pat,
        # Kit Harington's photo) and this live face is refused in plain words; Pat's face stays.
        form = aiohttp.FormData()
        form.add_field("user_id", "EMP-200")
        form.add_field("name", "Pat")
        form.add_field("image", read("faces/kit_harington/john1.jpeg"), filename="pat.jpg", content_type="image/jpeg")
        resp = await client.post("/api/auth/enrollment/direct/", data=form, headers=auth)
        assert resp.status == 201, await resp.text()
        await _start(page, "enrollment", "EMP-200", "Somebody")
        await page.wait_for_selector("#done:not([hidden])", timeout=60_000)
        assert await page.text_content("#done-title") == "Not enrolled"
        assert await page.text_content("#done-detail") == "This ID belongs to someone else's face; ask staff."
        await page.wait_for_selector("#setup:not([hidden])", timeout=15_000)
        assert await page.is_checked("input[name=mode][value=identification]")
        resp = await client.get("/api/clients/users/?search=emp-200", headers=auth)
        (pat,) = (await resp.json())["results"]
        assert (pat["name"], pat["has_enrollment"]) == ("Pat", True)
        await page.click("#signout")
        await page.wait_for_selector("#signin:not([hidden])")
        assert await page.text_content("#conn") == "not signed in"
        assert watch.errors() == [] and watch.failed == [] and watch.offsite == []
