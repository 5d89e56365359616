"""Does batching model calls across sessions pay on this machine? Per model of the research
profile (SCRFD-500M, 2d106det, ArcFace MobileFaceNet): the graph's input shape (is the batch
dimension dynamic?), then process-CPU ms per item for batch 1 vs 4, with 1 and 2 intra-op
threads, and SCRFD at 512 vs 320 input. CPU time, not wall time: the machine is shared.

Run: `python bench/batching.py [--repeats 40]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.models import open_session  # noqa: E402
from engine.profiles import resolve_profile  # noqa: E402
from facestream.config import load_config  # noqa: E402


def per_item(session: object, name: str, shape: tuple[int, ...], repeats: int) -> tuple[float, float]:
    """(median process-CPU ms per item, median wall ms per item) over `repeats` runs."""
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    session.run(None, {name: x})  # type: ignore[attr-defined]
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        session.run(None, {name: x})  # type: ignore[attr-defined]
        cpu.append((time.process_time() - c) * 1000 / shape[0])
        wall.append((time.perf_counter() - w) * 1000 / shape[0])
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    config = load_config(env={})
    profile = resolve_profile(config.engine)
    models = {"scrfd": (profile.detector.model.path, [512, 320]),
              "2d106": (profile.landmarker.path, [192]),
              "arcface": (profile.recognizer.model.path, [112])}
    for label, (path, sizes) in models.items():
        for threads in (1, 2):
            session = open_session(path, replace(config.engine, intra_op_threads=threads, providers=("CPUExecutionProvider",)))
            inp = session.get_inputs()[0]
            if threads == 1:
                print(f"{label}: input {inp.name} shape {inp.shape}")
            for size in sizes:
                for batch in (1, 4):
                    try:
                        cpu, wall = per_item(session, inp.name, (batch, 3, size, size), args.repeats)
                    except Exception as exc:  # a fixed batch dimension refuses 4
                        print(f"  {label} {size} batch {batch} threads {threads}: refused ({str(exc)[:80]})")
                        continue
                    print(f"  {label} {size} batch {batch} intra_op {threads}: CPU {cpu:6.2f} ms/item, wall {wall:6.2f} ms/item",
                          flush=True)


if __name__ == "__main__":
    main()
