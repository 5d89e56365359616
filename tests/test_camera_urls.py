"""Camera URLs read as URLs (issue 24 items 1 and 5): the CRLF-into-Redis repro, SSRF to loopback
and private addresses in every spelling (at saving, at config load and at every connect), and
credentials that never come back, whatever characters the password holds."""

from __future__ import annotations

import dataclasses
import json
import socket
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from api.app import create_app
from api.keys import STORE
from facestream.config import ConfigError
from doors.camera_config import CameraConfig
from doors.camera_url import CameraUrlError, TargetRefused, connect_url, mask_url, parse_camera_url
from tests.conftest import FaceClient
from tests.test_cameras import FAST_INGEST, wait_status

REDIS_PORT = 6379
PRIVATE_URLS = ["rtsp://127.0.0.1:9/x", "rtsp://2130706433:9/x", "rtsp://127.1:9/x", "rtsp://0x7f000001/x",
                "rtsp://[::1]:9/x", "rtsp://[::ffff:127.0.0.1]/x", "rtsp://10.1.2.3/x", "rtsp://169.254.169.254/x",
                "rtsp://localhost:9/x", "rtsp://cam.localhost/x", "rtsps://192.168.1.20:322/x"]


@pytest.mark.parametrize("url", [
    "rtsp://127.0.0.1:6379/x\r\nSET pwned 1\r\n", "rtsp://cam.example.com/a b", "rtsp://cam.example.com/\x00",
    "rtsp://cam.example.com/x\u2028y", "http://cam.example.com/", "rtsp:///x", "rtsp://cam.example.com:99999/",
    "rtsp://cam.example.com:8a/", "rtsp://u:a/b@cam.example.com/", "rtsp://cam.example.com/s?password=hunter2",
    "rtsp://cam.example.com/s#frag", "rtsp://ca$m.example.com/", "rtsp://[::1/x",
])
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(CameraUrlError):
        parse_camera_url(url)


def test_valid_urls_parse_and_mask_whatever_the_password_holds() -> None:
    cam = parse_camera_url("rtsp://door:p%40ss%2Fw%20rd@cam.example.com:8554/live?channel=1")
    assert (cam.host, cam.port, cam.userinfo, cam.rest) == ("cam.example.com", 8554, "door:p%40ss%2Fw%20rd",
                                                             "/live?channel=1")
    assert parse_camera_url("rtsps://[2001:db8::1]/s").host == "2001:db8::1"
    # what FFmpeg quotes back (a raw @, a space, a slash in a password), the query's credentials
    url = "rtsp://door:p@ss w/rd@cam.example.com/live?pwd=topsecret&channel=1"
    text = f"OSError: [Errno 111] Connection refused: '{url}' (p@ss w/rd)"
    masked = mask_url(text, url)
    for secret in ("p@ss", "ss w", "w/rd", "topsecret", "door:"):
        assert secret not in masked, masked
    assert "cam.example.com/live" in masked and "channel=1" in masked


def test_connect_checks_every_address_and_pins_the_checked_one() -> None:
    own = socket.gethostname()  # resolves to this machine's private address (every container/CI host)
    with pytest.raises(TargetRefused):
        connect_url(f"rtsp://u:p@{own}:8554/door", allow_private=False)
    assert connect_url(f"rtsp://u:p@{own}:8554/door", allow_private=True) == f"rtsp://u:p@{own}:8554/door"
    pinned = connect_url("rtsp://u:p@8.8.8.8:8554/door", allow_private=False)
    assert pinned == "rtsp://u:p@8.8.8.8:8554/door"


