"""CPU seconds per processed frame of the stream frame processor, a load-independent figure.

The wall-clock stream bench (bench/stream.py) is noisy on a shared machine; CPU time is not.
This feeds `video/blink_live.mp4` letterboxed to 640×480 at 15 fps (as the stream bench sends
it, without the VP8 round trip) through one `FrameProcessor` per session, the way live sessions
call it, and reports whole-process CPU ms per frame (onnxruntime's threads included) and the
per-stage wall ms the processor reports. `--tree` runs another checkout's code (e.g. the stop-7
code exported with `git archive 946ee2a | tar -x -C /tmp/stop7`) on the same frames.

Run: `python bench/stream_cpu.py [--passes 2] [--sessions 1] [--set section.key=value]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", default=str(HERE), help="checkout whose engine/recognition code runs")
    parser.add_argument("--passes", type=int, default=2, help="times through the 14 s clip (a new session each)")
    parser.add_argument("--sessions", type=int, default=1, help="sessions interleaved frame by frame")
    parser.add_argument("--threads", type=int, default=0,
                        help="run the sessions' frames on a pool of this many threads, as the server's inference pool "
                             "does (0: one after another on this thread); CPU per frame is then the process's total")
    parser.add_argument("--video", default="", help="another clip of ../shared/data/video (default: the blink clip)")
    parser.add_argument("--challenges", default="blink", help="asked of every track (the stream bench draws blink + "
                        "another kind the clip cannot perform: --challenges blink,turn_left)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config override")
    args = parser.parse_args()
    sys.path.insert(0, args.tree)
    sys.path.insert(1, str(HERE))  # testkit/media.py for the frames (same in every checkout)
    import yaml

    from engine.face_engine import FaceEngine
    from facestream.config import load_config
    from recognition.processor import FrameProcessor
    from testkit.media import letterbox, video_frames

    overrides = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    config = load_config(env={}, overrides=overrides)
    engine = FaceEngine(config.engine, config.quality)
    calls = _count_calls(engine)
    frames = [(t, letterbox(img)) for t, img in (_clip(args.video) if args.video else video_frames(15.0, 14.0))]
    challenges = tuple(c for c in args.challenges.split(",") if c)
    cpu_ms: list[float] = []
    stages: dict[str, list[float]] = {}
    tracks: set[int] = set()  # track ids of the last pass
    observed = ended = sampled = 0
    for _ in range(args.passes):
        procs = [FrameProcessor(engine, config.recognition, config.liveness, challenges) for _ in range(args.sessions)]
        if args.threads:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(args.threads) as pool:
                started, wall = time.process_time(), time.perf_counter()
                for t, pixels in frames:  # every session's frame i, concurrently; then frame i + 1
                    for result in pool.map(lambda p: p.process(pixels, t), procs):
                        tracks.update(tr.track_id for tr in result.tracks)
                        observed += len(result.tracks)
                per = (time.process_time() - started) * 1000 / (len(frames) * len(procs))
                cpu_ms.extend([per] * (len(frames) * len(procs)))
                print(f"  pool of {args.threads}: {len(frames) * len(procs) / (time.perf_counter() - wall):.1f} frames/s wall")
            for proc in procs:
                proc.close()
            continue
        for t, pixels in frames:
            for proc in procs:
                started = time.process_time()
                result = proc.process(pixels, t)
                cpu_ms.append((time.process_time() - started) * 1000)
                tracks.update(tr.track_id for tr in result.tracks)
                observed += len(result.tracks)
                ended += len(result.dropped_tracks)
                sampled += sum(tr.sample is not None for tr in result.tracks)
                for name, ms in (getattr(result, "timings", None) or {}).items():
                    if ms is not None:
                        stages.setdefault(name, []).append(ms)
        for proc in procs:
            if hasattr(proc, "close"):
                proc.close()
    total = sum(cpu_ms)
    print(f"tree {args.tree} challenges {args.challenges} {' '.join(args.set)}: {len(cpu_ms)} frames, CPU ms/frame mean {total / len(cpu_ms):.2f} "
          f"median {statistics.median(cpu_ms):.2f}")
    print(f"  tracks: {observed} face observations, {len(tracks)} track ids in the last pass, {ended} track ends, "
          f"{sampled} embeddings sampled")
    for name, (n, cpu) in calls.items():
        print(f"  {name:22s} {n:4d} calls, {n / len(cpu_ms):.2f}/frame, CPU ms/call {cpu / max(n, 1):6.2f}, "
              f"share of CPU {cpu / total:5.1%}")
    for name, values in stages.items():
        print(f"  {name:9s} wall ms: mean {statistics.mean(values):6.2f} over {len(values)} frames")


def _clip(name: str) -> list[tuple[float, object]]:
    """(media time, BGR frame) of a shared clip resampled to 15 fps, as testkit.media does."""
    import av

    from testkit.data import DATA

    out, next_t = [], 0.0
    with av.open(str(DATA / "video" / name)) as container:
        for frame in container.decode(video=0):
            t = float(frame.time or 0.0)
            if t + 1e-6 >= next_t:
                out.append((t, frame.to_ndarray(format="bgr24")))
                next_t += 1 / 15
    return out


def _count_calls(engine: object) -> dict[str, list[float]]:
    """Wrap the model calls (and the MediaPipe landmarker, where the checkout has one) to count
    them and the process CPU they take: which part of a frame's cost moved between checkouts."""
    import importlib

    counts: dict[str, list[float]] = {}

    def wrap(owner: object, attr: str, label: str) -> None:
        inner = getattr(owner, attr)
        counts[label] = [0, 0.0]

        def timed(*a: object, **k: object) -> object:
            started = time.process_time()
            try:
                return inner(*a, **k)
            finally:
                counts[label][0] += 1
                counts[label][1] += (time.process_time() - started) * 1000

        setattr(owner, attr, timed)

    wrap(engine.detector, "detect", "detector")  # type: ignore[attr-defined]
    wrap(engine.embedder, "embed", "embedder")  # type: ignore[attr-defined]
    if getattr(engine, "landmarks", None) is not None:
        wrap(engine.landmarks, "predict", "2d106")  # type: ignore[attr-defined]
    quality = importlib.import_module("engine.quality")
    wrap(quality, "assess", "quality")
    try:
        mesh = importlib.import_module("engine.mediapipe_landmarks")
        wrap(mesh.MeshLandmarker, "observe", "mediapipe")
    except ImportError:
        pass
    try:
        liveness = importlib.import_module("engine.liveness")
        wrap(liveness.LivenessTracker, "observe", "liveness")
    except (ImportError, AttributeError):
        pass
    return counts


if __name__ == "__main__":
    main()
