"""Gallery scale: clustered synthetic faces (bench/synthetic_faces.py), measured directly on the
gallery and through the real app. Prints one figure a line; keep runs bounded (2 shared cores).

    python bench/gallery.py direct --n 100000          # search p50/p99 exact and ANN, recall, build, memory
    python bench/gallery.py app --n 10000               # fill via POST /enrollments/{t}/import, then
        # /identify server-side search time, enrollment-to-searchable on the same and another worker
        # (Redis notifications), search p99 during a burst of enrollments, start-up load time, /health

Needs Redis on 127.0.0.1:6379 for the two-worker figures (db 15, a unique key prefix).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic_faces import clustered  # noqa: E402

REDIS = "redis://127.0.0.1:6379/15"
PROBE = "faces/barack_obama/obama2.jpg"
ENROLLED = "faces/barack_obama/obama.jpg"


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- direct --------------------------------------------------------------------------------------


def direct(n: int, queries: int, ann: bool, efs: list[int], build_threads: int) -> None:
    from engine.ann_index import HnswParams, hnsw_factory
    from engine.gallery_index import Gallery

    print(f"# direct, n={n}, {_load()}")
    data = clustered(n)
    ids = np.arange(1, n + 1, dtype=np.int64)
    users = [f"p{i}" for i in data.identity.tolist()]
    rss0 = _rss_mib()
    t = time.perf_counter()
    gallery = Gallery()
    for start in range(0, n, 5000):
        end = min(n, start + 5000)
        gallery.add_arrays(ids[start:end], users[start:end], users[start:end], data.vectors[start:end])
    gallery.compact()
    print(f"load {n} rows into Gallery: {(time.perf_counter() - t) * 1000:.0f} ms; vectors+ids "
          f"{gallery.memory_bytes() / n:.0f} B/face; process RSS +{_rss_mib() - rss0:.0f} MiB "
          f"(incl. the Python lists of ids and names)")
    probes, _ = data.probes(queries)
    exact_lat, exact_top = [], []
    for p in probes:
        t = time.perf_counter()
        found = gallery.search(p, k=5)
        exact_lat.append((time.perf_counter() - t) * 1000)
        exact_top.append((found[0].entry_id, found[0].user_id))
    print(f"exact top-5 search: p50 {_pct(exact_lat, 50):.2f} ms  p99 {_pct(exact_lat, 99):.2f} ms")
    t = time.perf_counter()
    gallery.add_arrays(np.array([10**9], np.int64), ["new"], ["new"], probes[:1])
    gallery.remove([10**9])
    print(f"one add + one remove in place: {(time.perf_counter() - t) * 1000:.3f} ms")
    if not ann:
        return
    rss1 = _rss_mib()
    t = time.perf_counter()
    gallery.build_index(hnsw_factory(HnswParams(threads=build_threads)))
    print(f"HNSW build (M16, efC100, {build_threads} thread(s)): {time.perf_counter() - t:.1f} s; "
          f"RSS +{_rss_mib() - rss1:.0f} MiB")
    for ef in efs:
        gallery._ann.set_ef(ef)  # type: ignore[union-attr]  # bench only: sweep the query breadth
        lat, hits, user_hits = [], 0, 0
        for p, (want, want_user) in zip(probes, exact_top):
            t = time.perf_counter()
            found = gallery.search(p, k=5)
            lat.append((time.perf_counter() - t) * 1000)
            hits += found[0].entry_id == want
            user_hits += found[0].user_id == want_user
        print(f"ANN top-5 search, ef {ef} (exact re-score): p50 {_pct(lat, 50):.3f} ms  p99 {_pct(lat, 99):.3f} ms  "
              f"recall@1 {hits / len(probes):.4f} (face) {user_hits / len(probes):.4f} (user: what /identify "
              f"answers)", flush=True)
    t = time.perf_counter()
    for i in range(100):
        gallery.add_arrays(np.array([10**9 + i], np.int64), ["new"], ["new"], probes[i % len(probes)][None, :])
    print(f"ANN insert: {(time.perf_counter() - t) * 10:.3f} ms/face")
    print(f"# peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, {_load()}")


# -- through the app ------------------------------------------------------------------------------


async def _analyze(store: Any) -> None:
    """What PostgreSQL's autovacuum does within its naptime (a minute) after a bulk load: without
    statistics the planner reads a one-row catch-up through the tenant index and scans every
    row of the tenant (11 ms at 100k)."""
    import sqlalchemy as sa

    if store.engine.dialect.name == "postgresql":
        async with store.engine.begin() as conn:
            await conn.execute(sa.text("ANALYZE face_enrollments"))


async def _prefill_with_file(config: Any, data: Any, hnsw: str) -> Any:
    """--hnsw: fill the database (ids 1..n) through an exact-only app, then write the tenant's
    index file from the prebuilt graph at the database's version, so the measured app restores
    it at start instead of building for minutes (bench/gallery_persist.py, bench/ann_build.py)."""
    from aiohttp.test_utils import TestClient, TestServer

    from api.app import create_app
    from api.keys import CONFIG, STORE
    from bench.gallery_persist import _hnsw_from
    from engine.gallery_index import Gallery
    from storage.index_snapshots import IndexSnapshots
    from storage.records import NewFace

    n = len(data.vectors)
    pre = TestClient(TestServer(create_app(config(**{"matching.index": "exact"}))))
    await pre.start_server()
    store = pre.app[STORE]
    made = await store.create_client("bench")
    cid = made.client.id
    users = [str(1_000_000 + int(i)) for i in data.identity.tolist()]
    t0 = time.perf_counter()
    for start in range(0, n, 1000):
        end = min(n, start + 1000)
        ids, _ = await store.add_enrollments(cid, 1, [NewFace(users[i], f"Person {users[i]}", data.vectors[i])
                                                      for i in range(start, end)])
        assert ids[0] == start + 1
    print(f"fill (store, 1000 a transaction): {time.perf_counter() - t0:.1f} s", flush=True)
    await _analyze(store)
    gallery = Gallery()
    gallery.add_arrays(np.arange(1, n + 1, dtype=np.int64), users, [f"Person {u}" for u in users], data.vectors)
    gallery.attach_index(_hnsw_from(hnsw, data.vectors.shape[1], n))
    version = await store.gallery_version(cid, 1)
    anchor = await store.gallery_anchor(cid, 1, version.version)
    IndexSnapshots(Path(pre.app[CONFIG].matching.index_dir), store)._save((cid, 1), version, gallery, anchor)
    await pre.close()
    return made


async def app_bench(n: int, queries: int, burst: int, db_url: str | None, fill: str, hnsw: str = "",
                    pace_ms: float = 0.0, strict_additions: bool = False) -> None:
    from aiohttp import ClientSession
    from aiohttp.test_utils import TestClient, TestServer

    from api.app import create_app
    from api.keys import ENGINE, GALLERIES, STORE
    from bench.server_process import app_process
    from facestream.config import load_config
    from storage.records import NewFace
    from testkit.data import read
    from testkit.helpers import form

    tmp = tempfile.mkdtemp(prefix="fs-gallery-bench-")
    prefix = f"bench15:{uuid.uuid4().hex[:8]}:"
    overrides = {"storage.database_url": db_url or f"sqlite:///{tmp}/bench.db", "cache.url": REDIS,
                 "cache.key_prefix": prefix, "rate_limits.enabled": False, "matching.index_dir": f"{tmp}/index",
                 "matching.strict_additions": strict_additions}
    print(f"# app, n={n}, strict_additions={strict_additions}, searches "
          f"{f'every {pace_ms} ms' if pace_ms else 'back to back'}, {_load()}")

    def config(**extra: Any) -> Any:
        return load_config(env={}, overrides={**overrides, **extra})

    data = clustered(n)
    prefilled = await _prefill_with_file(config, data, hnsw) if hnsw else None
    t = time.perf_counter()
    a = TestClient(TestServer(create_app(config())))
    await a.start_server()
    engine = a.app[ENGINE]
    while (await a.get("/health")).status != 200:
        await asyncio.sleep(0.02)
    print(f"worker start-up to ready: {time.perf_counter() - t:.1f} s (models included)", flush=True)
    made = prefilled or await a.app[STORE].create_client("bench")
    auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    cid = made.client.id
    tenant = 1
    real = engine.embedding_of(engine.decode(read(ENROLLED)))
    t0 = time.perf_counter()
    batch = 1000
    vectors = data.vectors.copy()
    if not hnsw:  # (with a prebuilt graph the rows must be its vectors: the probe then matches nobody)
        vectors[0] = real
    for start in range(0, n if not hnsw else 0, batch):
        end = min(n, start + batch)
        who = [1 if i == 0 else 1_000_000 + int(data.identity[i]) for i in range(start, end)]
        if fill == "api":
            rounded = np.round(vectors[start:end].astype(np.float64), 6).tolist()  # short reprs: ~5 MB a 1000
            items = [{"user_id": u, "name": f"Person {u}", "encoding": e} for u, e in zip(who, rounded)]
            resp = await a.post(f"/enrollments/{tenant}/import", data=json.dumps(items),
                                headers={**auth, "Content-Type": "application/json"})
            assert resp.status == 200, await resp.text()
        else:  # the store method the import route calls, without JSON on both sides
            await a.app[STORE].add_enrollments(cid, tenant, [
                NewFace(str(u), f"Person {u}", vectors[i]) for u, i in zip(who, range(start, end))])
    fill_s = time.perf_counter() - t0
    await _analyze(a.app[STORE])
    print(f"fill ({fill}, {batch} a transaction): {fill_s:.1f} s = {n / fill_s:.0f} faces/s")

    # /identify: server-side search time (version check + catch-up + search) from `timings`.
    image = read(PROBE)
    resp = await a.post("/identify", data=form(image, tenant_id=tenant), headers=auth)
    print(f"first /identify after the fill (loads the gallery): search {(await resp.json())['timings']['search']:.0f} ms")
    search_ms, total_ms = [], []
    for _ in range(queries):
        resp = await a.post("/identify", data=form(image, tenant_id=tenant), headers=auth)
        body = await resp.json()
        assert resp.status == 200 and (hnsw or body["user_id"] == 1), body
        search_ms.append(body["timings"]["search"])
        total_ms.append(body["timings"]["total"])
    print(f"/identify server-side search: p50 {_pct(search_ms, 50):.2f} ms  p99 {_pct(search_ms, 99):.2f} ms "
          f"(whole request p50 {_pct(total_ms, 50):.0f} ms, models included)")

    # A second worker on the same database and Redis: start-up load and /health.
    t = time.perf_counter()
    b = TestClient(TestServer(create_app(config(**{"matching.preload_wait_max": 0}), engine=engine)))
    await b.start_server()
    health = await b.get("/health")
    first = (health.status, (await health.json())["status"])
    while (await b.get("/health")).status != 200:
        await asyncio.sleep(0.02)
    print(f"second worker start-up to ready ({n} faces): {time.perf_counter() - t:.2f} s; /health said "
          f"{first[0]} {first[1]!r} at first")

    # Enrollment to searchable, on the same worker (next search) and the other (notification).
    ga, gb = a.app[GALLERIES], b.app[GALLERIES]
    gallery_b = await gb.gallery(cid, tenant)
    same, other = [], []
    for i in range(20):
        vec = data.probes(1, seed=100 + i)[0][0]
        item = [{"user_id": 5_000_000 + i, "name": "New", "encoding": [float(v) for v in vec]}]
        t = time.perf_counter()
        resp = await a.post(f"/enrollments/{tenant}/import", json=item, headers=auth)
        new_id = (await resp.json())["enrollment_ids"][0]
        done = time.perf_counter()
        hit = (await ga.gallery(cid, tenant)).search(vec, k=1)[0]
        assert hit.entry_id == new_id
        same.append((time.perf_counter() - done) * 1000)
        while new_id not in gallery_b:
            assert time.perf_counter() - done < 10, (
                "the other worker never heard of the enrollment", gb.loaded_version(cid, tenant),
                (await b.app[STORE].gallery_version(cid, tenant)).version, (await gb.gallery(cid, tenant)) is gallery_b)
            await asyncio.sleep(0.0005)
        other.append((time.perf_counter() - done) * 1000)
    print(f"enrollment -> searchable after the write returns: same worker p50 {_pct(same, 50):.2f} ms "
          f"p99 {_pct(same, 99):.2f} ms; other worker (Redis notification, no search) p50 {_pct(other, 50):.2f} ms "
          f"max {max(other):.2f} ms")

    # Search latency idle vs during a burst of enrollments (service level: version check + search).
    probes, _ = data.probes(200, seed=7)

    fetches: list[float] = []  # the gallery() part of each search (version check, any wait)

    async def searches(count: int) -> list[float]:
        out = []
        for p in probes[:count]:
            t = time.perf_counter()
            gallery = await ga.gallery(cid, tenant)
            fetches.append((time.perf_counter() - t) * 1000)
            gallery.search(p, k=5)
            out.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(max(0.0, t + pace_ms / 1000 - time.perf_counter()))
        return out

    idle = await searches(200)
    checks = []
    for _ in range(100):
        t = time.perf_counter()
        await a.app[STORE].gallery_version(cid, tenant)
        checks.append((time.perf_counter() - t) * 1000)
    pure = []
    gallery_a = await ga.gallery(cid, tenant)
    for p in probes:
        t = time.perf_counter()
        gallery_a.search(p, k=5)
        pure.append((time.perf_counter() - t) * 1000)
    print(f"of which: the database version check p50 {_pct(checks, 50):.2f} / p99 {_pct(checks, 99):.2f} ms; "
          f"the in-memory search p50 {_pct(pure, 50):.2f} / p99 {_pct(pure, 99):.2f} ms")

    await b.close()

    # The burst goes to a third worker in its own process (as workers run in production): on the
    # measured worker's event loop it would measure the other worker's request parsing instead.
    async def enrol_burst(url: str) -> None:
        async with ClientSession(base_url=url) as http:
            for i in range(burst):
                vec = data.probes(1, seed=1000 + i)[0][0]
                resp = await http.post(f"/enrollments/{tenant}/import", headers=auth, json=[
                    {"user_id": 6_000_000 + i, "name": "Burst", "encoding": [float(v) for v in vec]}])
                assert resp.status == 200, await resp.text()

    async with app_process({**overrides, "matching.preload_wait_max": 0}) as other:
        async with ClientSession(base_url=other.url) as http:
            while (await http.get("/health")).status != 200:
                await asyncio.sleep(0.05)
        before = ga.loaded_version(cid, tenant) or 0
        fetches.clear()
        during_task = asyncio.create_task(enrol_burst(other.url))
        during: list[float] = []
        while not during_task.done():
            during += await searches(20)
        await during_task
    caught_up = (ga.loaded_version(cid, tenant) or 0) - before
    print(f"search (version check + search) idle p50 {_pct(idle, 50):.2f} / p99 {_pct(idle, 99):.2f} ms; during "
          f"{burst} enrollments on another worker process p50 {_pct(during, 50):.2f} / p99 {_pct(during, 99):.2f} ms "
          f"({len(during)} searches; this worker moved {caught_up} versions meanwhile; of which the gallery fetch "
          f"p50 {_pct(fetches, 50):.2f} / p99 {_pct(fetches, 99):.2f} ms)")
    await a.close()
    print(f"# {_load()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["direct", "app"])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-ann", action="store_true")
    parser.add_argument("--ef", default="64,128,256", help="direct mode: HNSW query breadths to measure")
    parser.add_argument("--build-threads", type=int, default=1, help="direct mode: HNSW build threads (app: 1)")
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--fill", choices=["api", "store"], default="api",
                        help="app mode: fill through POST /import, or straight through the store (faster)")
    parser.add_argument("--hnsw", default="", help="app mode: a prebuilt graph of the same n (bench/ann_build.py): "
                        "the app restores it from an index file instead of building")
    parser.add_argument("--db", default=None, help="database URL for app mode (default: a temporary SQLite file)")
    parser.add_argument("--pace-ms", type=float, default=0.0, help="app mode: start a search every this many ms "
                        "(0: back to back, the searching process then takes a whole core of the two)")
    parser.add_argument("--strict-additions", action="store_true", help="app mode: matching.strict_additions")
    args = parser.parse_args()
    if args.mode == "direct":
        direct(args.n, args.queries, not args.no_ann, [int(e) for e in args.ef.split(",")], args.build_threads)
    else:
        asyncio.run(app_bench(args.n, min(args.queries, 300), args.burst, args.db, args.fill, args.hnsw,
                              args.pace_ms, args.strict_additions))


if __name__ == "__main__":
    main()
