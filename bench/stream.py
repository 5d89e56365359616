"""N concurrent WebRTC streams against the real server: per-frame latency, fps, dropped frames.

Each stream is an aiortc client sending `video/blink_live.mp4` letterboxed to 640×480 at 15 fps
over real WebRTC (VP8, DTLS, SRTP, SCTP) to the app on a localhost port. Latency is the wall time
from the moment a frame left the client's track to the moment its `faces` event arrived on the
data channel.

By default the server runs in its own process (`facestream` as deployed: its own event loop and
GIL) and the clients send the clip VP8-encoded once up front (the same libvpx settings aiortc
uses, at aiortc's top bitrate): a phone or browser encodes on its own CPU, not the server's.
The clients' transport (RTP, SRTP, DTLS, SCTP) still runs on the same two cores. `--inline`
restores the earlier setup (app and clients in one process and event loop, each client
encoding live), whose figures earlier BENCHMARKS.md tables hold.

The server reports frames by RTP timestamp, which aiortc offsets by a random origin; the first
frame a stream sends is a keyframe the server always processes (the next one follows 0.5 s
later, so it cannot replace it), so the first event's timestamp is that origin.

Each level also prints the server's CPU ms per processed frame over the measured window (with
`--inline` the whole process's, the clients' encoders included): it does not grow with other
processes' load the way latency does (the machine is shared).

Run: `python bench/stream.py [--seconds 12] [--levels 1,2,4,6,8] [--overload 8x30:60] [--inline]`.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import av
import psutil
import yaml
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer
from aiortc.codecs import vpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app  # noqa: E402
from api.keys import STORE  # noqa: E402
from bench.server_process import app_process  # noqa: E402
from facestream.config import load_config  # noqa: E402
from testkit.rtc_client import CLOCK, FrameTrack, RtcPeer, video_source, video_source_frames  # noqa: E402

WARMUP_S = 2.0
FIRST_FRAME_LEAD_S = 0.5  # the first frame alone: it dates the stream's RTP timestamps
CLIP_S, CLIP_FPS = 8.0, 15.0


@cache
def vp8_clip(bitrate: int = vpx.MAX_BITRATE) -> tuple[bytes, ...]:
    """The clip encoded once with aiortc's own libvpx settings (aiortc/codecs/vpx.py): one
    keyframe, then inter frames, one packet per frame (realtime, no lag)."""
    frames = video_source_frames(CLIP_S, CLIP_FPS)
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
    codec.bit_rate, codec.gop_size, codec.qmin, codec.qmax = bitrate, 3000, 2, 56
    codec.time_base = fractions.Fraction(1, CLOCK)
    codec.options = {
        "bufsize": str(bitrate), "cpu-used": "-6", "deadline": "realtime", "lag-in-frames": "0",
        "minrate": str(bitrate), "maxrate": str(bitrate), "noise-sensitivity": "4", "overshoot-pct": "15",
        "partitions": "0", "static-thresh": "1", "undershoot-pct": "100",
    }
    out = []
    for i, frame in enumerate(frames):
        frame = frame.reformat()
        frame.pts, frame.time_base = round(i * CLOCK / CLIP_FPS), codec.time_base
        out.append(b"".join(bytes(p) for p in codec.encode(frame)))
    if not all(out):
        raise RuntimeError("libvpx held frames back: expected one packet per frame")
    return tuple(out)


def encoded_source() -> Callable[[int], bytes]:
    packets = vp8_clip()
    return lambda i: packets[i % len(packets)]  # the loop restarts on the keyframe


class TimedPeer(RtcPeer):
    """An RtcPeer that stamps each event with its arrival time."""

    def __init__(self, http: TestClient, headers: dict[str, str]) -> None:
        super().__init__(http, headers)
        self.arrivals: list[tuple[float, dict]] = []

    def _on_message(self, message: str) -> None:
        self.arrivals.append((time.monotonic(), json.loads(message)))
        super()._on_message(message)


@dataclass
class StreamStats:
    latencies_ms: list[float] = field(default_factory=list)
    by_time: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, ms)
    processed: int = 0
    dropped: int = 0
    received: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0  # whole-process CPU over the measured window (first stream of a level only)

    @property
    def fps(self) -> float:
        return self.processed / self.seconds if self.seconds else 0.0


def measure(peer: TimedPeer, track: FrameTrack, fps: float, started: float, ended: float) -> StreamStats:
    stats = StreamStats(seconds=ended - started - WARMUP_S)
    step = round(CLOCK / fps)
    origin: int | None = None
    for arrived, event in peer.arrivals:
        payload = event["payload"]
        if event["type"] == "session_status":
            stats.dropped, stats.received = payload["dropped_frames"], payload["frame_count"]
        if event["type"] != "faces" or payload.get("frame_pts") is None:
            continue
        if origin is None:
            origin = payload["frame_pts"]
        pts = (payload["frame_pts"] - origin) % 2**32
        sent = track.sent.get(round(pts / step) * step)
        if sent is None or arrived - started < WARMUP_S or arrived > ended:
            continue
        stats.processed += 1
        stats.latencies_ms.append((arrived - sent) * 1000)
        stats.by_time.append((arrived - started, (arrived - sent) * 1000))
    return stats


@dataclass
class Target:
    """Where the streams go: an HTTP client for the app and the process whose CPU is counted."""

    http: Any  # aiohttp TestClient (inline) or ClientSession with base_url (own process)
    headers: dict[str, str]
    server: psutil.Process
    encoded: bool  # clients send pre-encoded VP8

    def cpu(self) -> float:
        times = self.server.cpu_times()
        return times.user + times.system


async def run_level(target: Target, n: int, fps: float, seconds: float) -> list[StreamStats]:
    peers = [TimedPeer(target.http, target.headers) for _ in range(n)]
    source = encoded_source if target.encoded else (lambda: video_source(seconds=CLIP_S, fps=CLIP_FPS))
    tracks = [FrameTrack(source(), fps=fps, lead_s=FIRST_FRAME_LEAD_S) for _ in range(n)]
    for peer in peers:
        await peer.create(mode="identification", require_liveness=True, timeout=seconds + 30)
    await asyncio.gather(*(p.connect(t) for p, t in zip(peers, tracks)))
    started = time.monotonic()
    await asyncio.sleep(WARMUP_S)
    cpu_started = target.cpu()
    await asyncio.sleep(seconds - WARMUP_S)
    ended = time.monotonic()
    cpu = target.cpu() - cpu_started
    await asyncio.sleep(1.2)  # one more session_status with the final counters
    await asyncio.gather(*(p.close() for p in peers))
    streams = [measure(p, t, fps, started, ended) for p, t in zip(peers, tracks)]
    streams[0].cpu_s = cpu
    return streams


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(n: int, fps: float, streams: list[StreamStats]) -> None:
    lat = [v for s in streams for v in s.latencies_ms]
    # Load-independent(ish): the server's process (with --inline, the clients' encoders too).
    cpu_ms = streams[0].cpu_s * 1000 / max(sum(s.processed for s in streams), 1)
    print(
        f"N={n:2d} @ {fps:g} fps: latency p50 {pct(lat, 0.5):6.1f} ms  p99 {pct(lat, 0.99):6.1f} ms | "
        f"processed fps per stream {statistics.mean(s.fps for s in streams):5.1f} "
        f"(min {min(s.fps for s in streams):4.1f}) | dropped {sum(s.dropped for s in streams)} of "
        f"{sum(s.received for s in streams)} received | server CPU {cpu_ms:5.1f} ms per processed frame, "
        f"{streams[0].cpu_s / streams[0].seconds:4.2f} cores",
        flush=True,
    )


def report_over_time(streams: list[StreamStats], window: float = 10.0) -> None:
    points = sorted(p for s in streams for p in s.by_time)
    if not points:
        return
    end = points[-1][0]
    start = WARMUP_S
    while start < end:
        chunk = [ms for t, ms in points if start <= t < start + window]
        if chunk:
            print(f"  t={start:5.0f}-{start + window:3.0f} s: p50 {pct(chunk, 0.5):6.1f} ms  p99 {pct(chunk, 0.99):6.1f} ms  n={len(chunk)}")
        start += window


def overrides_of(database_url: str, settings: list[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {"storage.database_url": database_url, "rate_limits.enabled": False}
    overrides.update((k, yaml.safe_load(v)) for k, v in (item.split("=", 1) for item in settings))
    return overrides


@asynccontextmanager
async def own_process(overrides: dict[str, Any]) -> AsyncIterator[Target]:
    async with app_process(overrides, client="bench") as served, ClientSession(base_url=served.url) as http:
        assert served.authorization is not None
        yield Target(http, {"Authorization": served.authorization}, served.process, encoded=True)


@asynccontextmanager
async def same_process(overrides: dict[str, Any]) -> AsyncIterator[Target]:
    async with TestClient(TestServer(create_app(load_config(env={}, overrides=overrides)))) as http:
        made = await http.app[STORE].create_client("bench")
        headers = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
        yield Target(http, headers, psutil.Process(), encoded=False)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=12.0, help="measured seconds per level")
    parser.add_argument("--levels", default="1,2,4,6,8")
    parser.add_argument("--overload", default="8x30:60", help="N x fps : seconds; empty to skip")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config override")
    parser.add_argument("--inline", action="store_true",
                        help="app and clients in this process, clients encoding live (the earlier setup)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        overrides = overrides_of(f"sqlite:///{tmp}/bench.db", args.set)
        config = load_config(env={}, overrides=overrides)
        cfg = config.server, config.engine
        mode = ("one process, clients encode live" if args.inline
                else "server in its own process, clients send pre-encoded VP8")
        print(f"server: inference_threads={cfg[0].inference_threads} intra_op_threads={cfg[1].intra_op_threads}"
              f" detect_every={config.recognition.detect_every} {' '.join(args.set)} | {mode}", flush=True)
        if not args.inline:
            vp8_clip()  # encoded before any stream starts
        start = same_process if args.inline else own_process
        async with start(overrides) as target:
            for n in (int(x) for x in args.levels.split(",") if x):
                report(n, 15.0, await run_level(target, n, 15.0, args.seconds))
            if args.overload:
                spec, seconds = args.overload.split(":")
                n, fps = spec.split("x")
                streams = await run_level(target, int(n), float(fps), float(seconds))
                print("overload, latency over time (newest-frame-wins keeps it bounded):")
                report(int(n), float(fps), streams)
                report_over_time(streams)


if __name__ == "__main__":
    asyncio.run(main())
