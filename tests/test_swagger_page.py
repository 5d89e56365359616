"""Swagger UI 5 (vendored) renders our OpenAPI 3.1 document in Chromium: every tag shows its
operations, Authorize takes the ApiKey scheme, and Try it out gets a 200 from this server."""

from __future__ import annotations

from api.keys import STORE
from tests.browser_support import DESKTOP, PageWatch, chromium, shot
from tests.conftest import FaceClient


async def test_swagger_ui_renders_every_tag_and_try_it_out_works(face_client: FaceClient) -> None:
    client, _ = await face_client()
    made = await client.app[STORE].create_client("swagger")
    document = await (await client.get("/api/schema/")).json()
    assert document["openapi"].startswith("3.1")
    tags = sorted({tag for item in document["paths"].values() for op in item.values() for tag in op["tags"]})
    assert sorted(t["name"] for t in document["tags"]) == tags  # no declared tag without operations
    assert len(tags) >= 5
    async with chromium() as browser:
        page = await browser.new_page(viewport=DESKTOP)
        watch = PageWatch(page)
        await page.goto(str(client.make_url("/api/schema/swagger-ui/")))
        await page.wait_for_selector(".opblock-tag-section", timeout=30_000)
        assert await page.locator(".errors-wrapper").count() == 0
        assert "Unable to render" not in await page.text_content("body")
        counts = await page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.opblock-tag-section')]
            .map((s) => [s.querySelector('.opblock-tag').dataset.tag, s.querySelectorAll('.opblock').length]))""")
        assert sorted(counts) == tags, (sorted(counts), tags)
        assert all(n >= 1 for n in counts.values()), counts
        await shot(page, "swagger_1280")

        # Authorize offers both schemes; the ApiKey one takes "ApiKey key:secret".
        await page.click(".auth-wrapper .authorize")
        modal = page.locator(".modal-ux")
        await modal.wait_for()
        names = await modal.locator(".auth-container h4").all_text_contents()
        assert any("ApiKey" in n for n in names) and any("Bearer" in n for n in names), names
        api_key_box = modal.locator(".auth-container").filter(has=page.locator("h4", has_text="ApiKey (apiKey)"))
        await api_key_box.locator("input").fill(f"ApiKey {made.client.api_key}:{made.api_secret}")
        await api_key_box.locator("button.authorize").click()
        await shot(page, "swagger_authorize_1280")
        await modal.locator("button", has_text="Logout").wait_for(timeout=10_000)  # ApiKey is authorized
        await modal.locator("button.btn-done").first.click()

        # Try it out on GET /api/clients/users/.
        op = page.locator(".opblock-get").filter(has=page.locator("[data-path='/api/clients/users/']")).first
        await op.locator(".opblock-summary").click()
        await op.locator("button.try-out__btn").click()
        await op.locator("button.execute").click()
        status = op.locator(".live-responses-table .response .response-col_status").first
        await status.wait_for(timeout=20_000)
        assert (await status.text_content() or "").strip() == "200"
        body = await op.locator(".live-responses-table .response-col_description pre").first.text_content()
        assert '"results"' in (body or "")
        await shot(page, "swagger_try_it_out_1280", full_page=False)
        assert watch.offsite == [] and watch.failed == []
        assert watch.errors() == [], watch.console
