"""Model profiles: shipped weights verified by sha256, YuNet decoding, calibrated thresholds, the
root API under both profiles, and galleries that never cross recognisers."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.keys import STORE
from bench.calibrate import calibrate
from engine.errors import GalleryModelMismatchError, ModelLoadError
from engine.face_engine import FaceEngine
from engine.liveness_settings import LivenessSettings
from engine.profiles import REPO_MODELS, resolve_profile
from engine.settings import EngineSettings
from engine.weights import sha256_of, verify_profile
from facestream.config import Config
from recognition.processor import FrameProcessor
from recognition.settings import RecognitionSettings
from storage import schema
from storage.migrations import v11 as migrate_v11
from storage.sql_store import SqlStore
from tests.conftest import FaceClient, unit_vector
from testkit.data import read
from testkit.helpers import form
from testkit.rtc_client import FrameTrack, RtcPeer, video_source
from tests.session_helpers import direct_enroll, make_user, post_frame

ROOT = Path(__file__).resolve().parents[1]
MODEL_OF = {"research": ("w600k_mbf", 512), "permissive": ("face-reidentification-retail-0095", 256)}


def test_shipped_weights_match_their_pinned_sha256_and_sums_file() -> None:
    profile = resolve_profile(replace(EngineSettings(), profile="permissive"))
    listed = verify_profile(profile)
    assert [m.role for m in listed] == ["detector", "landmarker", "recognizer"]
    assert all(m.pinned and m.commercial_use and m.path.is_relative_to(REPO_MODELS) for m in listed)
    sums = dict(line.split()[::-1] for line in (REPO_MODELS / "permissive" / "SHA256SUMS").read_text().splitlines())
    for m in listed:
        if m.path.parent.name == "permissive":
            assert sums[m.path.name] == m.sha256 == sha256_of(m.path)
    for licence in ("LICENSE-Apache-2.0.txt", "LICENSE-MIT-YuNet.txt"):
        assert (REPO_MODELS / "permissive" / licence).stat().st_size > 900


def test_a_tampered_weight_file_stops_the_engine(tmp_path: Path) -> None:
    shutil.copytree(REPO_MODELS, tmp_path / "models")
    target = tmp_path / "models" / "permissive" / "face-reidentification-retail-0095.onnx"
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="recognizer weights .* have sha256 .*expected 085ab5bf"):
        FaceEngine(replace(EngineSettings(), profile="permissive", weights_dir=str(tmp_path / "models")))


def test_models_command_lists_licence_sha256_and_size(tmp_path: Path) -> None:
    env = {**os.environ, "FACESTREAM__ENGINE__PROFILE": "permissive",
           "FACESTREAM__STORAGE__DATABASE_URL": f"sqlite:///{tmp_path}/m.db"}
    out = subprocess.run([sys.executable, "-m", "facestream.cli", "models"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True, timeout=120).stdout
    assert "profile: permissive (commercial use allowed by every licence)" in out
    assert "recogniser: face-reidentification-retail-0095, 256-d" in out
    assert "085ab5bf602626008b0ef836f9c88e2b63608ed07ed5a36608218ba9ba0d6a97 (sha256 verified)" in out
    assert "size:    4445823 bytes" in out and "size:    237823 bytes" in out
    assert "licence: Apache-2.0 (Intel Open Model Zoo)" in out and "MIT (OpenCV Zoo, Shiqi Yu)" in out
    assert "stored embeddings: none" in out


def test_a_processor_without_a_2d106_model_refuses_2d106_liveness(permissive_engine: FaceEngine) -> None:
    """The permissive profile has no 2d106 model; a processor built around the config (a bench,
    a test) says so up front instead of failing on its first tracked face."""
    assert permissive_engine.landmarks is None
    with pytest.raises(ValueError, match="liveness.landmarks must be mediapipe"):
        FrameProcessor(permissive_engine, RecognitionSettings(), LivenessSettings(landmarks="2d106"))
    FrameProcessor(permissive_engine, RecognitionSettings(), LivenessSettings(landmarks="mediapipe")).close()


def test_yunet_decoding_agrees_with_opencv(permissive_engine: FaceEngine) -> None:
    """engine/yunet.py decodes on onnxruntime what cv2.FaceDetectorYN decodes on OpenCV DNN."""
    path = str(permissive_engine.profile.detector.model.path)
    for rel in ("video/blink_live_still.jpg", "scenes/friends_t1.jpg"):
        img = cv2.imdecode(np.frombuffer(read(rel), np.uint8), cv2.IMREAD_COLOR)
        h, w = img.shape[:2]
        scale = 640 / max(h, w)
        small = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        ref = cv2.FaceDetectorYN.create(path, "", (small.shape[1], small.shape[0]), 0.8, 0.3, 5000)
        _, faces = ref.detect(small)
        ours = permissive_engine.detector.detect(img, pad_retry=False)
        assert faces is not None and len(ours) == len(faces) >= 1
        for f in faces:
            box = f[:4] / scale
            d = min(ours, key=lambda o: abs(o.box.x1 - box[0]) + abs(o.box.y1 - box[1]))
            assert np.allclose([d.box.x1, d.box.y1, d.box.width, d.box.height], box, atol=1.0)
            assert np.allclose(d.keypoints.reshape(-1), f[4:14] / scale, atol=1.0)
            assert abs(d.score - float(f[14])) < 1e-3


def test_shared_pairs_are_all_right_at_each_profiles_threshold(profile: str, profile_engine: FaceEngine) -> None:
    """The threshold the server uses is the calibrated one, and it separates all 292 pairs."""
    measured = calibrate(profile_engine)
    written = json.loads((ROOT / "engine" / "calibration.json").read_text())[profile]
    assert profile_engine.profile.threshold == written["threshold"] == measured.threshold
    assert (measured.recognizer, measured.dimension) == MODEL_OF[profile]
    assert measured.accuracy == 1.0 and measured.far == 0.0 and measured.frr == 0.0
    assert measured.genuine_max < measured.threshold < measured.impostor_min


async def test_root_api_enroll_verify_identify(profile: str, profile_client: FaceClient) -> None:
    client, h = await profile_client()
    model, dim = MODEL_OF[profile]
    for uid, name, rel in ((1, "Obama", "faces/barack_obama/obama.jpg"), (2, "Biden", "faces/joe_biden/biden2.jpg")):
        resp = await client.post("/enroll", data=form(read(rel), tenant_id=7, user_id=uid, name=name), headers=h)
        assert resp.status == 200, await resp.text()
    resp = await client.post("/verify", data=form(read("faces/barack_obama/obama1.jpg"), tenant_id=7, user_id=1), headers=h)
    body = await resp.json()
    assert body["verified"] is True and body["distance"] < body["threshold"] == MODEL_THRESHOLD[profile]
    resp = await client.post("/verify", data=form(read("faces/barack_obama/obama1.jpg"), tenant_id=7, user_id=2), headers=h)
    assert (await resp.json())["verified"] is False
    resp = await client.post("/identify", data=form(read("faces/joe_biden/biden.jpg"), tenant_id=7), headers=h)
    body = await resp.json()
    assert (body["match"], body["user_id"], body["name"]) == (True, 2, "Biden")

    resp = await client.post("/encode", data=form(read("faces/barack_obama/obama.jpg")), headers=h)
    body = await resp.json()
    assert (body["model"], body["dimension"], len(body["encoding"])) == (model, dim, dim)
    resp = await client.post("/compare", headers=h, data=form(
        read("faces/barack_obama/obama1.jpg"), encoding=json.dumps(body["encoding"])))
    assert (await resp.json())["match"] is True
    other = MODEL_OF["permissive" if profile == "research" else "research"][1]
    resp = await client.post("/compare", headers=h, data=form(
        read("faces/barack_obama/obama1.jpg"), encoding=json.dumps([0.05] * other)))
    assert resp.status == 422
    assert (await resp.json())["detail"] == (
        f"encoding must be a JSON array of {dim} numbers (the size {model} embeddings have; /encode on this "
        f"server makes them), got {other} values"
    )


MODEL_THRESHOLD = {
    name: entry["threshold"] for name, entry in json.loads((ROOT / "engine" / "calibration.json").read_text()).items()
}


async def test_a_gallery_enrolled_under_one_profile_is_refused_under_the_other(
    aiohttp_client: Callable[..., Awaitable[TestClient]], engine: FaceEngine, permissive_engine: FaceEngine,
    make_config: Callable[..., Config], tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    research = await aiohttp_client(create_app(make_config(), engine=engine))
    made = await research.app[STORE].create_client("door")
    h = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    resp = await research.post("/enroll", headers=h, data=form(
        read("faces/barack_obama/obama.jpg"), tenant_id=3, user_id=1, name="Obama"))
    assert resp.status == 200
    await research.close()

    # The same database, started with the permissive profile: a warning at start, tenant 3 refused by name.
    with caplog.at_level(logging.WARNING, logger="storage.model_stamp"):
        permissive = await aiohttp_client(
            create_app(make_config(**{"engine.profile": "permissive"}), engine=permissive_engine))
    assert any("1 stored face embeddings were made by another recogniser than this server's "
               "'face-reidentification-retail-0095' (1 by w600k_mbf)" in r.getMessage() for r in caplog.records)
    for path, fields in (("/identify", {"tenant_id": 3}), ("/verify", {"tenant_id": 3, "user_id": 1}),
                         ("/enroll", {"tenant_id": 3, "user_id": 2, "name": "Biden"})):
        resp = await permissive.post(path, headers=h, data=form(read("faces/barack_obama/obama1.jpg"), **fields))
        assert resp.status == 409, (path, await resp.text())
        detail = (await resp.json())["detail"]
        assert "Tenant 3 holds face embeddings of another model (1 made by recogniser 'w600k_mbf')" in detail
        assert "this server runs recogniser 'face-reidentification-retail-0095'" in detail
        assert "enroll the faces again" in detail
    resp = await permissive.get("/enrollments/3", headers=h)  # listing still works: what to delete
    assert resp.status == 200 and [e["name"] for e in (await resp.json())["enrollments"]] == ["Obama"]
    # Another tenant of the same client is unaffected.
    resp = await permissive.post("/enroll", headers=h, data=form(
        read("faces/joe_biden/biden2.jpg"), tenant_id=4, user_id=2, name="Biden"))
    assert resp.status == 200

    # The documented path: drop the other model's embeddings, enroll again.
    env = {**os.environ, "FACESTREAM__ENGINE__PROFILE": "permissive",
           "FACESTREAM__STORAGE__DATABASE_URL": f"sqlite:///{tmp_path}/facestream.db"}
    out = subprocess.run([sys.executable, "-m", "facestream.cli", "models", "--drop-other-models", "--yes"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120).stdout
    assert "stored embeddings: 1 by face-reidentification-retail-0095, 1 by w600k_mbf" in out
    assert f"deleted 1 embeddings of client {made.client.id}, tenant 3: enroll those faces again" in out
    resp = await permissive.post("/enroll", headers=h, data=form(
        read("faces/barack_obama/obama.jpg"), tenant_id=3, user_id=1, name="Obama"))
    assert resp.status == 200
    resp = await permissive.post("/identify", headers=h, data=form(read("faces/barack_obama/obama1.jpg"), tenant_id=3))
    body = await resp.json()
    assert (body["match"], body["user_id"]) == (True, 1)


async def test_platform_api_names_the_model_mismatch(
    aiohttp_client: Callable[..., Awaitable[TestClient]], engine: FaceEngine, permissive_engine: FaceEngine,
    make_config: Callable[..., Config],
) -> None:
    """The same refusal on the /api/ surface: 409 MODEL_MISMATCH with the models in its details."""
    research = await aiohttp_client(create_app(make_config(), engine=engine))
    made = await research.app[STORE].create_client("door")
    auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    await make_user(research, auth, "obama", "Barack Obama")
    status, _ = await direct_enroll(research, auth, "obama", read("faces/barack_obama/obama.jpg"))
    assert status == 201
    await research.close()

    permissive = await aiohttp_client(create_app(make_config(**{"engine.profile": "permissive"}), engine=permissive_engine))
    resp = await permissive.post("/api/auth/authentication/create/", headers=auth,
                                 json={"mode": "identification", "require_liveness": False})
    assert resp.status == 201, await resp.text()
    token = (await resp.json())["session_token"]
    status, body = await post_frame(permissive, token, read("faces/barack_obama/obama1.jpg"), 0.0,
                                    path="/api/auth/process-image/")
    assert status == 409, body
    assert body["error"]["code"] == "MODEL_MISMATCH"
    assert body["error"]["details"] == {"tenant_id": 0, "stored_models": {"w600k_mbf": 1},
                                        "server_model": "face-reidentification-retail-0095"}

    # A WebRTC session says so too, and fails instead of matching.
    peer = RtcPeer(permissive, auth)
    await peer.create(mode="identification", require_liveness=False, timeout=30)
    await peer.connect(FrameTrack(video_source()))
    try:
        assert await peer.wait_for(lambda evs: any(e["type"] == "error" for e in evs), 30)
    finally:
        await peer.close()
    (error,) = [e["payload"] for e in peer.events if e["type"] == "error"]
    assert error["code"] == "MODEL_MISMATCH" and "recogniser 'w600k_mbf'" in error["message"]
    assert not peer.of_type("recognition_result")


async def test_migration_11_stamps_rows_written_before_it(store: SqlStore) -> None:
    c = (await store.create_client("c")).client
    await store.add_enrollment(c.id, 1, "7", "Ann", unit_vector(1), 0.8)
    e = schema.face_enrollments
    async with store.engine.begin() as conn:
        await conn.execute(e.update().values(model_id=None))  # as written before v11
        await conn.run_sync(migrate_v11)
        await conn.run_sync(migrate_v11)  # idempotent
    assert [r.model_id for r in await store.enrollments(c.id, 1)] == ["w600k_mbf"]
    other = SqlStore(store.url, recognizer="face-reidentification-retail-0095")
    try:
        with pytest.raises(GalleryModelMismatchError) as info:
            await other.add_enrollment(c.id, 1, "8", "Ben", unit_vector(2), 0.8)
        assert info.value.stored == {"w600k_mbf": 1}
    finally:
        await other.close()
    assert len(await store.enrollments(c.id, 1)) == 1  # the refused write left nothing behind


def test_config_resolves_each_profiles_threshold_and_refuses_bad_combinations() -> None:
    from facestream.config import ConfigError, load_config

    assert load_config(env={}).matching.threshold == MODEL_THRESHOLD["research"] == 0.72
    permissive = load_config(env={"FACESTREAM__ENGINE__PROFILE": "permissive"})
    assert permissive.matching.threshold == MODEL_THRESHOLD["permissive"]
    assert load_config(env={}, overrides={"engine.profile": "permissive", "matching.threshold": 0.6}).matching.threshold == 0.6
    with pytest.raises(ConfigError, match="engine.profile must be one of research, permissive, got 'commercial'"):
        load_config(env={}, overrides={"engine.profile": "commercial"})
    with pytest.raises(ConfigError, match="permissive ships no 2d106 model: liveness.landmarks must be mediapipe"):
        load_config(env={}, overrides={"engine.profile": "permissive", "liveness.landmarks": "2d106"})
    moved = load_config(env={}, overrides={"engine.profile": "permissive", "engine.weights_dir": "/srv/models"})
    assert moved.liveness.mediapipe_model == "/srv/models/mediapipe/face_landmarker.task"


def test_quality_gate_and_alignment_work_for_both_profiles(profile_engine: FaceEngine) -> None:
    """Keypoints of either detector drive the same gate: a good portrait passes, darkness and
    blur are flagged, a turned face reads as turned and mirroring negates the yaw; alignment
    makes the recogniser's input size."""
    pixels = profile_engine.decode(read("faces/barack_obama/obama.jpg")).pixels
    good = profile_engine.analyze(pixels).largest
    assert good is not None and good.quality.obstacles == () and good.quality.score > 0.7
    assert good.embedding.shape == (profile_engine.embedding_dim,)
    dark = profile_engine.analyze((pixels * 0.15).astype(np.uint8)).largest
    assert dark is not None and "too_dark" in dark.quality.obstacles
    blurred = profile_engine.analyze(cv2.GaussianBlur(pixels, (0, 0), 9)).largest
    assert blurred is not None and "blurry" in blurred.quality.obstacles

    turned = profile_engine.decode(read("faces/barack_obama/obama2.jpg")).pixels  # yaw ~15 on both
    yaw = profile_engine.analyze(turned).largest.quality.pose.yaw  # type: ignore[union-attr]
    mirrored = profile_engine.analyze(cv2.flip(turned, 1)).largest.quality.pose.yaw  # type: ignore[union-attr]
    assert yaw > 10.0 and abs(yaw + mirrored) < 3.0

    det = profile_engine.detector.detect(pixels)[0]
    crop = profile_engine.embedder.align(pixels, det)
    size = profile_engine.profile.recognizer.input_size
    assert crop.shape == (size, size, 3)
    # The same person aligned from another photo embeds within the profile's threshold.
    other = profile_engine.decode(read("faces/barack_obama/obama1.jpg")).pixels
    second = profile_engine.embedder.embed(other, profile_engine.detector.detect(other)[0])
    (first,) = profile_engine.embedder.embed_crops([crop])
    assert 1.0 - float(first @ second) < profile_engine.profile.threshold


def test_an_unknown_profile_is_refused_even_with_an_explicit_threshold() -> None:
    from facestream.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="engine.profile must be one of research, permissive, got 'fast'"):
        load_config(env={}, overrides={"engine.profile": "fast", "matching.threshold": 0.5})
