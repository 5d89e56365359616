"""The approximate gallery index: recall against exact search on clustered faces, deletes and
inserts after the build, a build that runs while the gallery changes, and the service switching
to it above the threshold without ever blocking a search."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from bench.synthetic_faces import clustered
from engine.ann_index import HnswParams, auto_ef, hnsw_factory
from engine.gallery_index import Gallery
from facestream.config import ConfigError, load_config
from storage.cache import MemoryCache
from storage.galleries import GalleryOptions, GalleryService
from storage.sql_store import SqlStore

FACTORY = hnsw_factory(HnswParams(threads=1))


def _gallery(n: int, seed: int = 0) -> tuple[Gallery, np.ndarray]:
    data = clustered(n, seed=seed)
    ids = np.arange(1, n + 1, dtype=np.int64)
    gallery = Gallery()
    gallery.add_arrays(ids, [f"p{i}" for i in data.identity.tolist()], [f"Person {i}" for i in data.identity.tolist()],
                       data.vectors)
    probes, _ = data.probes(300, seed=seed + 1)
    return gallery, probes


def test_ann_recall_at_1_against_exact_search_on_clustered_faces() -> None:
    gallery, probes = _gallery(4000)
    exact = [gallery.search(p, k=5) for p in probes]
    gallery.build_index(FACTORY)
    assert gallery.indexed
    approx = [gallery.search(p, k=5) for p in probes]
    recall = np.mean([a[0].entry_id == e[0].entry_id for a, e in zip(approx, exact)])
    assert recall >= 0.99, recall
    # Scores are re-computed exactly: a hit found by both has the same similarity.
    same = [(a[0].similarity, e[0].similarity) for a, e in zip(approx, exact) if a[0].entry_id == e[0].entry_id]
    assert all(abs(x - y) < 1e-6 for x, y in same)
    assert all(len({m.user_id for m in a}) == 5 for a in approx)  # top-5 distinct users


def test_deleted_faces_are_never_returned_and_new_ones_are_found_at_once() -> None:
    gallery, probes = _gallery(2000, seed=3)
    gallery.build_index(FACTORY)
    targets = [gallery.search(p, k=1)[0] for p in probes[:50]]
    removed = {m.entry_id for m in targets}
    assert gallery.remove(removed) == len(removed)
    for p in probes[:50]:
        assert not {m.entry_id for m in gallery.search(p, k=5)} & removed
    # A new face right where a probe is: the index finds it without a rebuild.
    gallery.add_arrays(np.array([900_001], np.int64), ["newcomer"], ["New Comer"], probes[:1])
    hit = gallery.search(probes[0], k=1)[0]
    assert (hit.entry_id, hit.user_id) == (900_001, "newcomer") and hit.similarity == pytest.approx(1.0, abs=1e-5)


def test_an_index_built_while_the_gallery_changes_holds_those_changes() -> None:
    gallery, probes = _gallery(2500, seed=5)
    victims = [gallery.search(p, k=1)[0].entry_id for p in probes[:40]]
    worker = threading.Thread(target=gallery.build_index, args=(FACTORY, 256))  # small chunks: rows move between
    worker.start()
    gallery.remove(victims)  # during the build (searches go on, exact meanwhile)
    gallery.add_arrays(np.arange(800_000, 800_010, dtype=np.int64), [f"n{i}" for i in range(10)],
                       [f"N{i}" for i in range(10)], probes[100:110])
    assert gallery.search(probes[100], k=1)[0].entry_id == 800_000
    worker.join(timeout=120)
    assert gallery.indexed
    for i, p in enumerate(probes[:40]):
        assert victims[i] not in {m.entry_id for m in gallery.search(p, k=5)}
    for i in range(10):
        assert gallery.search(probes[100 + i], k=1)[0].entry_id == 800_000 + i
    # Every live row made it into the index, moved ones included: each finds itself first.
    for entry in gallery.entries()[::10]:
        assert gallery.search(entry.embedding, k=1)[0].entry_id == entry.entry_id


async def test_service_builds_the_index_in_the_background_above_the_threshold(store: SqlStore) -> None:
    c = (await store.create_client("c")).client
    data = clustered(200, seed=9)
    for i, vec in enumerate(data.vectors[:120]):
        await store.add_enrollment(c.id, 1, f"p{data.identity[i]}", "x", vec, 0.9)
    service = GalleryService(store, MemoryCache(), 60, GalleryOptions(index="auto", ann_threshold=120),
                             index_factory=FACTORY)
    try:
        gallery = await service.gallery(c.id, 1)
        probe = data.probes(1, seed=4)[0][0]
        expected = gallery.search(probe, k=3)  # answered exactly while the index builds
        await service.wait_indexed()
        assert gallery.indexed and [m.entry_id for m in gallery.search(probe, k=3)] == [m.entry_id for m in expected]
        exact_only = GalleryService(store, MemoryCache(), 60, GalleryOptions(index="exact", ann_threshold=1),
                                    index_factory=FACTORY)
        assert not (await exact_only.gallery(c.id, 1)).indexed
    finally:
        await service.close()


def test_matching_index_setting_is_checked() -> None:
    assert load_config(env={}, overrides={"matching.index": "ann"}).matching.index == "ann"
    with pytest.raises(ConfigError, match="matching.index"):
        load_config(env={}, overrides={"matching.index": "fast"})
    for bad in ({"matching.hnsw_m": 2}, {"matching.hnsw_m": 64, "matching.hnsw_ef_construction": 32},
                {"matching.hnsw_ef_search": -1}):
        with pytest.raises(ConfigError, match="hnsw"):
            load_config(env={}, overrides=bad)


def test_the_configured_graph_is_what_the_app_builds_and_query_breadth_grows_with_the_gallery() -> None:
    from api.app import build_galleries

    config = load_config(env={}, overrides={"matching.hnsw_m": 24, "matching.hnsw_ef_construction": 48,
                                            "storage.database_url": "sqlite:///:memory:", "matching.index_dir": ""})
    service = build_galleries(config, SqlStore(config.storage.database_url), MemoryCache())
    index = service._index_factory(512, 100)  # type: ignore[misc]
    assert (index._index.M, index._index.ef_construction) == (24, 48)
    assert [auto_ef(n) for n in (1_000, 100_000, 400_000, 1_000_000, 10**8)] == [128, 128, 388, 808, 2048]
    assert [auto_ef(n, m=16) for n in (1_000, 100_000, 1_000_000)] == [256, 256, 1615]  # an older, sparser graph
    gallery, probes = _gallery(300)
    index.add(np.arange(1, 301, dtype=np.int64), np.stack([e.embedding for e in gallery.entries()]))
    assert len(index.query(probes[0], 5)) == 5
    assert index._index.ef == 256  # auto up to 100k faces, for a graph sparser than M32
    dense = hnsw_factory(HnswParams())(512, 300)  # the default M32
    dense.add(np.arange(1, 301, dtype=np.int64), np.stack([e.embedding for e in gallery.entries()]))
    dense.query(probes[0], 5)
    assert dense._index.ef == 128
    fixed = hnsw_factory(HnswParams(ef_search=77))(512, 10)
    fixed.add(np.arange(1, 11, dtype=np.int64), probes[:10])
    fixed.query(probes[0], 5)
    assert fixed._index.ef == 77


def test_a_stopped_build_attaches_nothing_and_exact_search_goes_on() -> None:
    gallery, probes = _gallery(600, seed=11)
    expected = gallery.search(probes[0], k=3)
    gallery.build_index(FACTORY, chunk=100, stop=lambda: True)  # shutdown while building
    assert not gallery.indexed and gallery.search(probes[0], k=3) == expected
    gallery.build_index(FACTORY, chunk=100)  # nothing left half-built: a later build works
    assert gallery.indexed and [m.entry_id for m in gallery.search(probes[0], k=3)] == [m.entry_id for m in expected]