async def test_crlf_repro_is_refused_and_redis_untouched(face_client: FaceClient) -> None:
    """The issue's exact request, even with private targets allowed (LANs): 400, nothing stored,
    the key never appears in Redis; a valid camera is then still created."""
    http, auth = await face_client(**FAST_INGEST)  # allow_private_targets on: only the URL rules refuse it
    key = f"pwned_{uuid.uuid4().hex[:8]}"
    url = f"rtsp://127.0.0.1:{REDIS_PORT}/x\r\nSET {key} 1\r\n"
    resp = await http.post("/api/streaming/cameras/", json={"name": "x", "url": url}, headers=auth)
    body = await resp.json()
    assert resp.status == 400 and body["error"]["code"] == "VALIDATION_ERROR", body
    assert "url" in json.dumps(body["error"]["details"])
    assert (await (await http.get("/api/streaming/cameras/", headers=auth)).json())["count"] == 0
    redis = aioredis.from_url(f"redis://127.0.0.1:{REDIS_PORT}/0")
    try:
        assert await redis.get(key) is None
    finally:
        await redis.aclose()
    resp = await http.post("/api/streaming/cameras/", json={"name": "x", "url": "rtsp://u:p@127.0.0.1:9/x"},
                           headers=auth)
    assert resp.status == 201, await resp.text()


async def test_shipped_default_refuses_private_targets(face_client: FaceClient) -> None:
    http, auth = await face_client()  # config.yaml as shipped: ingest.allow_private_targets false
    for url in PRIVATE_URLS + [f"rtsp://{socket.gethostname()}:8554/door"]:
        resp = await http.post("/api/streaming/cameras/", json={"url": url}, headers=auth)
        body = await resp.json()
        assert resp.status == 400 and body["error"]["code"] == "VALIDATION_ERROR", (url, body)
    # a public name that does not resolve yet is accepted (it is judged at every connect)
    resp = await http.post("/api/streaming/cameras/", json={"id": "pub", "url": "rtsp://u:pw@cam.example.com/x",
                                                            "enabled": False}, headers=auth)
    assert resp.status == 201, await resp.text()
    resp = await http.put("/api/streaming/cameras/pub/", json={"url": "rtsp://127.0.0.1:554/x"}, headers=auth)
    assert resp.status == 400


def test_config_cameras_follow_the_same_rules(make_config: Callable[..., Any]) -> None:
    base = make_config()
    cam = CameraConfig(id="gate", client_id=1, url="rtsp://u:p@127.0.0.1:9/g")
    with pytest.raises(ConfigError, match="non-public"):
        dataclasses.replace(base, cameras=(cam,)).validate()
    with pytest.raises(ConfigError, match="printable"):
        dataclasses.replace(make_config(**FAST_INGEST), cameras=(dataclasses.replace(cam, url=cam.url + "\r\nX"),)
                            ).validate()
    assert dataclasses.replace(make_config(**FAST_INGEST), cameras=(cam,)).validate().cameras == (cam,)


async def test_a_name_resolving_to_a_private_address_is_refused_at_connect(
        aiohttp_client: Any, engine: Any, make_config: Callable[..., Any]) -> None:
    """A config camera whose name passes loading (names are not resolved then) never connects:
    the reader resolves it, finds a private address, and says so in status, password masked."""
    first = await aiohttp_client(create_app(make_config(), engine=engine))
    made = await first.app[STORE].create_client("door-owner")
    auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    await first.close()
    url = f"rtsp://door:s3cr%40t@{socket.gethostname()}:8554/door"
    cams = (CameraConfig(id="gate", client_id=made.client.id, url=url),)
    settings = {k: v for k, v in FAST_INGEST.items() if k != "ingest.allow_private_targets"}
    config = dataclasses.replace(make_config(**settings), cameras=cams).validate()  # a name: loads
    http = await aiohttp_client(create_app(config, engine=engine))
    st = await wait_status(http, auth, "gate", lambda s: s["last_error"] is not None, 30.0)
    assert st["status"] != "online" and st["last_error"].startswith("target refused"), st
    assert "non-public" in st["last_error"] and "s3cr" not in json.dumps(st), st
    listed = await (await http.get("/api/streaming/cameras/gate/", headers=auth)).json()
    assert "s3cr" not in json.dumps(listed) and listed["url"].startswith("rtsp://***@")
