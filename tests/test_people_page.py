"""The people page in Chromium, through the public API only: create, enroll from a photo (and
a refused duplicate), list and search, rename, deactivate, export, delete with confirmation."""

from __future__ import annotations

import json
from pathlib import Path

from api.keys import STORE
from tests.browser_support import DESKTOP, PHONE, PageWatch, chromium, shot, sign_in
from tests.conftest import FaceClient
from testkit.data import DATA

ALEX = DATA / "faces" / "alex_lacamoire" / "img1.jpg"
ALEX_2 = DATA / "faces" / "alex_lacamoire" / "alex_lacamoire1.jpg"


async def _add(page, external_id: str, name: str) -> None:  # type: ignore[no-untyped-def]
    await page.click("#add")
    await page.fill("#edit-form input[name=external_id]", external_id)
    await page.fill("#edit-form input[name=name]", name)
    await page.click("#edit-save")
    await page.wait_for_selector(f"tr[data-external-id='{external_id}']")


async def _photos(page, external_id: str, *files: Path) -> None:  # type: ignore[no-untyped-def]
    async with page.expect_file_chooser() as chooser:
        await page.click(f"tr[data-external-id='{external_id}'] button[data-action=photos]")
    await (await chooser.value).set_files([str(f) for f in files])


async def test_people_page_creates_enrolls_lists_deactivates_and_deletes(
    face_client: FaceClient, tmp_path: Path
) -> None:
    client, _ = await face_client()
    made = await client.app[STORE].create_client("admin")
    auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    async with chromium() as browser:
        page = await browser.new_page(viewport=DESKTOP, accept_downloads=True)
        watch = PageWatch(page)
        await page.goto(str(client.make_url("/people")))
        await sign_in(page, made.client.api_key, made.api_secret)
        await page.wait_for_selector("#people:not([hidden])")

        await _add(page, "EMP100", "Alex Lacamoire")
        await _add(page, "EMP200", "Second Person")
        row = page.locator("tr[data-external-id='EMP100']")
        assert await row.locator("td").nth(2).text_content() == "none"

        await _photos(page, "EMP100", ALEX, ALEX_2)
        await page.wait_for_function(
            "() => document.getElementById('status').textContent.includes('2 of 2 photos saved')")
        # sessions.replace_existing (default): each saved photo replaces the previous template.
        await page.wait_for_function(
            "() => document.querySelector(\"tr[data-external-id='EMP100'] td:nth-child(3)\").textContent === '1'")
        assert "now has 1 face enrollment" in await page.text_content("#status")

        # The same face for another person is refused, and the page says who has it.
        await _photos(page, "EMP200", ALEX)
        await page.wait_for_function(
            "() => document.getElementById('people-error').textContent.includes('already enrolled')")
        error = await page.text_content("#people-error")
        assert "img1.jpg: not added: this face is already enrolled to Alex Lacamoire (EMP100)." in error
        await shot(page, "people_duplicate_refused_1280")

        # The page's enrollments are the platform's users.
        listed = await (await client.get("/api/clients/users/", headers=auth)).json()
        users = {u["external_id"]: u for u in listed["results"]}
        assert users["EMP100"]["has_enrollment"] is True and users["EMP100"]["enrollments_count"] == 1
        assert users["EMP200"]["has_enrollment"] is False

        # Search (by ID), rename, deactivate.
        await page.fill("#search", "emp100")
        await page.wait_for_function("() => document.querySelectorAll('#rows tr').length === 1")
        await page.click("tr[data-external-id='EMP100'] button[data-action=rename]")
        await page.fill("#edit-form input[name=name]", "Alex L.")
        await page.click("#edit-save")
        await page.wait_for_function(
            "() => document.querySelector(\"tr[data-external-id='EMP100'] td\").textContent === 'Alex L.'")
        await page.click("tr[data-external-id='EMP100'] button[data-action=deactivate]")
        await page.wait_for_selector("tr[data-external-id='EMP100'] .badge.off")
        assert "deactivated" in await page.text_content("#status")
        user = await (await client.get(f"/api/clients/users/{users['EMP100']['id']}/", headers=auth)).json()
        assert (user["name"], user["is_active"]) == ("Alex L.", False)
        await page.fill("#search", "")
        await page.wait_for_function("() => document.querySelectorAll('#rows tr').length === 2")
        await shot(page, "people_list_1280")
        await page.set_viewport_size(PHONE)
        await shot(page, "people_list_390", full_page=True)
        await page.set_viewport_size(DESKTOP)

        # Export downloads the record with its embeddings.
        async with page.expect_download() as download:
            await page.click("tr[data-external-id='EMP100'] button[data-action=export]")
        path = tmp_path / "export.json"
        await (await download.value).save_as(path)
        exported = json.loads(path.read_text())
        assert exported["user"]["external_id"] == "EMP100" and len(exported["enrollments"]) == 1

        # Delete asks first; Cancel keeps the person, Delete removes them.
        await page.click("tr[data-external-id='EMP100'] button[data-action=delete]")
        assert "cannot be undone" in await page.text_content("#delete-text")
        await shot(page, "people_delete_confirm_1280")
        await page.click("#delete-cancel")
        assert await page.locator("tr[data-external-id='EMP100']").count() == 1
        await page.click("tr[data-external-id='EMP100'] button[data-action=delete]")
        await page.click("#delete-confirm")
        await page.wait_for_selector("tr[data-external-id='EMP100']", state="detached")
        assert "deleted with 1 face enrollment" in await page.text_content("#status")
        resp = await client.get(f"/api/clients/users/{users['EMP100']['id']}/", headers=auth)
        assert resp.status == 404
        # The one console line is the browser logging the refused duplicate's 409 response.
        refused = "error: Failed to load resource: the server responded with a status of 409 (Conflict)"
        assert watch.errors() == [refused]
        assert watch.failed == [] and watch.offsite == []
