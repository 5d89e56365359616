"""The pages are served with the settings they need and a strict Content-Security-Policy; the
liveness checkbox is an administrator's setting, not the kiosk user's."""

from __future__ import annotations

import re

from api.keys import CONFIG
from api.page_routes import CSP
from tests.conftest import FaceClient


async def test_pages_render_with_csp_and_the_liveness_setting(face_client: FaceClient) -> None:
    client, _ = await face_client()
    for path in ("/", "/people"):
        resp = await client.get(path)
        assert resp.status == 200, path
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        html = await resp.text()
        assert "http://" not in html and "https://" not in html.replace("<strong>https://</strong>", "")
    kiosk = await (await client.get("/")).text()
    assert 'data-allow-liveness-toggle="false"' in kiosk and 'data-session-timeout-s="45.0"' in kiosk
    assert f'data-challenge-timeout-s="{client.app[CONFIG].liveness.challenge_timeout_s}"' in kiosk
    sdk = await client.get("/static/sdk/facestream.js")
    assert sdk.status == 200 and "javascript" in sdk.headers["Content-Type"]
    assert "export class Facestream" in await sdk.text()

    client2, _ = await face_client(**{"pages.allow_liveness_toggle": True, "pages.kiosk_reset_s": 3.0})
    kiosk2 = await (await client2.get("/")).text()
    assert 'data-allow-liveness-toggle="true"' in kiosk2 and 'data-reset-s="3.0"' in kiosk2


async def test_every_page_shares_one_frame_and_one_set_of_headers(face_client: FaceClient) -> None:
    """Kiosk, people and cameras extend web/templates/base.html: one head, one sign-in form (the
    same markup on each), and page_routes' security headers on all three."""
    client, _ = await face_client()
    forms = set()
    for path, script in (("/", "app.js"), ("/people", "people.js"), ("/cameras/", "cameras.js")):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert resp.headers["Content-Security-Policy"] == CSP, path
        assert resp.headers["X-Content-Type-Options"] == "nosniff" and resp.headers["Referrer-Policy"] == "no-referrer"
        html = await resp.text()
        assert html.startswith("<!doctype html>\n<html lang=\"en\">"), path
        assert re.search(r"<title>Facestream · [a-z ]+</title>", html), path
        assert html.count('<link rel="stylesheet" href="/static/app.css') == 1, path
        assert len(re.findall(rf'<script type="module" src="/static/{script}(\?v=[^"]+)?"></script>', html)) == 1, path
        assert html.count('id="signin"') == 1 and html.count('id="signin-form"') == 1, path
        start = html.index('<form id="signin-form"')
        forms.add(html[start:html.index("</form>", start)])
    assert len(forms) == 1  # the same sign-in form, field for field
