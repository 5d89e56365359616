"""When a worker writes and reads its tenants' index files (storage/gallery_snapshot.py).

Restore: the first use of a tenant loads its file (off the event loop) and the gallery service
then catches it up from the change feed from the file's version; a missing, corrupt or stale
file (another model, key or database; a gap in the feed) means the usual load from the rows.
Save: after an index build, then every `interval` seconds for a tenant whose version moved, and
at close; in this object's own thread, never blocking searches for longer than one copy of
the graph under the gallery's lock (enrollments wait that long: ~1 s at 1M faces).
Only indexed galleries are saved: smaller ones load from the database in well under a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from engine.ann_index import HnswIndex, HnswParams
from engine.gallery_index import SPARE_ROWS, Gallery, index_spare
from storage import gallery_snapshot as files
from storage.gallery_versions import GalleryVersion
from storage.sql_store import SqlStore

log = logging.getLogger(__name__)


class MemoLike(Protocol):
    version: GalleryVersion
    gallery: Gallery


Scope = tuple[int, int]


class IndexSnapshots:
    def __init__(self, root: Path, store: SqlStore, interval: float = 300.0,
                 params: HnswParams = HnswParams()) -> None:
        self._root = Path(root)
        self._store = store
        self._interval = interval
        self._params = params
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gallery-snapshot")
        self._saved: dict[Scope, GalleryVersion] = {}
        self._wake = asyncio.Event()
        self._stop = False
        self._task: asyncio.Task[None] | None = None
        self._memos: Callable[[], Mapping[Scope, MemoLike]] = dict
        self._distrust: set[Scope] = set()  # a file that failed to load: rewrite it whatever its header says
        self.restored = 0  # galleries served from a file (health, tests)
        self.saved = 0

    def path(self, scope: Scope) -> Path:
        return files.path_for(self._root, *scope)

    # -- restore ------------------------------------------------------------------------------

    async def restore(self, client_id: int, tenant_id: int) -> tuple[GalleryVersion, Gallery] | None:
        path = self.path((client_id, tenant_id))
        if not path.exists():
            return None
        started = time.monotonic()
        try:
            header = files.read_header(path)
            anchor = await self._store.gallery_anchor(client_id, tenant_id, int(header.get("version", -1)))
            if anchor is None or anchor != header.get("anchor"):
                raise files.SnapshotError("written for another history of this tenant (another database or a backup)")
            version, gallery = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._load, path, client_id, tenant_id)
        except Exception as exc:  # any damage: the rows in the database are the truth
            log.warning("gallery index file of tenant %s not used (%s): loading from the database", tenant_id, exc)
            self._distrust.add((client_id, tenant_id))
            return None
        self._saved[(client_id, tenant_id)] = version
        self.restored += 1
        log.info("gallery index of tenant %s restored: %d faces at version %d in %.1f s", tenant_id, len(gallery),
                 version.version, time.monotonic() - started)
        return version, gallery

    def _load(self, path: Path, client_id: int, tenant_id: int) -> tuple[GalleryVersion, Gallery]:
        snap = files.read(path, model_id=self._store.recognizer, client_id=client_id, tenant_id=tenant_id,
                          cipher=self._store.cipher)
        if not snap.version.shareable:
            raise files.SnapshotError("unversioned")
        vectors = HnswIndex.vectors_of_state(snap.index_state, snap.ids)  # checks ids == the live labels
        # The room a build and a load leave (a file may have none left), allocated, not copied.
        n = len(snap.ids)
        index = HnswIndex.restore(snap.index_state, snap.ids, self._params, spare=index_spare(n))
        gallery = Gallery(dim=vectors.shape[1])
        gallery.reserve(n + int(n * SPARE_ROWS))
        gallery.add_arrays(snap.ids, snap.users, snap.names, vectors)
        gallery.attach_index(index)
        return snap.version, gallery

    # -- save -----------------------------------------------------------------------------------

    def bind(self, memos: Callable[[], Mapping[Scope, MemoLike]]) -> None:
        """Where the galleries to save are (the gallery service's memos)."""
        self._memos = memos

    def start(self) -> None:
        """The periodic save (needs the running loop)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def changed(self) -> None:
        """An index was built: save soon."""
        self._wake.set()

    async def _run(self) -> None:
        while not self._stop:
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            if not self._stop:
                await self.save_all()

    async def save_all(self) -> None:
        """Save every indexed gallery whose version moved since it was saved or restored."""
        for scope, memo in list(self._memos().items()):
            version = memo.version  # read before the rows are copied: the file may be newer, never older
            if not memo.gallery.indexed or not version.shareable or self._saved.get(scope) == version:
                continue
            try:
                anchor = await self._store.gallery_anchor(scope[0], scope[1], version.version)
                if anchor is None:
                    continue  # the feed no longer holds this version: a file could not be tied to it
                size = await asyncio.get_running_loop().run_in_executor(self._pool, self._save, scope, version,
                                                                        memo.gallery, anchor)
            except Exception:
                log.exception("saving the gallery index of tenant %s failed", scope[1])
                continue
            if size is not None:
                self._saved[scope] = version
                self.saved += 1

    def _save(self, scope: Scope, version: GalleryVersion, gallery: Gallery, anchor: str) -> int | None:
        started = time.monotonic()
        path = self.path(scope)
        try:
            if scope in self._distrust:
                raise files.SnapshotError("distrusted")
            on_disk = files.read_header(path)
            if (on_disk.get("version", -1), on_disk.get("stamp")) == (version.version, version.stamp) or \
                    on_disk.get("version", -1) > version.version:
                return 0  # another worker saved this version (or a later one) already
        except (OSError, ValueError, files.SnapshotError):
            pass
        frozen = gallery.frozen(_state)
        if frozen is None:
            return None
        ids, users, names, state = frozen
        snap = files.Snapshot(version, anchor, ids, users, names, state)
        size = files.write(path, snap, model_id=self._store.recognizer, dim=gallery.dim or 0, client_id=scope[0],
                           tenant_id=scope[1], cipher=self._store.cipher)
        if size is not None:
            self._distrust.discard(scope)
        if size:
            log.info("gallery index of tenant %s saved: %d faces at version %d, %.0f MiB in %.1f s", scope[1],
                     len(ids), version.version, size / 2**20, time.monotonic() - started)
        return size

    async def close(self) -> None:
        """Stop the timer, then save what changed (a clean shutdown restarts from the file)."""
        self._stop = True
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._stop = False
        try:
            await self.save_all()
        finally:
            self._stop = True
            self._pool.shutdown(wait=True)


def _state(index: Any) -> dict[str, Any]:
    return index.state()  # type: ignore[no-any-return]
