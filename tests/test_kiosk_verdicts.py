"""The kiosk's words for liveness failures, in Chromium, on the shipped default policy (one blink
plus one of turn_left / turn_right / nod / smile: tests/conftest.py's blink-only CLIP_CHALLENGES
is overridden back). A photo held to the camera follows no prompt, so its sequence fails: the page
says "Not live: please follow the prompts" (not a bare "Not recognised"), a failed enrollment says
that nothing was saved, and nobody is named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.keys import STORE
from engine.liveness_settings import LivenessSettings
from engine.face_engine import FaceEngine
from tests.browser_support import DESKTOP, chromium, shot, sign_in
from tests.test_kiosk_edges import _enroll_from_still
from tests.test_kiosk_page import _start
from testkit.media import letterbox, still_image, write_y4m

DEFAULT = LivenessSettings()
# The shipped pool and count; shorter prompt windows and fewer misses so the sequence fails in
# about 4 s instead of 15 s (the words are what is tested, not the timings).
POLICY = {"liveness.challenge_pool": list(DEFAULT.challenge_pool),
          "liveness.random_challenges": DEFAULT.random_challenges,
          "liveness.challenge_timeout_s": 1.5, "liveness.max_challenge_failures": 2,
          "pages.kiosk_session_timeout_s": 30.0}


@pytest.fixture(scope="module")
def photo_cam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "photo.y4m"
    assert write_y4m(str(path), (letterbox(still_image()),) * 30, fps=15) == 30
    return path


async def test_failed_prompts_read_not_live_and_failed_enrollment_saves_nothing(
    aiohttp_client: Any, engine: FaceEngine, make_config: Any, photo_cam: Path
) -> None:
    client = await aiohttp_client(create_app(make_config(**POLICY), engine=engine))
    made = await client.app[STORE].create_client("kiosk")
    auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    await _enroll_from_still(client, auth, "EMP051", "Alex Prompt")
    async with chromium(photo_cam) as browser:
        page = await browser.new_page(viewport=DESKTOP)
        await page.goto(str(client.make_url("/")))
        await sign_in(page, made.client.api_key, made.api_secret)
        await page.wait_for_selector("#setup:not([hidden])")

        # 1:1 check: the prompt is on the guide line while it runs, then the verdict in words.
        await _start(page, "verification", "EMP051")
        await page.wait_for_selector("#prompt:not([hidden])", timeout=30_000)
        prompt = await page.text_content("#prompt-text")
        assert prompt and await page.text_content("#guide") == prompt
        await shot(page, "kiosk_prompt_on_guide_1280")
        await page.wait_for_selector("#done:not([hidden])", timeout=40_000)
        assert await page.text_content("#done-title") == "Not live: please follow the prompts"
        assert "follow each prompt" in (await page.text_content("#done-detail") or "")
        await shot(page, "kiosk_challenge_failed_verification_1280")
        await page.click("#next")

        # "Recognise me" ends at its answer like "Check my ID" (no Done press), naming nobody.
        await page.wait_for_selector("#setup:not([hidden])")
        await _start(page, "identification")
        await page.wait_for_selector("#done:not([hidden])", timeout=40_000)
        assert await page.text_content("#done-title") == "Not live: please follow the prompts"
        assert "Alex" not in (await page.text_content("body") or "")
        await page.click("#next")

        # Enrollment of a new person from the photo: fails on the prompts, and says nothing was saved.
        await page.wait_for_selector("#setup:not([hidden])")
        await _start(page, "enrollment", "EMP052", "Sam Photo")
        await page.wait_for_selector("#done:not([hidden])", timeout=40_000)
        assert await page.text_content("#done-title") == "Not live: please follow the prompts"
        detail = await page.text_content("#done-detail") or ""
        assert detail.startswith("Nothing was saved."), detail
        await shot(page, "kiosk_enrollment_not_live_1280")
        resp = await client.get("/api/clients/users/", headers=auth)
        users = {u["external_id"]: u for u in (await resp.json())["results"]}
        assert "EMP052" not in users or users["EMP052"]["has_enrollment"] is False
