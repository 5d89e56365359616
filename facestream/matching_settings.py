"""`matching.*`: thresholds, gallery search (exact or HNSW), gallery loading and index files.
Read by facestream/config.py; api/app.py turns them into the gallery service's options."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MatchingSettings:
    # Distance = 1 - cosine. 0 = the engine profile's calibrated threshold (engine/calibration.json,
    # written by bench/calibrate.py from shared/data/pairs.csv); load_config fills it in.
    threshold: float = 0.0
    top_k: int = 5
    # Gallery search: exact (numpy), ann (approximate index, engine/ann_index.py), or auto: ann
    # once a tenant has ann_threshold faces, exact below (fast enough there, and nothing to build).
    index: str = "auto"
    ann_threshold: int = 20_000
    load_batch: int = 5_000  # rows per query when a gallery loads at start
    preload: bool = True  # load every stored gallery at start (/health says "loading" meanwhile)
    preload_wait_max: int = 10_000  # start-up waits for the load up to this many faces in all
    # False: a search waits for every removal committed before it, and for this worker's own
    # additions, but not for faces another worker is adding at that moment (those land within
    # milliseconds, by notification); a burst of enrollments then never stalls searches. True:
    # every search waits for every committed addition too (storage/galleries.py).
    strict_additions: bool = False
    import_batch_max: int = 1_000  # faces per transaction of POST /enrollments/{tenant_id}/import
    # Indexed galleries are saved here (storage/gallery_snapshot.py) and restored at start, then
    # caught up from the change feed: a 1M-face restart without an index rebuild. "" = never.
    index_dir: str = "var/index"
    index_save_seconds: int = 300  # save an indexed gallery whose version moved this often (and at close)
    # HNSW graph (engine/ann_index.py): degree and build breadth are fixed when a tenant's index
    # is built; query breadth 0 = by gallery size (engine.ann_index.auto_ef). BENCHMARKS.md has
    # the recall each gave at 100k and 1M faces.
    hnsw_m: int = 32
    hnsw_ef_construction: int = 128
    hnsw_ef_search: int = 0
