"""Per-tenant 1:N galleries: loaded once, then moved forward in place from the change feed.

The truth about freshness is the tenant's version in the database (storage/gallery_versions.py),
bumped in the same transaction as every write that changes what the gallery matches, together
with change feed rows naming what changed (storage/gallery_feed.py). Each search reads the
version first (one small query). A memo at that version is served as is; a memo behind it is
moved forward by re-reading only the rows the feed names (an enrollment adds one vector, a
deletion removes one); only a memo the feed cannot bridge (pruned, reset) or a first use loads
the whole tenant, from the cache blob stored under a key naming the version or from the rows,
streamed in batches. A cache or notification outage therefore costs a catch-up or a reload,
never a stale answer. Redis notifications (storage/gallery_notify.py) only make other workers
catch up before their next search asks.

Deletions are strict, additions are not held up for: a copy that has every removal the database
has (`GalleryVersion.removed`) and lacks only faces added by other workers answers at once while
its catch-up runs in the background, so a burst of enrollments elsewhere never stalls searches
here (a face enrolled on another worker is searchable once its notification or the next search's
catch-up lands: milliseconds). A worker always answers with its own writes (read-your-writes),
and `matching.strict_additions` makes every search wait for every addition, as before.

Above `ann_threshold` faces (matching.index: auto) or always (ann) a gallery gets an
approximate index (engine/ann_index.py), built in a background thread while exact search goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from engine.gallery_index import Gallery, GalleryUnion, IndexFactory
from storage import gallery_feed
from storage.cache import Cache
from storage.gallery_notify import LocalNotifier, Notifier
from storage.gallery_blob import CacheStatus, SharedBlobs
from storage.gallery_versions import GalleryVersion
from storage.index_snapshots import IndexSnapshots
from storage.model_stamp import check_rows
from storage.records import Enrollment
from storage.sql_store import SqlStore

log = logging.getLogger(__name__)

_DELTA_CHUNK = 500  # ids per IN (...) query when re-reading changed rows


@dataclass(frozen=True)
class GalleryOptions:
    """matching.* settings the service needs (facestream/config.py documents them)."""

    index: str = "auto"  # auto | exact | ann
    ann_threshold: int = 20_000
    load_batch: int = 5_000
    preload: bool = True
    preload_wait_max: int = 10_000
    strict_additions: bool = False


@dataclass(frozen=True)
class LoadState:
    """What /health reports while galleries load at start."""

    loading: bool
    tenants_loaded: int
    tenants_total: int
    faces_loaded: int
    seconds: float


@dataclass
class _Memo:
    version: GalleryVersion
    gallery: Gallery


class GalleryService:
    def __init__(self, store: SqlStore, cache: Cache, ttl: int, options: GalleryOptions | None = None,
                 notifier: Notifier | None = None, index_factory: IndexFactory | None = None,
                 snapshots: IndexSnapshots | None = None) -> None:
        self._store = store
        self.blobs = SharedBlobs(cache, ttl, store.recognizer)
        self._options = options or GalleryOptions()
        self._notifier: Notifier = notifier or LocalNotifier()
        self._index_factory = index_factory
        self._snapshots = snapshots  # index files: restart without a rebuild (storage/index_snapshots.py)
        if snapshots is not None:
            snapshots.bind(lambda: self._local)
        self._local: dict[tuple[int, int], _Memo] = {}
        self._locks: dict[tuple[int, int], asyncio.Lock] = {}
        self._own: dict[tuple[int, int], int] = {}  # the newest version this process's writes made
        self._targets: dict[tuple[int, int], int] = {}  # where each running background catch-up heads
        self._tasks: set[asyncio.Task[None]] = set()
        self._builder: ThreadPoolExecutor | None = None
        self._building: set[tuple[int, int]] = set()
        self._unhook: list[Callable[[], None]] = []
        self._closing = False
        self._preload: tuple[int, int, int, float, float | None] = (0, 0, 0, 0.0, 0.0)  # done, total, faces, t0, t1
        self._started = False

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen for committed changes (here and, through Redis, in other workers) and load
        the stored galleries: awaited when small, in the background otherwise (`load_state`)."""
        if self._started:
            return
        self._started = True
        loop = asyncio.get_running_loop()
        self._unhook.append(gallery_feed.on_commit(self._store.engine, gallery_feed.loop_listener(loop, self._committed)))
        self._notifier.start(self._announced, self._resync)
        if self._snapshots is not None:
            self._snapshots.start()
        if not self._options.preload:
            return
        scopes = await self._store.gallery_scopes()
        self._preload = (0, len(scopes), 0, time.monotonic(), None)
        total = sum([await self._store.enrollment_count(c, t) for c, t in scopes]) if len(scopes) < 100 else None
        if total is not None and total <= self._options.preload_wait_max:
            await self._preload_all(scopes)
        else:
            self._spawn(self._preload_all(scopes))

    async def close(self) -> None:
        self._closing = True  # a running index build stops at its next chunk
        for unhook in self._unhook:
            unhook()
        self._unhook.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._notifier.close()
        if self._builder is not None:
            self._builder.shutdown(wait=True, cancel_futures=True)
            self._builder = None
        if self._snapshots is not None:
            await self._snapshots.close()  # saves what changed since the last save

    def loaded_version(self, client_id: int, tenant_id: int) -> int | None:
        """The version this worker's copy of the tenant is at (None: not loaded here)."""
        memo = self._local.get((client_id, tenant_id))
        return memo.version.version if memo is not None else None

    def load_state(self) -> LoadState:
        done, total, faces, t0, t1 = self._preload
        end = t1 if t1 is not None else time.monotonic()
        return LoadState(t1 is None and self._started and self._options.preload, done, total, faces,
                         round(end - t0, 3) if t0 else 0.0)

    async def _preload_all(self, scopes: list[tuple[int, int]]) -> None:
        done, faces, t0 = 0, 0, self._preload[3]
        for client_id, tenant_id in scopes:
            try:
                faces += len(await self.gallery(client_id, tenant_id))
            except Exception:
                log.exception("loading the gallery of tenant %s failed; it loads on first use", tenant_id)
            done += 1
            self._preload = (done, len(scopes), faces, t0, None)
        self._preload = (done, len(scopes), faces, t0, time.monotonic())
        log.info("galleries loaded: %d tenants, %d faces in %.1f s", done, faces, time.monotonic() - t0)

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _committed(self, client_id: int, tenant_id: int, seq: int) -> None:
        """A gallery write of this process committed: tell the others, catch up here."""
        scope = (client_id, tenant_id)
        self._own[scope] = max(self._own.get(scope, 0), seq)
        self._spawn(self._notifier.publish(client_id, tenant_id, seq))
        self._announced(client_id, tenant_id, seq)

    def _resync(self) -> None:
        """Notifications (re)subscribed: whatever was announced before is lost, so bring every
        loaded tenant up to date now rather than on its next search."""
        for client_id, tenant_id in list(self._local):
            self._catch_up_later(client_id, tenant_id, 0)

    def _announced(self, client_id: int, tenant_id: int, seq: int) -> None:
        memo = self._local.get((client_id, tenant_id))
        if memo is not None and memo.version.version < seq:
            self._catch_up_later(client_id, tenant_id, seq)

    def _catch_up_later(self, client_id: int, tenant_id: int, seq: int) -> None:
        """Move the tenant to at least `seq` in the background: one mover per tenant, which a
        burst of announcements only sends further (never a catch-up per notification)."""
        scope = (client_id, tenant_id)
        running = scope in self._targets
        self._targets[scope] = max(self._targets.get(scope, 0), seq)
        if not running:
            self._spawn(self._move(client_id, tenant_id))

    async def _move(self, client_id: int, tenant_id: int) -> None:
        """At least one catch-up, then more until the target is reached. SQLAlchemy's commit hook
        runs just before the database commit, so an announcement can outrun its own write: while
        the version does not show it, retry, backing off (the next search catches up anyway)."""
        scope = (client_id, tenant_id)
        delay, deadline = 0.002, time.monotonic() + 5.0
        try:
            while True:
                before = self.loaded_version(client_id, tenant_id) or 0
                await self._current(client_id, tenant_id, await self._store.gallery_version(client_id, tenant_id))
                have = self.loaded_version(client_id, tenant_id) or 0
                if have >= self._targets[scope]:
                    return
                if have > before:
                    delay, deadline = 0.002, time.monotonic() + 5.0
                elif time.monotonic() > deadline:
                    return
                else:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.1)
        except Exception:  # the next search tries again and reports
            log.warning("catching up the gallery of tenant %s failed", tenant_id, exc_info=True)
        finally:
            self._targets.pop(scope, None)

    # -- the gallery ----------------------------------------------------------------------------

    async def gallery(self, client_id: int, tenant_id: int, *, every_addition: bool = False) -> Gallery:
        """The tenant's gallery as of now: never without a removal committed before this call;
        without additions committed by other workers only while they are being caught up
        (`every_addition` or `matching.strict_additions` waits for those too)."""
        scope = (client_id, tenant_id)
        version = await self._store.gallery_version(client_id, tenant_id)
        memo = self._local.get(scope)
        if memo is not None and memo.version == version:
            return memo.gallery
        if memo is not None and not every_addition and self._lacks_only_additions(scope, memo, version):
            self._catch_up_later(client_id, tenant_id, version.version)
            return memo.gallery
        return await self._current(client_id, tenant_id, version)

    def _lacks_only_additions(self, scope: tuple[int, int], memo: _Memo, version: GalleryVersion) -> bool:
        have = memo.version.version
        return (not self._options.strict_additions and version.removed <= have < version.version
                and self._own.get(scope, 0) <= have)

    async def _current(self, client_id: int, tenant_id: int, version: GalleryVersion) -> Gallery:
        """The memo moved to `version` (caught up, restored or loaded), one mover per tenant."""
        scope = (client_id, tenant_id)
        memo = self._local.get(scope)
        if memo is not None and memo.version == version:
            return memo.gallery
        async with self._locks.setdefault(scope, asyncio.Lock()):
            memo = self._local.get(scope)
            if memo is not None and memo.version == version:
                return memo.gallery
            if memo is not None and memo.version.version > version.version and memo.version.stamp:
                return memo.gallery  # a concurrent catch-up already went further
            if memo is None and self._snapshots is not None and self._options.index != "exact":
                restored = await self._snapshots.restore(client_id, tenant_id)
                memo = _Memo(*restored) if restored is not None else None
                if memo is not None and memo.version == version:
                    self._local[scope] = memo
                    return memo.gallery
            if memo is not None and await self._catch_up(client_id, tenant_id, memo, version):
                self._local[scope] = memo  # (a restored memo, caught up from its file's version)
                self._maybe_index(scope, memo.gallery)
                return memo.gallery
            gallery = await self._full(client_id, tenant_id, version)
            self._local[scope] = _Memo(version, gallery)
            self._maybe_index(scope, gallery)
            return gallery

    async def _catch_up(self, client_id: int, tenant_id: int, memo: _Memo, version: GalleryVersion) -> bool:
        """Move the memo to `version` by re-reading the rows the feed names; False when the feed
        cannot bridge the gap (the caller reloads)."""
        if memo.version.version >= version.version:
            return False
        delta = await self._store.gallery_delta(client_id, tenant_id, memo.version.version, version.version)
        if delta is None:
            return False
        ids, users = sorted(delta.entry_ids), sorted(delta.user_ids)
        rows: list[Enrollment] = []
        for i in range(0, max(len(ids), len(users)), _DELTA_CHUNK):
            rows += await self._store.gallery_rows(client_id, tenant_id, entry_ids=ids[i : i + _DELTA_CHUNK],
                                                   user_ids=users[i : i + _DELTA_CHUNK])
        gallery = memo.gallery
        gallery.remove(ids)
        for user in users:
            gallery.remove_user(user)
        _add_rows(gallery, rows)
        memo.version = version
        return True

    async def _full(self, client_id: int, tenant_id: int, version: GalleryVersion) -> Gallery:
        gallery, cache_online = await self.blobs.get(client_id, tenant_id, version)
        if gallery is None:
            gallery = await self._load(client_id, tenant_id)
            if cache_online:
                await self.blobs.put(client_id, tenant_id, version, gallery)
        return gallery

    async def _load(self, client_id: int, tenant_id: int) -> Gallery:
        """Every row, in batches: memory stays at the gallery plus one batch of rows."""
        gallery = Gallery()
        async for rows in self._store.gallery_batches(client_id, tenant_id, self._options.load_batch):
            check_rows(tenant_id, (r.model_id for r in rows), self._store.recognizer)  # never a mixed search
            _add_rows(gallery, rows)
            await asyncio.sleep(0)  # let searches of loaded tenants run between batches
        gallery.compact()
        return gallery

    # -- approximate index ------------------------------------------------------------------------

    def _wants_index(self, gallery: Gallery) -> bool:
        mode = self._options.index
        if self._index_factory is None or mode == "exact":
            return False
        return mode == "ann" or len(gallery) >= self._options.ann_threshold

    def _maybe_index(self, scope: tuple[int, int], gallery: Gallery) -> None:
        if gallery.indexed or scope in self._building or not self._wants_index(gallery) or not len(gallery):
            if gallery.indexed and self._options.index == "auto" and len(gallery) < self._options.ann_threshold // 2:
                gallery.detach_index()  # shrunk well below the threshold: exact is faster again
            return
        if self._builder is None:
            self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gallery-index")
        self._building.add(scope)
        self._spawn(self._build(scope, gallery))

    async def _build(self, scope: tuple[int, int], gallery: Gallery) -> None:
        assert self._builder is not None and self._index_factory is not None
        started = time.monotonic()
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._builder, gallery.build_index, self._index_factory, 4096, lambda: self._closing)
            if gallery.indexed:
                log.info("gallery index of tenant %s built: %d faces in %.1f s", scope[1], len(gallery),
                         time.monotonic() - started)
                if self._snapshots is not None:
                    self._snapshots.changed()
        except Exception:
            log.exception("building the gallery index of tenant %s failed; exact search goes on", scope[1])
        finally:
            self._building.discard(scope)

    async def wait_indexed(self) -> None:
        """Until no index build is running (tests, benchmarks)."""
        while self._building:
            await asyncio.sleep(0.01)

    async def every_face(self, client_id: int, tenant_id: int) -> GalleryUnion:
        """Every stored face, deactivated users' included: what a duplicate check must see. The
        matching gallery (current, in place) plus the rows it leaves out, read fresh; never a
        reload of the whole tenant per enrollment."""
        parked = Gallery()
        rows = await self._store.parked_rows(client_id, tenant_id)
        check_rows(tenant_id, (r.model_id for r in rows), self._store.recognizer)
        _add_rows(parked, rows)
        return GalleryUnion([await self.gallery(client_id, tenant_id, every_addition=True), parked])

    async def invalidate(self, client_id: int, tenant_id: int) -> bool:
        """Make every worker reload the tenant (the database version is bumped, so this holds even
        when the cache is down); False if the shared cache was unreachable to drop the old blob."""
        old = await self._store.gallery_version(client_id, tenant_id)
        # Forgotten before the bump: its commit would otherwise catch this copy up at once, and
        # cache the new version, in the background (the feed says reset: a full reload next time).
        self._local.pop((client_id, tenant_id), None)
        await self._store.bump_gallery_version(client_id, tenant_id)
        return await self.blobs.drop(client_id, {tenant_id: old})

    async def invalidate_client(self, client_id: int) -> bool:
        """After a platform-user write, which bumped every tenant of the client in its own
        transaction with a change naming the user (so workers re-read just that user's rows):
        drop the tenants' shared blobs early, best effort, without forcing a reload; False if the
        shared cache was unreachable for any of them."""
        tenants = await self._store.tenant_ids(client_id)
        return await self.blobs.drop(client_id, {t: await self._store.gallery_version(client_id, t) for t in tenants})

    async def refresh(self, client_id: int, tenant_id: int) -> int:
        await self.invalidate(client_id, tenant_id)
        return len(await self.gallery(client_id, tenant_id))

    async def status(self, client_id: int, tenant_id: int) -> CacheStatus:
        version = await self._store.gallery_version(client_id, tenant_id)
        count = await self._store.enrollment_count(client_id, tenant_id)
        ttl, online = await self.blobs.ttl(client_id, tenant_id, version)
        return CacheStatus(tenant_id, ttl is not None, count, ttl, self.blobs.backend, online)


def _add_rows(gallery: Gallery, rows: list[Enrollment]) -> None:
    if rows:
        gallery.add_arrays(np.fromiter((r.id for r in rows), np.int64, len(rows)), [r.user_id for r in rows],
                           [r.name for r in rows], np.stack([r.embedding for r in rows]))
