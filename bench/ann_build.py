"""Build one HNSW index of n clustered synthetic faces (bench/synthetic_faces.py, ids 1..n) and
save it with hnswlib's own format, so a slow 1M build (run it niced) is done once and then
measured by `python bench/gallery_persist.py`. Prints build time, progress and recall@1 per face
and per user against exact search.

    nice -n 19 python bench/ann_build.py --n 1000000 --m 32 --efc 128 --threads 2 --out /tmp/fs-1m/hnsw.bin
    python bench/ann_build.py --n 1000000 --load /tmp/fs-1m/hnsw.bin --queries 1000 --ef 256,800,1600
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic_faces import clustered  # noqa: E402
from engine.ann_index import HnswIndex, HnswParams  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--efc", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--ef", default="128,256")
    parser.add_argument("--out", default="")
    parser.add_argument("--load", default="", help="measure a graph saved by --out (same --n) instead of building")
    args = parser.parse_args()
    print(f"# n={args.n} M={args.m} efC={args.efc} threads={args.threads} load {os.getloadavg()}", flush=True)
    t = time.perf_counter()
    data = clustered(args.n)
    print(f"data {time.perf_counter() - t:.1f} s", flush=True)
    index = HnswIndex(data.vectors.shape[1], args.n, HnswParams(args.m, args.efc, 256, args.threads))
    ids = np.arange(1, args.n + 1, dtype=np.int64)
    t0, c0 = time.perf_counter(), time.process_time()
    step = 50_000
    if args.load:
        index._index.load_index(args.load, max_elements=args.n)  # bench only: hnswlib's own file
        index._index.set_num_threads(1)
        index._live = set(ids.tolist())
        print(f"loaded {args.load} in {time.perf_counter() - t0:.1f} s (M={index._index.M})", flush=True)
    for start in range(0, 0 if args.load else args.n, step):
        index.add(ids[start:start + step], data.vectors[start:start + step])
        print(f"  {start + step} in {time.perf_counter() - t0:.0f} s (cpu {time.process_time() - c0:.0f} s) "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
    if not args.load:
        print(f"build {time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} s CPU", flush=True)
    if args.out and not args.load:
        index._index.save_index(args.out)  # bench only: hnswlib's own file
        print(f"saved {args.out} ({os.path.getsize(args.out) / 2**20:.0f} MiB)", flush=True)
    if not args.queries:
        return
    probes, _ = data.probes(args.queries)
    truth = np.argmax(probes @ data.vectors.T, axis=1) + 1
    for ef in [int(e) for e in args.ef.split(",")]:
        index.set_ef(ef)
        lat, hits, same_user = [], 0, 0
        for p, want in zip(probes, truth):
            t = time.perf_counter()
            got = index.query(p, 32)
            lat.append((time.perf_counter() - t) * 1000)
            # recall@1 after exact re-scoring of the 32 candidates (what the gallery does); per user:
            # the answer names the same person as exact search's best face (what /identify answers)
            best = got[int(np.argmax(data.vectors[got - 1] @ p))]
            hits += int(best == want)
            same_user += int(data.identity[best - 1] == data.identity[want - 1])
        print(f"ef {ef}: query p50 {np.percentile(lat, 50):.3f} ms p99 {np.percentile(lat, 99):.3f} ms "
              f"recall@1 (re-scored) per face {hits / len(probes):.4f}, per user {same_user / len(probes):.4f}  "
              f"load {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
