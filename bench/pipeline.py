"""Per-stage latency of each engine profile at 640x480 and /verify p50 over real HTTP.

Prints, side by side for the research and permissive profiles, medians (ms) of decode, detect,
landmarks (research: 2d106; permissive: a MediaPipe Face Landmarker in VIDEO mode), embed and
total for 1 and 2 onnxruntime threads, then starts the real app on a localhost port per profile
and times /verify requests.
Run: `make bench` or `python bench/pipeline.py [--runs N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
import cv2
import numpy as np
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app  # noqa: E402
from api.keys import STORE  # noqa: E402
from engine.face_engine import FaceEngine  # noqa: E402
from engine.mediapipe_landmarks import MeshLandmarker  # noqa: E402
from engine.profiles import PROFILES  # noqa: E402
from facestream.config import load_config  # noqa: E402
from testkit.data import read  # noqa: E402


def frame_640x480() -> bytes:
    """A real frame of the liveness video, letterboxed to 640x480, as a quality-90 JPEG."""
    still = cv2.imdecode(np.frombuffer(read("video/blink_live_still.jpg"), np.uint8), cv2.IMREAD_COLOR)
    h, w = still.shape[:2]
    scale = min(640 / w, 480 / h)
    small = cv2.resize(still, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((480, 640, 3), np.uint8)
    y, x = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
    canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
    return cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


STAGES = ("decode", "detect", "landmarks", "embed", "total")


def stages(profile: str, threads: int, runs: int, jpeg: bytes) -> dict[str, float]:
    """Median seconds per stage."""
    cfg = load_config()
    engine = FaceEngine(replace(cfg.engine, profile=profile, intra_op_threads=threads), cfg.quality)
    mesh = MeshLandmarker() if engine.landmarks is None else None
    times: dict[str, list[float]] = {k: [] for k in STAGES}
    try:
        for i in range(runs + 3):
            t0 = time.perf_counter()
            decoded = engine.decode(jpeg)
            t1 = time.perf_counter()
            det = engine.detector.detect(decoded.pixels)[0]
            t2 = time.perf_counter()
            if engine.landmarks is not None:
                engine.landmarks.predict(decoded.pixels, det.box)
            else:
                assert mesh is not None and mesh.observe(decoded.pixels, det.box, i / 15) is not None
            t3 = time.perf_counter()
            engine.embedder.embed(decoded.pixels, det)
            t4 = time.perf_counter()
            if i >= 3:  # warm-up excluded
                for key, value in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
                    times[key].append(value)
    finally:
        if mesh is not None:
            mesh.close()
    return {k: statistics.median(v) for k, v in times.items()}


async def verify_over_http(profile: str, runs: int, jpeg: bytes) -> tuple[float, float]:
    """(p50, p90) seconds of /verify."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(overrides={"storage.database_url": f"sqlite:///{tmp}/bench.db", "engine.profile": profile})
        app = create_app(cfg)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        made = await app[STORE].create_client("bench")
        headers = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
        url = f"http://127.0.0.1:{port}"

        def form(**fields: object) -> aiohttp.FormData:
            fd = aiohttp.FormData()
            for k, v in fields.items():
                fd.add_field(k, str(v))
            fd.add_field("file", io.BytesIO(jpeg), filename="frame.jpg")
            return fd

        try:
            async with aiohttp.ClientSession() as session:
                async with session.post(f"{url}/enroll", data=form(tenant_id=1, user_id=1, name="bench"), headers=headers) as r:
                    assert r.status == 200, await r.text()
                samples = []
                for i in range(runs + 5):
                    t0 = time.perf_counter()
                    async with session.post(f"{url}/verify", data=form(tenant_id=1, user_id=1), headers=headers) as r:
                        body = await r.json()
                    if i >= 5:  # warm-up excluded
                        samples.append(time.perf_counter() - t0)
                    assert body["verified"] is True
            samples.sort()
            return statistics.median(samples), samples[int(len(samples) * 0.9) - 1]
        finally:
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    jpeg = frame_640x480()
    print(f"median ms over {args.runs} runs, one 640x480 frame (research landmarks: 2d106; permissive: MediaPipe)")
    for threads in (1, 2):
        got = {p: stages(p, threads, args.runs, jpeg) for p in PROFILES}
        print(f"{threads} thread(s)   " + "".join(f"{p:>12}" for p in PROFILES) + "       ratio")
        for key in STAGES:
            ratio = got["permissive"][key] / got["research"][key]
            print(f"  {key:<12}" + "".join(f"{got[p][key] * 1000:12.2f}" for p in PROFILES) + f"{ratio:12.2f}")
    http = {p: asyncio.run(verify_over_http(p, args.runs, jpeg)) for p in PROFILES}
    print("/verify over HTTP (640x480 JPEG)")
    for label, k in (("p50", 0), ("p90", 1)):
        print(f"  {label:<12}" + "".join(f"{http[p][k] * 1000:12.2f}" for p in PROFILES)
              + f"{http['permissive'][k] / http['research'][k]:12.2f}")


if __name__ == "__main__":
    main()
