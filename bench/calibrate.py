"""Calibrate each engine profile's match threshold on ../shared/data/pairs.csv and write it.

Embeds the largest face of every image exactly as the API does (decode -> detect -> align ->
embed) under each profile, then reports, for distance = 1 - cosine: genuine and impostor
distance ranges, d' (separation in pooled standard deviations), the equal error rate, TAR at
FAR 1e-2 / 1e-3 where the number of impostor pairs can resolve them, and accuracy at the chosen
threshold. The chosen thresholds are written to engine/calibration.json, which the engine reads
at start (matching.threshold: 0 = the profile's).

Rule for a threshold: if the classes separate, the midpoint of the gap (maximal margin on
both sides), rounded to 2 decimals; otherwise the EER point.
Run: `make calibrate` or `python bench/calibrate.py [--profile NAME] [--no-write]`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.face_engine import FaceEngine  # noqa: E402
from engine.profiles import CALIBRATION_FILE, PROFILES  # noqa: E402
from facestream.config import load_config  # noqa: E402
from testkit.data import DATA, pairs, read  # noqa: E402


@dataclass(frozen=True)
class Calibration:
    """What `make calibrate` measured for one profile (engine/calibration.json)."""

    threshold: float
    recognizer: str
    dimension: int
    pairs: int
    genuine: int
    impostor: int
    genuine_min: float
    genuine_median: float
    genuine_max: float
    impostor_min: float
    impostor_median: float
    impostor_max: float
    gap: float  # impostor_min - genuine_max (> 0: the classes separate)
    eer: float
    eer_distance: float
    d_prime: float
    accuracy: float  # at `threshold`
    far: float
    frr: float


def distances(engine: FaceEngine) -> tuple[np.ndarray, np.ndarray]:
    """(distance of every shared pair, whether it is a genuine pair)."""
    labelled = pairs()
    paths = sorted({p.img_a for p in labelled} | {p.img_b for p in labelled})
    emb = {p: engine.embedding_of(engine.decode(read(p))) for p in paths}
    dist = np.array([1.0 - float(emb[p.img_a] @ emb[p.img_b]) for p in labelled])
    return dist, np.array([p.same for p in labelled])


def calibrate(engine: FaceEngine) -> Calibration:
    dist, same = distances(engine)
    gen, imp = dist[same], dist[~same]
    grid = np.unique(np.concatenate([dist, dist + 1e-9]))
    far = np.array([(imp <= t).mean() for t in grid])  # impostors accepted
    frr = np.array([(gen > t).mean() for t in grid])  # genuines rejected
    i = int(np.argmin(np.abs(far - frr)))
    chosen = round(float((gen.max() + imp.min()) / 2), 2) if gen.max() < imp.min() else round(float(grid[i]), 2)
    d_prime = abs(imp.mean() - gen.mean()) / np.sqrt((gen.var() + imp.var()) / 2)
    r = lambda v: round(float(v), 4)  # noqa: E731
    return Calibration(
        threshold=chosen, recognizer=engine.recognizer_id, dimension=engine.embedding_dim, pairs=len(dist),
        genuine=int(same.sum()), impostor=int((~same).sum()),
        genuine_min=r(gen.min()), genuine_median=r(np.median(gen)), genuine_max=r(gen.max()),
        impostor_min=r(imp.min()), impostor_median=r(np.median(imp)), impostor_max=r(imp.max()),
        gap=r(imp.min() - gen.max()), eer=r((far[i] + frr[i]) / 2), eer_distance=r(grid[i]), d_prime=round(float(d_prime), 2),
        accuracy=r(((dist <= chosen) == same).mean()), far=r((imp <= chosen).mean()), frr=r((gen > chosen).mean()),
    )


def report(name: str, c: Calibration) -> None:
    print(f"[{name}] recogniser {c.recognizer} ({c.dimension}-d), {c.pairs} pairs ({c.genuine} genuine, {c.impostor} impostor)")
    print(f"  genuine distance:  min {c.genuine_min:.4f}  median {c.genuine_median:.4f}  max {c.genuine_max:.4f}")
    print(f"  impostor distance: min {c.impostor_min:.4f}  median {c.impostor_median:.4f}  max {c.impostor_max:.4f}")
    state = f"classes separate, gap width {c.gap:.4f}" if c.gap > 0 else "classes overlap: EER point"
    print(f"  EER {c.eer:.4f} at distance {c.eer_distance:.4f}; d' {c.d_prime:.2f}; {state}")
    print(f"  threshold {c.threshold:.2f}: accuracy {c.accuracy:.4f}  FAR {c.far:.4f}  FRR {c.frr:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES, action="append", help="only this profile (repeatable)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave engine/calibration.json")
    args = parser.parse_args()

    cfg = load_config()
    print(f"data: {DATA}")
    written = json.loads(CALIBRATION_FILE.read_text()) if CALIBRATION_FILE.exists() else {}
    for name in args.profile or PROFILES:
        engine = FaceEngine(replace(cfg.engine, profile=name, warmup=False), cfg.quality)
        c = calibrate(engine)
        report(name, c)
        written[name] = asdict(c)
    if not args.no_write:
        CALIBRATION_FILE.write_text(json.dumps(written, indent=2) + "\n")
        print(f"written: {CALIBRATION_FILE}")


if __name__ == "__main__":
    main()
