"""Prometheus `/metrics` (prometheus-client): requests by route template and status, request
latency, active sessions by kind, frames processed/dropped, model latency per stage, webhook
deliveries by outcome, outbox depth.

Multiprocess-safe: when `PROMETHEUS_MULTIPROC_DIR` is set (several worker processes), every
process writes its samples there and `/metrics` merges them all (prometheus_client.multiprocess);
otherwise each app has its own registry. Gauges read at scrape time (sessions, outbox depth) take
the live sum / the maximum across processes.
"""

from __future__ import annotations

import os
import time
from collections import deque
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

from api.openapi import operation
from events.delivery import outbox_depth
from sessions.telemetry import Telemetry

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class AppMetrics:
    """The series of one app; in multiprocess mode their values live in the shared directory."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("facestream_http_requests", "HTTP requests by route template and status",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("facestream_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.active_sessions = Gauge("facestream_active_sessions", "Sessions in progress by kind", ["kind"],
                                     registry=r, multiprocess_mode="livesum")
        self.frames = Counter("facestream_frames", "Video frames by outcome", ["outcome"], registry=r)
        self.model_latency = Histogram("facestream_model_latency_seconds", "Model time per frame by stage",
                                       ["stage"], buckets=LATENCY_BUCKETS, registry=r)
        self.webhook_deliveries = Counter("facestream_webhook_deliveries", "Webhook delivery attempts by outcome",
                                          ["outcome"], registry=r)
        self.outbox_depth = Gauge("facestream_webhook_outbox_depth", "Webhook deliveries still to make",
                                  registry=r, multiprocess_mode="max")

        # The last frames' (monotonic time, seconds) of this process: frames/s and latency percentiles
        # for /api/analytics/system-metrics/ (Prometheus keeps the full histograms).
        self.recent_frames: deque[tuple[float, float]] = deque(maxlen=4096)

    def frame_stats(self, horizon_s: float = 60.0) -> dict[str, float]:
        now = time.monotonic()
        recent = [took for at, took in self.recent_frames if now - at <= horizon_s]
        ordered = sorted(recent)

        def pct(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4) if ordered else 0.0

        return {"frames_per_second": round(len(recent) / horizon_s, 3), "p50_frame_latency": pct(0.5),
                "p95_frame_latency": pct(0.95)}

    def telemetry(self) -> Telemetry:
        def frame(stage: str, seconds: float) -> None:
            self.frames.labels("processed").inc()
            self.model_latency.labels(stage).observe(seconds)
            self.recent_frames.append((time.monotonic(), seconds))

        return Telemetry(frame=frame, dropped=lambda n: self.frames.labels("dropped").inc(n))

    def webhook_outcome(self, outcome: str) -> None:
        self.webhook_deliveries.labels(outcome).inc()

    def exposition(self) -> bytes:
        if multiprocess_dir():
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged)
        return generate_latest(self.registry)


METRICS = web.AppKey("metrics", AppMetrics)


def route_of(request: web.Request) -> str:
    """The route template (`/api/clients/users/{user_id}/`), never a concrete path: bounded labels."""
    info = request.match_info
    resource = info.route.resource if info is not None and info.route is not None else None
    if resource is None or info.http_exception is not None:
        return "unmatched"
    return resource.canonical


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    m = request.app[METRICS]
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = route_of(request)
        m.requests.labels(request.method, route, str(status)).inc()
        m.latency.labels(request.method, route).observe(time.perf_counter() - started)


@operation("Prometheus metrics (text exposition format)", tags="System", responses={200: None}, security=(),
           media="text/plain")
async def scrape(request: web.Request) -> web.Response:
    """Prometheus text format. Not behind API keys (scrapers); keep it on an internal network."""
    from api.keys import SESSION_SERVICES, SESSIONS, STORE

    m = request.app[METRICS]
    kinds = request.app[SESSION_SERVICES].live.kinds()
    kinds["stream"] = len(request.app[SESSIONS])
    for kind in ("enrollment", "authentication", "stream"):
        m.active_sessions.labels(kind).set(kinds.get(kind, 0))
    m.outbox_depth.set(await outbox_depth(request.app[STORE].engine))
    return web.Response(body=m.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _process_gone(app: web.Application) -> None:
    """Multiprocess mode: this process's live gauges stop counting once it exits cleanly."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(os.getpid())


def setup(app: web.Application) -> AppMetrics:
    m = AppMetrics()
    app[METRICS] = m
    app.middlewares.insert(0, metrics_middleware)
    app.router.add_get("/metrics", scrape)
    app.on_cleanup.append(_process_gone)
    return m
