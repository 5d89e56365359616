"""The pages with scoped keys in Chromium (issue 25): the kiosk page signs in with a kiosk key,
offers no enrollment unless pages.kiosk_enrollment allows it, and answers an unknown or
deactivated ID with one sentence; the people page refuses a kiosk key with a clear message."""

from __future__ import annotations

from api.keys import STORE
from tests.browser_support import DESKTOP, PageWatch, chromium, sign_in
from tests.conftest import FaceClient


async def test_kiosk_page_signs_in_with_a_kiosk_key_and_names_nobody(face_client: FaceClient) -> None:
    client, admin = await face_client()
    owner = await client.app[STORE].client_by_key(admin["Authorization"].split(" ")[1].split(":")[0])
    assert owner is not None
    made = await client.app[STORE].keys.create(owner.id, "kiosk", "lobby")
    resp = await client.post("/api/clients/users/", json={"external_id": "EMP-OFF", "name": "Off"}, headers=admin)
    assert resp.status == 201
    assert (await client.post("/api/clients/users/EMP-OFF/deactivate/", headers=admin)).status == 200
    async with chromium() as browser:
        page = await browser.new_page(viewport=DESKTOP)
        watch = PageWatch(page)
        await page.goto(str(client.make_url("/")))
        await sign_in(page, made.key.api_key, made.api_secret)
        await page.wait_for_selector("#setup:not([hidden])")
        assert await page.is_hidden("#enroll-option")  # pages.kiosk_enrollment is off by default
        answers = []
        for ref in ("EMP-NOBODY", "EMP-OFF"):
            await page.check("input[name=mode][value=verification]")
            await page.fill("#session-form input[name=user_id]", ref)
            await page.click("#start")
            await page.wait_for_function("() => document.getElementById('session-error').textContent !== ''")
            answers.append(await page.text_content("#session-error"))
            await page.evaluate("() => { document.getElementById('session-error').textContent = ''; }")
        assert answers == ["This ID cannot be checked here."] * 2, answers
        assert not watch.failed, watch.failed


async def test_people_page_refuses_a_kiosk_key_with_a_clear_message(face_client: FaceClient) -> None:
    client, admin = await face_client()
    owner = await client.app[STORE].client_by_key(admin["Authorization"].split(" ")[1].split(":")[0])
    assert owner is not None
    made = await client.app[STORE].keys.create(owner.id, "kiosk", "lobby")
    async with chromium() as browser:
        page = await browser.new_page(viewport=DESKTOP)
        await page.goto(str(client.make_url("/people")))
        await sign_in(page, made.key.api_key, made.api_secret)
        await page.wait_for_function("() => document.getElementById('signin-error').textContent !== ''")
        assert "kiosk key" in (await page.text_content("#signin-error") or "")
        assert "admin key" in (await page.text_content("#signin-error") or "")
        assert await page.is_hidden("#people")
