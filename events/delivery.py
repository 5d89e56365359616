"""The webhook delivery worker: one per process, owned by the app (start / close).

It claims due outbox rows (`UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)` on
PostgreSQL, so several processes never take the same row; on SQLite the single UPDATE statement is
the one claimer, serialised by the database lock), posts each with bounded time and a bounded read
of the answer, and records every attempt as a log row in the same transaction as the row's new
state. A claim is a lease: rows of a process that died mid-delivery come back once it runs out,
so nothing is lost; a 2xx answer marks the row delivered and it is never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from events import js_json, signing, targets
from events.settings import WorkerSettings
from events.webhook_store import secret_aad
from storage.background import stop_tasks
from storage.crypto import EmbeddingCipher, EmbeddingCryptoError
from storage.events_schema import webhook_deliveries as D, webhook_endpoints as W, webhook_events as V, webhook_logs as L
from storage.timestamps import as_utc, iso_millis

log = logging.getLogger(__name__)

Outcome = Callable[[str], None]  # "success" | "retry" | "failed": for the metrics


@dataclass(frozen=True)
class Job:
    delivery_id: str
    client_id: int
    attempt: int  # this attempt's number, from 1
    max_attempts: int
    event_id: str
    event_type: str
    data: dict[str, Any]
    event_at: datetime
    endpoint_id: str
    url: str
    secret: str | None  # None: sealed with a key that is no longer configured (the attempt fails, logged)
    is_active: bool
    backoff_strategy: str
    retry_delay: float


async def release(conn: AsyncConnection, delivery_ids: list[str]) -> None:
    await conn.execute(D.update().where(D.c.id.in_(delivery_ids)).values(status="pending", lease_until=None))


def body_bytes(job: Job) -> bytes:
    """The seeds' envelope plus the delivery id, serialised once: the signature covers these bytes
    (written as JavaScript's JSON.stringify writes them, so the documents' Express receivers that
    sign the re-serialised body verify too: events/js_json.py)."""
    envelope = {"event": job.event_type, "data": job.data, "timestamp": iso_millis(job.event_at),
                "webhook_id": job.endpoint_id, "delivery_id": job.delivery_id}
    return js_json.dumps(envelope).encode()


def retry_delay(strategy: str, base: float, attempt: int, cap: float, jitter: float, rng: random.Random) -> float:
    """Wait after failed attempt number `attempt` (1-based): exponential doubles, linear adds."""
    factor = {"exponential": 2.0 ** (attempt - 1), "linear": float(attempt)}.get(strategy, 1.0)
    return min(cap, base * factor) * rng.uniform(1.0 - jitter, 1.0 + jitter)


class DeliveryWorker:
    def __init__(self, engine: AsyncEngine, settings: WorkerSettings, cipher: EmbeddingCipher,
                 on_outcome: Outcome | None = None) -> None:
        self._engine = engine
        self._cipher = cipher  # opens the endpoints' sealed signing secrets (events/webhook_store.py)
        self._s = settings
        self._on_outcome = on_outcome or (lambda outcome: None)
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._per_endpoint: Counter[str] = Counter()
        self._per_client: Counter[int] = Counter()
        self._http: aiohttp.ClientSession | None = None
        self._resolver: signing.PublicOnlyResolver | None = None
        self._rng = random.SystemRandom()
        self._lease = timedelta(seconds=settings.request_timeout_s + settings.lease_margin_s)

    def start(self) -> None:
        self._resolver = None if self._s.allow_private_targets else signing.PublicOnlyResolver()
        connector = aiohttp.TCPConnector(resolver=self._resolver, limit=self._s.max_in_flight)
        self._http = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(
            total=self._s.request_timeout_s), auto_decompress=False)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="webhook-delivery")

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        """Stop the loop after its round, give attempts in flight a grace period, cancel the rest
        (their leases run out; another round retries them). storage/background.py says why."""
        self._closing = True
        self._wake.set()
        await stop_tasks([self._task])
        await stop_tasks(list(self._inflight))
        self._task = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._resolver is not None:
            await self._resolver.close()
            self._resolver = None

    async def _run(self) -> None:
        while not self._closing:
            try:
                jobs = await self.claim()
            except Exception:  # the database may be briefly away; try again next round
                log.warning("webhooks: claiming failed", exc_info=True)
                jobs = []
            if self._closing:
                await self._release([job.delivery_id for job in jobs])
                return
            for job in jobs:
                self._per_endpoint[job.endpoint_id] += 1
                self._per_client[job.client_id] += 1
                task = asyncio.get_running_loop().create_task(self._deliver(job), name=f"webhook-{job.delivery_id}")
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            if len(jobs) >= self._s.batch_size:
                continue  # more may be due
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: no helper task per wait
                async with asyncio.timeout(self._s.poll_interval_s):
                    await self._wake.wait()
            self._wake.clear()

    async def claim(self) -> list[Job]:
        """Due rows, within three shares: per endpoint, per client and the process's connection
        pool (a claimed row never waits for a socket inside the HTTP client, where the wait would
        count against its request timeout)."""
        room = min(self._s.batch_size, self._s.max_in_flight - sum(self._per_endpoint.values()))
        if room <= 0:
            return []
        now = datetime.now(timezone.utc)
        full = [ep for ep, n in self._per_endpoint.items() if n >= self._s.per_endpoint_concurrency]
        busy = [c for c, n in self._per_client.items() if n >= self._s.per_client_concurrency]
        due = sa.or_(sa.and_(D.c.status == "pending", D.c.next_attempt_at <= now),
                     sa.and_(D.c.status == "in_progress", D.c.lease_until < now))
        pick = sa.select(D.c.id).where(due)
        if full:
            pick = pick.where(D.c.endpoint_id.notin_(full))
        if busy:
            pick = pick.where(D.c.client_id.notin_(busy))
        pick = pick.order_by(D.c.next_attempt_at).limit(room).with_for_update(skip_locked=True)
        async with self._engine.begin() as conn:
            claimed = await conn.execute(D.update().where(D.c.id.in_(pick.scalar_subquery())).values(
                status="in_progress", lease_until=now + self._lease).returning(D.c.id))
            ids = [r.id for r in claimed]
            if not ids:
                return []
            rows = (await conn.execute(sa.select(
                D.c.id, D.c.client_id, D.c.attempts, D.c.max_attempts, D.c.event_id, D.c.endpoint_id,
                V.c.event_type, V.c.data, V.c.created_at, W.c.url, W.c.secret, W.c.is_active, W.c.backoff_strategy,
                W.c.retry_delay,
            ).select_from(D.join(V, V.c.id == D.c.event_id).join(W, W.c.id == D.c.endpoint_id)).where(
                D.c.id.in_(ids)).order_by(D.c.next_attempt_at))).all()
            jobs, excess, taken, by_client = [], [], Counter(self._per_endpoint), Counter(self._per_client)
            for r in rows:
                if (taken[r.endpoint_id] >= self._s.per_endpoint_concurrency
                        or by_client[r.client_id] >= self._s.per_client_concurrency):
                    excess.append(r.id)  # over this endpoint's or client's share: back to the queue at once
                    continue
                taken[r.endpoint_id] += 1
                by_client[r.client_id] += 1
                jobs.append(Job(r.id, r.client_id, int(r.attempts) + 1, int(r.max_attempts), r.event_id,
                                r.event_type, dict(r.data), as_utc(r.created_at), r.endpoint_id, r.url,
                                self._open_secret(r.client_id, r.endpoint_id, r.secret),
                                bool(r.is_active), r.backoff_strategy, float(r.retry_delay)))
            if excess:
                await release(conn, excess)
        return jobs

    async def _release(self, delivery_ids: list[str]) -> None:
        """Claimed rows this process will not work (closing): back to the queue at once."""
        if delivery_ids:
            async with self._engine.begin() as conn:
                await release(conn, delivery_ids)

    def _open_secret(self, client_id: int, endpoint_id: str, stored: str) -> str | None:
        try:
            return self._cipher.open_text(stored, secret_aad(client_id, endpoint_id))
        except EmbeddingCryptoError as exc:
            log.error("webhooks: the signing secret of endpoint %s cannot be opened: %s", endpoint_id, exc)
            return None

    async def _deliver(self, job: Job) -> None:
        try:
            status, snippet, error, took = await self._post(job)
            await self._record(job, status, snippet, error, took)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhooks: delivery %s could not be recorded", job.delivery_id)
        finally:
            capped = (self._per_endpoint[job.endpoint_id] >= self._s.per_endpoint_concurrency
                      or self._per_client[job.client_id] >= self._s.per_client_concurrency
                      or sum(self._per_endpoint.values()) >= self._s.max_in_flight)
            if capped:
                self._wake.set()  # rows held back by a share may be due: claim them now, not next poll
            self._per_endpoint[job.endpoint_id] -= 1
            if self._per_endpoint[job.endpoint_id] <= 0:
                del self._per_endpoint[job.endpoint_id]
            self._per_client[job.client_id] -= 1
            if self._per_client[job.client_id] <= 0:
                del self._per_client[job.client_id]

    async def _post(self, job: Job) -> tuple[int | None, str | None, str | None, float]:
        if not job.is_active:
            return None, None, "endpoint is deactivated", 0.0
        if job.secret is None:
            return None, None, "signing secret cannot be decrypted: its encryption key is not configured", 0.0
        assert self._http is not None
        body = body_bytes(job)
        hdrs = signing.headers(job.secret, body, event=job.event_type, delivery_id=job.delivery_id,
                               attempt=job.attempt, sent_at=int(time.time()))
        started = time.perf_counter()
        try:
            if not self._s.allow_private_targets:  # aiohttp never asks the resolver about IP literals
                targets.check_host(targets.url_host(job.url))  # the host exactly as aiohttp will use it
            async with self._http.post(job.url, data=body, headers=hdrs, allow_redirects=False) as resp:
                raw = bytearray()
                while len(raw) < self._s.max_response_bytes:
                    chunk = await resp.content.read(self._s.max_response_bytes - len(raw))
                    if not chunk:
                        break
                    raw += chunk
                return resp.status, bytes(raw[:1024]).decode("utf-8", "replace"), None, time.perf_counter() - started
        except signing.TargetRefused as exc:
            return None, None, f"target refused: {exc}", time.perf_counter() - started
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            text = "timed out" if isinstance(exc, asyncio.TimeoutError) else f"{type(exc).__name__}: {exc}"
            return None, None, text[:500], time.perf_counter() - started

    async def _record(self, job: Job, status: int | None, snippet: str | None, error: str | None, took: float) -> None:
        ok = status is not None and 200 <= status < 300
        now = datetime.now(timezone.utc)
        if ok:
            values: dict[str, Any] = dict(status="delivered", delivered_at=now)
            outcome = "success"
        elif job.attempt >= job.max_attempts or not job.is_active:
            values, outcome = dict(status="failed"), "failed"
        else:
            wait = retry_delay(job.backoff_strategy, job.retry_delay, job.attempt, self._s.max_delay_s,
                               self._s.jitter, self._rng)
            values, outcome = dict(status="pending", next_attempt_at=now + timedelta(seconds=wait)), "retry"
        if error is None and not ok:
            error = f"HTTP {status}"
        try:
            await self._write_outcome(job, ok, status, snippet, error, took, now, values)
        except sa.exc.IntegrityError:  # the endpoint (and its deliveries) was deleted meanwhile
            log.info("webhook delivery %s vanished with its endpoint; attempt not logged", job.delivery_id)
            return
        self._on_outcome(outcome)
        log.info("webhook %s to %s: attempt %d %s (%s)", job.event_type, job.url, job.attempt, outcome,
                 status if status is not None else error)

    async def _write_outcome(self, job: Job, ok: bool, status: int | None, snippet: str | None, error: str | None,
                             took: float, now: datetime, values: dict[str, Any]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(L.insert().values(
                client_id=job.client_id, delivery_id=job.delivery_id, endpoint_id=job.endpoint_id,
                event_id=job.event_id, event_type=job.event_type, url=job.url[:2048], attempt=job.attempt,
                status="success" if ok else "failed", response_status=status, response_body=snippet,
                error=error, duration_ms=round(took * 1000.0, 3), created_at=now,
            ))
            await conn.execute(D.update().where(D.c.id == job.delivery_id).values(
                attempts=job.attempt, lease_until=None, **values))


async def outbox_depth(engine: AsyncEngine, client_id: int | None = None) -> int:
    """Rows still to deliver (pending or in flight): one client's, or every client's (None)."""
    where = [D.c.status.in_(("pending", "in_progress"))]
    if client_id is not None:
        where.append(D.c.client_id == client_id)
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(D).where(*where))).scalar_one())
