"""Per-stage latency of the engine at 640x480 and /verify p50 over real HTTP.

Prints medians (ms) of decode, detect, landmarks, embed and total for 1 and 2 onnxruntime
threads, then starts the real app on a localhost port and times /verify requests.
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
from facestream.config import load_config  # noqa: E402
from tests.data import read  # noqa: E402


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


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:7.2f}"


def stages(threads: int, runs: int, jpeg: bytes) -> None:
    cfg = load_config()
    engine = FaceEngine(replace(cfg.engine, intra_op_threads=threads), cfg.quality)
    times: dict[str, list[float]] = {k: [] for k in ("decode", "detect", "landmarks", "embed", "total")}
    for _ in range(runs):
        t0 = time.perf_counter()
        decoded = engine.decode(jpeg)
        t1 = time.perf_counter()
        det = engine.detector.detect(decoded.pixels)[0]
        t2 = time.perf_counter()
        engine.landmarks.predict(decoded.pixels, det.box)
        t3 = time.perf_counter()
        engine.embedder.embed(decoded.pixels, det)
        t4 = time.perf_counter()
        for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
            times[key].append(value)
    print(f"{threads} thread(s), {runs} runs, median ms: " + "  ".join(f"{k} {ms(v)}" for k, v in times.items()))


async def verify_over_http(runs: int, jpeg: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(overrides={"storage.database_url": f"sqlite:///{tmp}/bench.db"})
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
            p90 = samples[int(len(samples) * 0.9) - 1]
            print(f"/verify over HTTP (640x480 JPEG, {runs} requests): p50 {ms(samples)} ms  p90 {p90 * 1000:7.2f} ms")
        finally:
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    jpeg = frame_640x480()
    for threads in (1, 2):
        stages(threads, args.runs, jpeg)
    asyncio.run(verify_over_http(args.runs, jpeg))


if __name__ == "__main__":
    main()
