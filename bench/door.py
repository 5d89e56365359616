"""Door camera latency and cost: arrival -> access_decision over a real RTSP stream, and the CPU
a camera costs with 0, 1 and 4 live viewers.

The stream (served by scripts/rtsp_test_server.py, gst-rtsp-server) is a loop of cycles: `--gap`
seconds of an empty grey scene, then `--show` seconds of `video/blink_live.mp4` (letterboxed to
the size asked for). The person is enrolled from the video's first frame. An arrival is the first
decoded frame showing the person after an empty-scene frame (by content); its latency is the wall time from that
frame leaving the decoder to the camera's `access_decision` event. The tracker drops a face
after 1 s unseen, so every cycle is a new track and a new decision (cooldown 0.5 s).

CPU: process CPU time over wall time while the camera streams, in % of one core, with viewers in
a separate process (their decoding is not the server's cost) receiving the relayed video.

Run: `python bench/door.py [--arrivals 20] [--sizes 640x480,1280x720] [--cpu-seconds 15]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app  # noqa: E402
from api.keys import CAMERAS, STORE  # noqa: E402
from facestream.config import load_config  # noqa: E402
from testkit.rtsp_server import STILL, VIDEO, RtspServer  # noqa: E402

FPS = 24
DET_SIZE = 0  # --det-size: the cameras' detector input size (0 = the engine's)


def make_cycle_video(folder: Path, size: str, gap: float, show: float, cycles: int) -> Path:
    w, h = size.split("x")
    one, out = folder / f"cycle_{size}.mp4", folder / f"door_{size}_{cycles}.mp4"
    scale = (f"scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,"
             f"fps={FPS},format=yuv420p")
    graph = (f"color=c=gray:s={w}x{h}:r={FPS}:d={gap}[g];[0:v]trim=0:{show},setpts=PTS-STARTPTS,{scale}[p];"
             f"[g][p]concat=n=2:v=1:a=0[v]")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(VIDEO), "-filter_complex", graph, "-map", "[v]",
                    "-c:v", "libx264", "-preset", "veryfast", "-g", str(FPS // 2), "-bf", "0", str(one)],
                   check=True, timeout=300)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(cycles - 1), "-i", str(one), "-c", "copy",
                    str(out)], check=True, timeout=120)
    return out


async def enroll(http: TestClient, auth: dict[str, str]) -> str:
    resp = await http.post("/api/clients/users/", json={"external_id": "EMP001", "name": "Door Person"}, headers=auth)
    user_id = str((await resp.json())["id"])
    import aiohttp
    form = aiohttp.FormData()
    form.add_field("user_id", "EMP001")
    form.add_field("image", STILL.read_bytes(), filename="face.jpg", content_type="image/jpeg")
    resp = await http.post("/api/auth/enrollment/direct/", data=form, headers=auth)
    assert resp.status in (200, 201), await resp.text()
    return user_id


async def arrivals(http: TestClient, auth: dict[str, str], url: str, liveness: bool, gap: float, show: float,
                   want: int, limit_s: float) -> dict[str, Any]:
    """Latencies (s) of the first `want` arrivals that got a decision."""
    cam_id = f"bench-{int(liveness)}-{time.monotonic_ns()}"
    manager = http.app[CAMERAS]
    first_person: dict[int, float] = {}  # cycle -> loop time of its first person frame
    decisions: list[tuple[float, dict[str, Any]]] = []
    loop = asyncio.get_running_loop()
    resp = await http.post("/api/streaming/cameras/", headers=auth, json={
        "id": cam_id, "url": url, "door_id": "bench", "require_liveness": liveness, "cooldown_s": 0.5,
        "max_fps": 15, "det_size": DET_SIZE})
    assert resp.status == 201, await resp.text()
    runner = manager.runner(cam_id)
    assert runner is not None
    seen_gap: set[int] = set()
    first_media: dict[float, float] = {}  # arrival loop time -> its media time

    decoded_at: dict[int, tuple[float, float]] = {}  # pts -> (loop time decoded, media time)

    def on_frame(frame: Any, now: float) -> None:
        if frame.time is None:
            return
        decoded_at[frame.pts] = (now, float(frame.time))
        # by content, not by media time: the looped file drifts ~1 frame per cycle against the
        # cycle length, so "phase >= gap" would date arrivals up to 0.8 s early after 20 cycles
        person = float(np.frombuffer(frame.planes[0], np.uint8)[::101].std()) > 5.0  # grey scene: uniform
        if not person:
            seen_gap.add(0)
        elif seen_gap:  # a whole arrival, seen from its start
            seen_gap.clear()
            first_person[len(first_person)] = now
            first_media[now] = float(frame.time)
    runner.decoded_hooks.append(on_frame)
    proc_s: list[float] = []  # processing time of the deciding frame
    results: list[str] = []  # status:reason:distance of each recognition_result
    faces_frame: dict[float, tuple[Any, Any]] = {}  # faces event time -> its frame's (decoded at, media time)
    faces_at: list[float] = []  # loop times of `faces` events that show a face (the breakdown)

    def on_event(m: dict[str, Any]) -> None:
        if m["type"] == "access_decision":
            decisions.append((loop.time(), m["payload"]))
        elif m["type"] == "recognition_result":
            p = m["payload"]
            results.append(f'{p.get("status")}:{p.get("reason")}:{p.get("distance")}')
            proc_s.append(float(p.get("processing_time") or 0.0))
        elif m["type"] == "faces" and m["payload"].get("faces"):
            faces_at.append(loop.time())
            faces_frame[faces_at[-1]] = decoded_at.get(m["payload"].get("frame_pts"), (None, None))
    runner.listeners.append(on_event)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and len(decisions) < want + 1:
        await asyncio.sleep(0.5)
    await manager.remove(cam_id)
    latencies, reasons, to_face, skipped, queued = [], [], [], [], []
    media_of_arrival = {a: decoded_at_media for a, decoded_at_media in first_media.items()}
    for t, d in decisions:
        # the cycle whose arrival precedes this decision most closely
        before = [(t - a, a) for c, a in first_person.items() if a <= t]
        if not before:
            continue
        lat, arrived = min(before)
        latencies.append(lat)
        reasons.append(d["reason"])
        shown = [f for f in faces_at if arrived <= f <= t]
        if shown:
            to_face.append(shown[0] - arrived)
            dec, media = faces_frame.get(shown[0], (None, None))
            if dec is not None and arrived in media_of_arrival:
                skipped.append(media - media_of_arrival[arrived])  # media time from arrival to the frame shown
                queued.append(shown[0] - dec)  # that frame: decoded -> its faces event
    latencies, to_face = latencies[:want], to_face[:want]
    return {"liveness": liveness, "arrivals": len(first_person), "decisions": len(latencies),
            "reasons": {r: reasons.count(r) for r in set(reasons)}, **summary(latencies),
            "first_face": summary(to_face), "results": results,
            "deciding_frame_s": summary(proc_s), "first_face_frame_media_s": summary(skipped[:want]),
            "first_face_frame_decoded_to_event_s": summary(queued[:want])}


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"median_s": None, "p95_s": None}
    ordered = sorted(values)
    return {"median_s": round(statistics.median(ordered), 3),
            "p95_s": round(ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))], 3)}


async def cpu_with_viewers(http: TestClient, auth: dict[str, str], url: str, viewers: int, seconds: float,
                           max_fps: float) -> dict[str, Any]:
    cam_id = f"cpu-{viewers}-{time.monotonic_ns()}"
    resp = await http.post("/api/streaming/cameras/", headers=auth, json={
        "id": cam_id, "url": url, "door_id": "bench", "require_liveness": False, "cooldown_s": 0.5,
        "max_fps": max_fps, "det_size": DET_SIZE})
    assert resp.status == 201
    proc = None
    if viewers:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--viewer", str(http.make_url("/")), cam_id, auth["Authorization"],
            str(viewers), str(seconds + 100), stdout=asyncio.subprocess.PIPE)  # the loop keeps serving it
    runner = http.app[CAMERAS].runner(cam_id)
    assert runner is not None
    deadline = time.monotonic() + 90
    while runner.status()["viewers"] < viewers and time.monotonic() < deadline:  # the viewers' process starts
        await asyncio.sleep(0.5)
    await asyncio.sleep(4.0)  # connected, warm
    decoded0, processed0 = runner.status()["frames_decoded"], runner.status()["frames_processed"]
    c0, w0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    c1, w1 = time.process_time(), time.monotonic()
    st = runner.status()
    st_viewers = st["viewers"]
    frames = None
    if proc is not None:
        proc.terminate()  # it has watched long enough
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        frames = json.loads(out.decode().strip().splitlines()[-1])
    await http.app[CAMERAS].remove(cam_id)
    return {"viewers": viewers, "max_fps": max_fps, "cpu_pct_of_core": round(100 * (c1 - c0) / (w1 - w0), 1),
            "decoded_fps": round((st["frames_decoded"] - decoded0) / (w1 - w0), 1),
            "processed": st["frames_processed"] - processed0,
            "cpu_ms_per_processed": round(1000 * (c1 - c0) / max(1, st["frames_processed"] - processed0), 1),
            "viewers_attached": st_viewers, "viewer_frames": frames}


class _Http:
    """What CameraViewer needs of a test client (`post`), against a server at a base URL."""

    def __init__(self, session: Any, base: str) -> None:
        self.session, self.base = session, base.rstrip("/")

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.session.post(self.base + path, **kwargs)


async def viewer_main(base: str, cam_id: str, authz: str, n: int, seconds: float) -> None:
    import aiohttp

    from testkit.camera_viewer import CameraViewer
    async with aiohttp.ClientSession() as session:
        views = [CameraViewer(_Http(session, base), {"Authorization": authz}, cam_id)  # type: ignore[arg-type]
                 for _ in range(n)]
        try:
            codes = [await v.connect() for v in views]
            if codes != [200] * n:
                print(json.dumps({"error": codes}), flush=True)
                return
            for _ in range(int(seconds)):  # the parent stops this process when it has measured
                await asyncio.sleep(1.0)
                print(json.dumps([v.frames for v in views]), flush=True)
        finally:
            for v in views:
                await v.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arrivals", type=int, default=20)
    parser.add_argument("--sizes", default="640x480,1280x720")
    parser.add_argument("--gap", type=float, default=2.0)
    parser.add_argument("--show", type=float, default=3.0)
    parser.add_argument("--cpu-seconds", type=float, default=15.0)
    parser.add_argument("--skip-liveness", action="store_true")
    parser.add_argument("--only-cpu", action="store_true")
    parser.add_argument("--cpu-max-fps", type=float, default=15.0,
                        help="frames/s to the models while measuring CPU (low: decode + relay cost alone)")
    parser.add_argument("--det-size", type=int, default=0, help="the cameras' detector input size (0: engine's)")
    args = parser.parse_args()
    global DET_SIZE
    DET_SIZE = args.det_size
    results: dict[str, Any] = {"load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cycles = args.arrivals + 4
        mounts = {s: make_cycle_video(folder, s, args.gap, args.show, cycles) for s in args.sizes.split(",")}
        server = RtspServer(mounts).start()
        config = load_config(env={}, overrides={
            "storage.database_url": f"sqlite:///{tmp}/bench.db",
            "ingest.allow_private_targets": True,  # the RTSP test server is on 127.0.0.1
            "rate_limits.basic": {"hourly": 0, "daily": 0, "burst_per_minute": 0, "concurrent_sessions": 0}})
        try:
            async with TestClient(TestServer(create_app(config))) as http:
                made = await http.app[STORE].create_client("bench")
                auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
                await enroll(http, auth)
                limit = cycles * (args.gap + args.show) + 10
                for size in mounts:
                    url = server.url(size)
                    for liveness in ([] if args.only_cpu else [False] if args.skip_liveness else [False, True]):
                        r = await arrivals(http, auth, url, liveness, args.gap, args.show, args.arrivals, limit)
                        results[f"{size} liveness={liveness}"] = r
                        print(size, json.dumps(r), flush=True)
                    for viewers in (0, 1, 4):
                        r = await cpu_with_viewers(http, auth, url, viewers, args.cpu_seconds, args.cpu_max_fps)
                        results[f"{size} cpu viewers={viewers}"] = r
                        print(size, json.dumps(r), flush=True)
        finally:
            server.stop()
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--viewer":
        asyncio.run(viewer_main(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6])))
    else:
        asyncio.run(main())
