"""Calibrate the default match threshold on ../shared/data/pairs.csv and print ROC figures.

Embeds the largest face of every image exactly as the API does (decode -> detect -> align ->
ArcFace), then reports, for distance = 1 - cosine: the separation of genuine and impostor
pairs, the equal error rate, TAR at FAR 1e-2 / 1e-3 where the number of impostor pairs can
resolve them, and accuracy at the chosen threshold.

Rule for the default: if the classes separate, the midpoint of the gap (maximal margin on
both sides); otherwise the EER point. Run: `make calibrate` or `python bench/calibrate.py`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.face_engine import FaceEngine  # noqa: E402
from facestream.config import load_config  # noqa: E402
from tests.data import DATA, pairs, read  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, help="also report rates at this distance")
    args = parser.parse_args()

    cfg = load_config()
    engine = FaceEngine(cfg.engine, cfg.quality)
    labelled = pairs()
    paths = sorted({p.img_a for p in labelled} | {p.img_b for p in labelled})
    emb = {p: engine.embedding_of(engine.decode(read(p))) for p in paths}
    dist = np.array([1.0 - float(emb[p.img_a] @ emb[p.img_b]) for p in labelled])
    same = np.array([p.same for p in labelled])
    gen, imp = dist[same], dist[~same]

    print(f"data: {DATA}")
    print(f"pairs: {len(labelled)} ({same.sum()} genuine, {(~same).sum()} impostor), images: {len(paths)}")
    print(f"genuine distance:  min {gen.min():.4f}  median {np.median(gen):.4f}  max {gen.max():.4f}")
    print(f"impostor distance: min {imp.min():.4f}  median {np.median(imp):.4f}  max {imp.max():.4f}")

    grid = np.unique(np.concatenate([dist, dist + 1e-9]))
    far = np.array([(imp <= t).mean() for t in grid])  # impostors accepted
    frr = np.array([(gen > t).mean() for t in grid])  # genuines rejected
    i = int(np.argmin(np.abs(far - frr)))
    print(f"EER: {(far[i] + frr[i]) / 2:.4f} at distance {grid[i]:.4f}")
    resolution = 1.0 / len(imp)
    for target in (1e-2, 1e-3):
        if target < resolution:
            ok = far == 0
            tar = 1 - frr[ok].min() if ok.any() else 0.0
            print(f"TAR@FAR={target:g}: not resolvable with {len(imp)} impostor pairs (1 pair = {resolution:.4f}); TAR@FAR=0 is {tar:.4f}")
        else:
            ok = far <= target
            tar = 1 - frr[ok].min() if ok.any() else 0.0
            print(f"TAR@FAR={target:g}: {tar:.4f}")

    if gen.max() < imp.min():
        chosen = (gen.max() + imp.min()) / 2
        print(f"classes separate: gap [{gen.max():.4f}, {imp.min():.4f}] (width {imp.min() - gen.max():.4f})")
    else:
        chosen = float(grid[i])
        print("classes overlap: using the EER point")
    for label, t in [("chosen", round(chosen, 2)), ("configured", cfg.matching.threshold)] + (
        [("requested", args.threshold)] if args.threshold is not None else []
    ):
        acc = ((dist <= t) == same).mean()
        print(f"{label} threshold {t:.2f}: accuracy {acc:.4f}  FAR {(imp <= t).mean():.4f}  FRR {(gen > t).mean():.4f}")


if __name__ == "__main__":
    main()
