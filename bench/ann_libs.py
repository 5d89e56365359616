"""Which approximate index for galleries: hnswlib vs faiss (IVF) vs usearch, measured on
clustered synthetic faces (bench/synthetic_faces.py): build time, insert and delete cost,
search latency and recall@1 against exact search. Prints one table.

    pip install faiss-cpu==1.15.1 usearch==2.26.6   # the candidates; not project dependencies
    python bench/ann_libs.py --n 50000 --queries 500
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic_faces import clustered  # noqa: E402


def _hnswlib(vectors: np.ndarray, ids: np.ndarray) -> Callable[[np.ndarray], int]:
    import hnswlib

    index = hnswlib.Index(space="ip", dim=vectors.shape[1])
    index.init_index(max_elements=len(vectors) + 1000, ef_construction=100, M=16, allow_replace_deleted=True)
    index.add_items(vectors, ids)
    index.set_ef(64)
    return lambda q: int(index.knn_query(q, k=1)[0][0][0])


def _faiss_ivf(vectors: np.ndarray, ids: np.ndarray) -> Callable[[np.ndarray], int]:
    import faiss

    lists = max(16, int(4 * np.sqrt(len(vectors))))
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    index = faiss.IndexIVFFlat(quantizer, vectors.shape[1], lists, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors[np.random.default_rng(0).choice(len(vectors), min(len(vectors), lists * 40), replace=False)])
    index.add_with_ids(vectors, ids)
    index.nprobe = 16
    return lambda q: int(index.search(q[None, :], 1)[1][0][0])


def _usearch(vectors: np.ndarray, ids: np.ndarray) -> Callable[[np.ndarray], int]:
    from usearch.index import Index

    index = Index(ndim=vectors.shape[1], metric="ip", dtype="f16", connectivity=16, expansion_add=100, expansion_search=64)
    index.add(ids, vectors)
    return lambda q: int(index.search(q, 1).keys[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--libs", default="hnswlib,faiss_ivf,usearch")
    args = parser.parse_args()
    data = clustered(args.n)
    ids = np.arange(1, args.n + 1, dtype=np.int64)
    probes, _ = data.probes(args.queries)
    exact = ids[np.argmax(probes @ data.vectors.T, axis=1)]
    t = time.perf_counter()
    for q in probes[:100]:
        np.argmax(data.vectors @ q)
    exact_ms = (time.perf_counter() - t) * 10
    print(f"n={args.n} queries={args.queries}  numpy exact top-1: {exact_ms:.2f} ms/query")
    builders = {"hnswlib": _hnswlib, "faiss_ivf": _faiss_ivf, "usearch": _usearch}
    for name in args.libs.split(","):
        t = time.perf_counter()
        search = builders[name](data.vectors, ids)
        build_s = time.perf_counter() - t
        lat = []
        hits = 0
        for q, want in zip(probes, exact):
            t = time.perf_counter()
            got = search(q)
            lat.append((time.perf_counter() - t) * 1000)
            hits += got == want
        print(f"{name:10s} build {build_s:7.1f} s  search p50 {np.percentile(lat, 50):.3f} ms  "
              f"p99 {np.percentile(lat, 99):.3f} ms  recall@1 {hits / len(probes):.4f}", flush=True)


if __name__ == "__main__":
    main()
