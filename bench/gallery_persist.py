"""Large galleries from an index file: the 1M figures without building the HNSW graph in the
app (an hour on this machine's shared cores). The graph comes from `bench/ann_build.py` (same
synthetic faces, ids 1..n, hnswlib's own file); everything measured here is the app's code.

    python bench/gallery_persist.py direct --n 1000000 --hnsw /tmp/fs-1m/hnsw_m16_efc100.bin
        # our index file: write (plain and sealed) size and time, restore time (the start-up path),
        # search p50/p99 and recall@1 against exact search, memory per face
    python bench/gallery_persist.py service --n 1000000 --hnsw ... --db sqlite:////tmp/fs-1m/bench.db
        # n rows in the database, the file written at its version, then GalleryService start-up
        # to ready (/health's "loading" ends) with the file, and after 100 enrollments + deletions
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic_faces import Synthetic, clustered  # noqa: E402
from engine.ann_index import HnswIndex, HnswParams, auto_ef  # noqa: E402
from engine.gallery_index import Gallery  # noqa: E402
from storage import gallery_snapshot as files  # noqa: E402
from storage.crypto import EmbeddingCipher  # noqa: E402
from storage.gallery_versions import GalleryVersion  # noqa: E402
from storage.index_snapshots import IndexSnapshots  # noqa: E402
from storage.sql_store import SqlStore  # noqa: E402


def _rss() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _hnsw_from(path: str, dim: int, n: int) -> HnswIndex:
    """Bench only: an HnswIndex around a graph hnswlib saved (bench/ann_build.py)."""
    import hnswlib

    index = HnswIndex.__new__(HnswIndex)
    index._params = HnswParams()
    index._index = hnswlib.Index(space="ip", dim=dim)
    index._index.load_index(path, max_elements=n, allow_replace_deleted=True)
    index._index.set_ef(256)
    index._live = set(range(1, n + 1))
    return index


def _gallery(data: Synthetic, hnsw: str) -> Gallery:
    n = len(data.vectors)
    users = [f"p{i}" for i in data.identity.tolist()]
    gallery = Gallery()
    gallery.add_arrays(np.arange(1, n + 1, dtype=np.int64), users, [f"Person {u}" for u in users], data.vectors)
    gallery.compact()
    t = time.perf_counter()
    gallery.attach_index(_hnsw_from(hnsw, data.vectors.shape[1], n))
    print(f"hnswlib load_index of the prebuilt graph: {time.perf_counter() - t:.1f} s", flush=True)
    return gallery


def _search(gallery: Gallery, data: Synthetic, queries: int) -> None:
    probes, _ = data.probes(queries, seed=3)
    truth = np.concatenate([np.argmax(probes[i:i + 50] @ data.vectors.T, axis=1) for i in range(0, queries, 50)]) + 1
    users = [f"p{i}" for i in data.identity.tolist()]
    for ef in (256, 512, 0):  # 0: the default, auto_ef(gallery size)
        gallery._ann.set_ef(ef)  # type: ignore[union-attr]  # bench only: sweep the query breadth
        lat, cpu, face, user = [], [], 0, 0
        for p, want in zip(probes, truth.tolist()):
            t, c = time.perf_counter(), time.thread_time()
            found = gallery.search(p, k=5)
            lat.append((time.perf_counter() - t) * 1000)
            cpu.append((time.thread_time() - c) * 1000)
            face += found[0].entry_id == want
            user += found[0].user_id == users[want - 1]
        label = f"{ef}" if ef else f"auto ({auto_ef(len(gallery))})"
        print(f"search top-5 ef {label}: p50 {np.percentile(lat, 50):.2f} ms p99 {np.percentile(lat, 99):.2f} ms "
              f"(CPU p50 {np.percentile(cpu, 50):.2f} p99 {np.percentile(cpu, 99):.2f} ms); recall@1 "
              f"{face / queries:.4f} face {user / queries:.4f} user ({queries} probes, {_load()})", flush=True)


def direct(n: int, hnsw: str, queries: int) -> None:
    print(f"# direct n={n} {_load()}", flush=True)
    data = clustered(n)
    gallery = _gallery(data, hnsw)
    state_bytes = sum(v.nbytes for v in gallery.frozen(lambda ix: ix.state())[3].values()  # type: ignore[union-attr]
                      if isinstance(v, np.ndarray))
    print(f"memory: gallery matrix+ids {gallery.memory_bytes() / n:.0f} B/face; HNSW (graph + its own float32 "
          f"copy) {state_bytes / n:.0f} B/face", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="fs-persist-", dir="/tmp/fs-1m" if Path("/tmp/fs-1m").is_dir() else None))
    key = base64.b64encode(os.urandom(32)).decode()
    kinds = (("plain+crc32", EmbeddingCipher({}, "")),
             ("sealed AES-256-GCM", EmbeddingCipher.from_settings((f"k:{key}",), "k")))
    stores = {label: SqlStore(f"sqlite:///{tmp}/unused.db", cipher, recognizer="bench-model") for label, cipher in kinds}
    for label, store in stores.items():
        t, c = time.perf_counter(), time.process_time()
        size = IndexSnapshots(tmp / label.split()[0], store)._save((1, 1), GalleryVersion(1, "bench"), gallery, "bench")
        print(f"write {label}: {(size or 0) / 2**20:.0f} MiB in {time.perf_counter() - t:.1f} s "
              f"(CPU {time.process_time() - c:.1f} s) {_load()}", flush=True)
    del gallery
    for label, store in reversed(stores.items()):
        rss0 = _rss()
        t, c = time.perf_counter(), time.process_time()
        path = files.path_for(tmp / label.split()[0], 1, 1)
        version, restored = IndexSnapshots(tmp / label.split()[0], store)._load(path, 1, 1)
        print(f"restore {label} (the start-up path): {time.perf_counter() - t:.1f} s wall, "
              f"{time.process_time() - c:.1f} s CPU, RSS +{_rss() - rss0:.0f} MiB ({(_rss() - rss0) * 2**20 / n:.0f} "
              f"B/face: matrix, graph, id/name lists); {_load()}", flush=True)
        if label.startswith("plain"):
            _search(restored, data, queries)
        del restored
        path.unlink()
    print(f"# peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB {_load()}")


async def service(n: int, hnsw: str, db: str, fill_batch: int) -> None:
    from storage.cache import MemoryCache
    from storage.galleries import GalleryOptions, GalleryService
    from storage.records import NewFace

    print(f"# service n={n} db={db} {_load()}", flush=True)
    data = clustered(n)
    users = [f"p{i}" for i in data.identity.tolist()]
    store = SqlStore(db, EmbeddingCipher({}, ""), recognizer="bench-model")
    await store.open()
    root = Path(tempfile.mkdtemp(prefix="fs-persist-svc-", dir="/tmp/fs-1m" if Path("/tmp/fs-1m").is_dir() else None))
    client = (await store.create_client("bench")).client
    t = time.perf_counter()
    for start in range(0, n, fill_batch):
        end = min(n, start + fill_batch)
        ids, _ = await store.add_enrollments(client.id, 1, [NewFace(users[i], f"Person {users[i]}", data.vectors[i])
                                                            for i in range(start, end)])
        assert ids[0] == start + 1, "a fresh database: enrollment ids 1..n, the prebuilt graph's labels"
    print(f"fill {n} rows: {time.perf_counter() - t:.0f} s", flush=True)
    while not Path(hnsw).exists() or time.time() - Path(hnsw).stat().st_mtime < 10:  # a build still writing it
        await asyncio.sleep(5)
    gallery = _gallery(data, hnsw)
    version = await store.gallery_version(client.id, 1)
    snaps = IndexSnapshots(root, store)
    anchor = await store.gallery_anchor(client.id, 1, version.version)
    assert anchor is not None
    size = snaps._save((client.id, 1), version, gallery, anchor) or 0
    print(f"file written at version {version.version}: {size / 2**20:.0f} MiB", flush=True)
    del gallery
    for label in ("at the file's version", "after 100 enrollments and 100 deletions"):
        if label.startswith("after"):
            fresh, _ = await store.add_enrollments(client.id, 1, [NewFace(f"new{i}", "New", data.probes(1, seed=50 + i)[0][0])
                                                                  for i in range(100)])
            for entry_id in range(1, 101):
                await store.delete_enrollment(client.id, 1, entry_id)
        rss0 = _rss()
        t = time.perf_counter()
        svc = GalleryService(store, MemoryCache(), 60, GalleryOptions(preload_wait_max=0), snapshots=IndexSnapshots(root, store),
                             index_factory=lambda dim, cap: HnswIndex(dim, cap))
        await svc.start()
        while svc.load_state().loading:
            await asyncio.sleep(0.05)
        ready = time.perf_counter() - t
        g = await svc.gallery(client.id, 1)
        print(f"start-up to ready with the file, {label}: {ready:.1f} s ({len(g)} faces, indexed {g.indexed}, "
              f"RSS +{_rss() - rss0:.0f} MiB) {_load()}", flush=True)
        if label.startswith("after"):
            assert not any(i in g for i in range(1, 101)) and all(i in g for i in fresh)
        svc._snapshots = None  # bench: do not re-save 2 GB at close
        await svc.close()
        del g, svc
    t = time.perf_counter()  # for comparison: without a file (rows from the database; no index build)
    svc = GalleryService(store, MemoryCache(), 60, GalleryOptions(index="exact", preload_wait_max=0))
    await svc.start()
    while svc.load_state().loading:
        await asyncio.sleep(0.05)
    print(f"start-up to ready without a file (every row from the database, exact search, no index yet): "
          f"{time.perf_counter() - t:.1f} s {_load()}", flush=True)
    await svc.close()
    await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["direct", "service"])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--hnsw", required=True, help="hnswlib file from bench/ann_build.py with the same --n")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--db", default="")
    parser.add_argument("--fill-batch", type=int, default=5000)
    args = parser.parse_args()
    if args.mode == "direct":
        direct(args.n, args.hnsw, args.queries)
    else:
        asyncio.run(service(args.n, args.hnsw, args.db, args.fill_batch))


if __name__ == "__main__":
    main()
