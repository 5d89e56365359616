"""Accuracy of the small tracking detector input (recognition.track_det_size) against the full
det_size on the shared videos: on every frame, are the faces the full size finds also found at
the small size (IoU > 0.5), and how similar are the ArcFace embeddings aligned by the two
detections' keypoints (same identity: the cosine a track's mean would see)? Plus CPU per call.

Run: `python bench/track_det_size.py [--small 320] [--set engine.profile=permissive]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.face_engine import FaceEngine  # noqa: E402
from facestream.config import load_config  # noqa: E402
from testkit.data import DATA  # noqa: E402
from testkit.media import letterbox  # noqa: E402


def iou(a: object, b: object) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))  # type: ignore[attr-defined]
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))  # type: ignore[attr-defined]
    inter = ix * iy
    return inter / (a.area + b.area - inter)  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=320)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config override")
    args = parser.parse_args()
    config = load_config(env={}, overrides=dict(item.split("=", 1) for item in args.set))
    engine = FaceEngine(config.engine, config.quality)
    det = engine.detector
    for name in ("blink_live.mp4", "short_hamilton_clip.mp4"):
        full_n = found = 0
        min_face = 1e9
        cosines: list[float] = []
        large: list[float] = []  # faces >= 64 px high at the small input (the processor's rule)
        cpu_full = cpu_small = 0.0
        frames = 0
        with av.open(str(DATA / "video" / name)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % 2:
                    continue
                img = letterbox(frame.to_ndarray(format="bgr24"))
                frames += 1
                c = time.process_time()
                full = det.detect(img, pad_retry=False)
                cpu_full += time.process_time() - c
                c = time.process_time()
                small = det.detect(img, input_size=args.small, pad_retry=False)
                cpu_small += time.process_time() - c
                for f in full[: config.recognition.max_faces]:
                    full_n += 1
                    match = max(small, key=lambda s: iou(f.box, s.box), default=None)
                    if match is None or iou(f.box, match.box) < 0.5:
                        min_face = min(min_face, f.box.height)
                        continue
                    found += 1
                    a, b = engine.embedder.embed(img, f), engine.embedder.embed(img, match)
                    cosines.append(float(np.dot(a, b)))
                    if f.box.height * args.small / max(img.shape[:2]) >= 64:
                        large.append(float(np.dot(a, b)))
        print(f"{name} (640x480, every 2nd frame, {frames} frames): {found}/{full_n} of the faces found at "
              f"the full size also found at {args.small}"
              + (f" (smallest missed face {min_face:.0f} px high)" if found < full_n else "")
              + f"; embedding cosine full vs small keypoints median {statistics.median(cosines):.4f} min {min(cosines):.4f}; "
              f"faces >= 64 px at the small size: {len(large)}, cosine median {statistics.median(large):.4f} min {min(large):.4f}; "
              f"detector CPU ms/call {cpu_full * 1000 / frames:.1f} vs {cpu_small * 1000 / frames:.1f}", flush=True)


if __name__ == "__main__":
    main()
