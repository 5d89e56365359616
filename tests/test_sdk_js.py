"""The browser SDK module (web/static/sdk/facestream.js) in Chromium against the live app: REST
calls with typed errors, token renewal, photo enrollment and a WebRTC session's events."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.keys import SESSIONS, STORE
from engine.face_engine import FaceEngine
from tests.browser_support import DESKTOP, PageWatch, chromium
from testkit.data import DATA
from testkit.media import letterbox, video_frames, write_y4m

PHOTO = DATA / "faces" / "alex_lacamoire" / "img1.jpg"

REST_SCRIPT = """async ([key, secret, photo]) => {
  const { Facestream, FacestreamError } = await import('/static/sdk/facestream.js');
  const out = {};
  const fs = new Facestream();
  const auth = [];
  fs.addEventListener('auth', (e) => auth.push(e.detail.state));
  try { await fs.signIn(key, 'wrong'); } catch (e) {
    out.badSignIn = [e instanceof FacestreamError, e.status, e.code];
  }
  await fs.signIn(key, secret);
  const made = await fs.createUser({ external_id: 'SDK1', name: 'Sdk Person' });
  try { await fs.createUser({ external_id: 'SDK1', name: 'Again' }); } catch (e) {
    out.duplicate = [e.status, e.code, Object.keys(e.details)];
  }
  out.found = (await fs.resolveUser('SDK1')).id === made.id;
  out.missing = await fs.resolveUser('NOPE');
  const created = await fs.resolveUser('SDK2', { create: true, name: 'Typed At Kiosk' });
  out.created = [created.external_id, created.name];
  out.renamed = (await fs.updateUser(made.id, { name: 'Renamed' })).name;
  out.deactivated = (await fs.deactivateUser(made.id)).is_active;
  out.activated = (await fs.activateUser(made.id)).is_active;
  const bytes = Uint8Array.from(atob(photo), (c) => c.charCodeAt(0));
  const enrolled = await fs.enrollPhoto(made.id, new File([bytes], 'alex.jpg', { type: 'image/jpeg' }));
  out.enrolledKeys = Object.keys(enrolled).length > 0;
  try { await fs.enrollPhoto(created.id, new File([bytes], 'alex.jpg', { type: 'image/jpeg' })); } catch (e) {
    out.faceDuplicate = [e.status, e.code, e.details.existing_user_id === made.id];
  }
  const page = await fs.listUsers({ search: 'sdk' });
  out.listed = page.results.map((u) => [u.external_id, u.has_enrollment]).sort();
  out.exported = (await fs.exportUser(made.id)).enrollments.length;
  out.deleted = (await fs.deleteUser(made.id)).deleted;
  try { await fs.getUser(made.id); } catch (e) { out.gone = [e.status, e.code]; }
  // Access tokens live 2 s here: the SDK renews them before they expire.
  await new Promise((r) => setTimeout(r, 3500));
  out.afterExpiry = (await fs.listUsers()).count;
  // A token the server no longer accepts (e.g. it restarted with a new key) and no way to renew:
  // the caller is told it is signed out, with the reason, instead of a raw token error.
  const reasons = [];
  fs.addEventListener('auth', (e) => reasons.push(e.detail.reason));
  fs._access = 'not-a-token'; fs._refresh = 'not-a-token';
  try { await fs.listUsers(); } catch (e) { out.expired = [e.code, fs.signedIn, reasons.pop()]; }
  out.auth = auth;
  try { await fs.listUsers(); } catch (e) { out.signedOut = e.code; }
  return out;
}"""


async def test_sdk_rest_calls_errors_and_token_renewal(
    aiohttp_client: Any, engine: FaceEngine, make_config: Any
) -> None:
    client = await aiohttp_client(create_app(make_config(**{"auth.access_token_ttl_s": 2}), engine=engine))
    made = await client.app[STORE].create_client("sdk")
    async with chromium() as browser:
        page = await browser.new_page(viewport=DESKTOP)
        watch = PageWatch(page)
        await page.goto(str(client.make_url("/")))
        photo = base64.b64encode(PHOTO.read_bytes()).decode()
        out = await page.evaluate(REST_SCRIPT, [made.client.api_key, made.api_secret, photo])
    assert out["badSignIn"] == [True, 401, "INVALID_API_KEY"]  # one answer for unknown key and wrong secret
    assert out["duplicate"][:2] == [409, "USER_ALREADY_EXISTS"] and out["duplicate"][2] == ["external_id"]
    assert out["found"] is True and out["missing"] is None
    assert out["created"] == ["SDK2", "Typed At Kiosk"]
    assert (out["renamed"], out["deactivated"], out["activated"]) == ("Renamed", False, True)
    assert out["enrolledKeys"] is True
    assert out["faceDuplicate"] == [409, "FACE_ALREADY_ENROLLED", True]
    assert out["listed"] == [["SDK1", True], ["SDK2", False]]
    assert (out["exported"], out["deleted"]) == (1, True)
    assert out["gone"] == [404, "USER_NOT_FOUND"]
    assert out["afterExpiry"] == 1
    assert out["auth"][0] == "signed-in" and out["auth"].count("signed-in") == 1 and "refreshed" in out["auth"]
    assert out["expired"] == ["TOKEN_EXPIRED", False, "Your sign-in has expired"]
    assert out["auth"][-1] == "signed-out" and out["signedOut"] == "AUTHENTICATION_REQUIRED"
    # The expected refusals above (401, 409s, 404) are the only console errors.
    assert all("status of 40" in line for line in watch.errors()), watch.console


SESSION_SCRIPT = """async ([key, secret]) => {
  const { Facestream } = await import('/static/sdk/facestream.js');
  const fs = new Facestream();
  await fs.signIn(key, secret);
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  const session = await fs.startSession(stream, { mode: 'identification' });
  const seen = { types: new Set(), states: [], faces: 0 };
  session.addEventListener('event', (e) => seen.types.add(e.detail.type));
  session.addEventListener('faces', (e) => { seen.faces += e.detail.faces.length; seen.left = e.detail.left; });
  session.addEventListener('connection', (e) => seen.states.push(e.detail.state));
  const until = Date.now() + 30000;
  while (Date.now() < until && !(seen.types.has('liveness_update') && seen.faces > 3)) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const id = session.id;
  session.close();
  session.close(); // idempotent
  stream.getTracks().forEach((t) => t.stop());
  return { id, types: [...seen.types].sort(), faces: seen.faces, left: seen.left, states: seen.states,
           state: session.state };
}"""


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "live.y4m"
    assert write_y4m(str(path), tuple(letterbox(f) for _, f in video_frames(fps=15.0, seconds=3.0)), fps=15) >= 40
    return path


async def test_sdk_session_streams_the_camera_and_dispatches_events(
    aiohttp_client: Any, engine: FaceEngine, make_config: Any, camera: Path
) -> None:
    client = await aiohttp_client(create_app(make_config(), engine=engine))
    made = await client.app[STORE].create_client("sdk")
    async with chromium(camera) as browser:
        page = await browser.new_page(viewport=DESKTOP)
        await page.goto(str(client.make_url("/")))
        out = await page.evaluate(SESSION_SCRIPT, [made.client.api_key, made.api_secret])
    assert {"faces", "liveness_update"} <= set(out["types"]), out
    assert out["faces"] > 3 and out["left"] == []
    assert out["states"][-1] == "closed" and "live" in out["states"] and out["state"] == "closed"
    assert client.app[SESSIONS].sessions_of(made.client.id) == [] or all(
        s.close_reason == "closed_by_client" for s in client.app[SESSIONS].sessions_of(made.client.id))
