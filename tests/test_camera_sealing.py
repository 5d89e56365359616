"""RTSP URLs carry camera passwords: with encryption keys configured the cameras table holds the
masked URL and the URL sealed with the key ring, and the camera still connects with it."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from api.keys import CAMERAS, STORE
from doors.directory import SEALED, CameraDirectory
from storage.camera_store import CameraStore
from tests.conftest import FaceClient
from testkit.rtsp_server import RtspServer, make_media
from tests.test_cameras import FAST_INGEST, add_camera, wait_status

PASSWORD = "s3cr3t-Pw-4711"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("rtsp"))


async def test_stored_rtsp_url_is_sealed_and_still_connects(face_client: FaceClient, media: dict[str, Path]) -> None:
    key = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
    http, auth = await face_client(**FAST_INGEST, **{"encryption.keys": [key], "encryption.current_key_id": "k1"})
    server = RtspServer(media).start()
    try:
        url = server.url("door", f"cam:{PASSWORD}")
        body = await add_camera(http, auth, id="sealed", url=url, door_id="D1", require_liveness=False)
        assert PASSWORD not in json.dumps(body) and body["url"].startswith("rtsp://***@")
        raw = CameraStore(http.app[STORE].engine)
        row = await raw.get("sealed")
        assert row is not None
        assert PASSWORD not in json.dumps(row.spec), row.spec  # the stored row holds no password
        assert row.spec["url"] == f"rtsp://***@127.0.0.1:{server.port}/door" and row.spec[SEALED]
        st = await wait_status(http, auth, "sealed", lambda s: s["status"] == "online" and s["frames_decoded"] > 5,
                               20.0)
        assert st["status"] == "online" and st["frames_decoded"] > 5, st  # connected with the unsealed URL
        runner = http.app[CAMERAS].runner("sealed")
        assert runner is not None and runner.camera.url == url
        directory = CameraDirectory(raw, http.app[STORE].cipher)
        # a sealed URL moved into another camera's row does not open there (the id is its aad)
        await raw.put("copy", row.client_id, dict(row.spec), "api")
        copied = await directory.get("copy")
        assert copied is not None and copied.camera.url == ""
        # a row written in plaintext before keys were configured is sealed at the next start
        await raw.put("old", row.client_id, {**{k: v for k, v in row.spec.items() if k != SEALED}, "url": url}, "api")
        assert await directory.seal_all() == 1
        old = await raw.get("old")
        assert old is not None and PASSWORD not in json.dumps(old.spec)
        entry = await directory.get("old")
        assert entry is not None and entry.camera.url == url
    finally:
        server.stop()
