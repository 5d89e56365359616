"""The pages are served with the settings they need and a strict Content-Security-Policy; the
liveness checkbox is an administrator's setting, not the kiosk user's."""

from __future__ import annotations

from api.keys import CONFIG
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
