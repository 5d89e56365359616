"""MiniFASNet (engine/antispoof.py) on real presentation attacks and on every genuine shared face.

Why this set: the door's anti-spoofing rule (engine.liveness, `pad_spoof_*` settings) must refuse
camera captures of prints and screens and must never refuse a genuine video sequence. Attacks:
shared/data/spoof (prints and screen replays captured by a camera, with the mixed demo GIF's
replay and print frames); bona fide: the genuine captures there, the GIF's live frames, every
colour face of faces/ and scenes/, and the shared videos sampled at a door camera's ~10 fps.

Per image the largest face's real probability (mean of the two models) is printed; APCER (attacks
accepted) and BPCER (bona fide refused) follow at the threshold, per frame and, for the videos,
per sequence: a sequence is refused when `--frames` consecutive frames all score under it (the
door rule). The digital copy of a face fed into RTSP is not in this set: it is an injection, a
network-security matter (README "Door cameras"), which no image model can see.

    python bench/antispoof.py [--threshold 0.6] [--frames 3]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.antispoof import PassiveAntiSpoof, unsuitable  # noqa: E402
from engine.face_engine import FaceEngine  # noqa: E402
from engine.liveness_settings import LivenessSettings  # noqa: E402
from facestream.config import load_config  # noqa: E402
from testkit.data import DATA as DATA_DIR  # noqa: E402
from testkit.media import letterbox  # noqa: E402

SPOOF = DATA_DIR / "spoof"
GIF = SPOOF / "mixed_silentface_demo.gif"
# The demo GIF's frames by what they show (checked by eye): a live face, a phone replay, a held print.
GIF_KINDS = ((0, 33, "genuine"), (33, 62, "screen"), (62, 88, "print"))
VIDEOS = ("video/blink_live.mp4", "video/short_hamilton_clip.mp4", "video/motions/smile_pyfeat.mp4",
          "video/motions/tilts_wink_tfjs.mp4", "video/motions/turns_intel_female.gif",
          "video/motions/turns_intel_male.gif")


@dataclass(frozen=True)
class Scored:
    name: str
    kind: str  # genuine / print / screen
    score: float | None  # None: no face, or a frame the model must not see (grayscale)
    note: str = ""

    @property
    def attack(self) -> bool:
        return self.kind != "genuine"


def frames_of(path: Path, fps: float | None = None) -> list[np.ndarray]:
    """Every frame (GIFs included, via OpenCV), or sampled down to about `fps`."""
    cap = cv2.VideoCapture(str(path))
    step = max(1, round((cap.get(cv2.CAP_PROP_FPS) or 10) / fps)) if fps else 1
    out, i = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % step == 0:
            out.append(frame)
        i += 1
    cap.release()
    return out


def score(engine: FaceEngine, pad: PassiveAntiSpoof, img: np.ndarray, name: str, kind: str) -> Scored:
    if unsuitable(img) == "grayscale":
        return Scored(name, kind, None, "grayscale")
    faces = engine.detector.detect(img, pad_retry=False)
    if not faces:
        return Scored(name, kind, None, "no face")
    box = max(faces, key=lambda d: d.box.width * d.box.height).box
    return Scored(name, kind, pad.real_probability(img, box))


def longest_run_under(scores: list[float | None], threshold: float) -> int:
    """Most consecutive scored frames under the threshold (unscored frames do not break a run)."""
    best = run = 0
    for s in scores:
        if s is None:
            continue
        run = run + 1 if s < threshold else 0
        best = max(best, run)
    return best


def rate(hits: int, total: int) -> str:
    return f"{hits}/{total} = {100 * hits / total:.1f}%" if total else "n/a"


def main() -> None:
    defaults = LivenessSettings()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threshold", type=float, default=defaults.pad_spoof_threshold)
    ap.add_argument("--frames", type=int, default=defaults.pad_spoof_frames)
    ap.add_argument("--fps", type=float, default=10.0, help="video sampling rate (a door camera's)")
    args = ap.parse_args()
    cfg = load_config(env={})
    engine = FaceEngine(cfg.engine, cfg.quality)
    pad = PassiveAntiSpoof(cfg.engine)
    thr = args.threshold

    images: list[Scored] = []
    for path in sorted(SPOOF.iterdir()):
        if path.suffix in (".jpg", ".png"):
            img = cv2.imread(str(path))
            kind = path.name.split("_")[0]
            images.append(score(engine, pad, img, path.name, kind))
    gif = frames_of(GIF)
    gif_scores: list[Scored] = []
    for start, end, kind in GIF_KINDS:
        for i in range(start, end):
            gif_scores.append(score(engine, pad, gif[i], f"{GIF.name}#{i}", kind))
    colour: list[Scored] = []
    for path in sorted((DATA_DIR / "faces").rglob("*")) + sorted((DATA_DIR / "scenes").iterdir()):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        img = cv2.imread(str(path))
        if img is None:
            continue
        colour.append(score(engine, pad, img, str(path.relative_to(DATA_DIR)), "genuine"))

    print("## spoof/ captures (largest face, real probability)")
    for s in images:
        print(f"  {s.name:34s} {s.kind:8s} {'-' if s.score is None else f'{s.score:.4f}'} {s.note}")
    print("## mixed_silentface_demo.gif frames")
    for start, end, kind in GIF_KINDS:
        part = gif_scores[start:end]
        vals = [s.score for s in part if s.score is not None]
        notes = sorted({s.note for s in part if s.note})
        print(f"  frames {start}-{end - 1} {kind:8s} scored {len(vals)}/{len(part)}"
              + (f" min {min(vals):.4f} median {float(np.median(vals)):.4f} max {max(vals):.4f}" if vals else "")
              + (f" unscored: {', '.join(notes)}" if notes else "")
              + f"; longest run under {thr}: {longest_run_under([s.score for s in part], thr)}")
    print("## faces/ + scenes/ (colour photos, largest face)")
    refused = [s for s in colour if s.score is not None and s.score < thr]
    scored = [s for s in colour if s.score is not None]
    print(f"  scored {len(scored)}/{len(colour)} (grayscale or no face skipped); under {thr}: "
          + ", ".join(f"{s.name} {s.score:.3f}" for s in refused))

    print(f"## videos at ~{args.fps:g} fps (largest face per frame); refused = {args.frames} consecutive under {thr}")
    video_refused = 0
    video_frames_total = video_frames_under = 0
    for rel in VIDEOS:
        vals = [score(engine, pad, f, rel, "genuine").score for f in frames_of(DATA_DIR / rel, args.fps)]
        got = [v for v in vals if v is not None]
        run = longest_run_under(vals, thr)
        # The highest threshold this clip survives: the lowest over every window of the rule's
        # length of the window's best frame.
        windows = [max(got[i:i + args.frames]) for i in range(len(got) - args.frames + 1)]
        video_frames_total += len(got)
        video_frames_under += sum(1 for v in got if v < thr)
        video_refused += run >= args.frames
        print(f"  {rel:40s} scored {len(got)}/{len(vals)} min {min(got):.4f} median {float(np.median(got)):.4f}"
              f" longest run under: {run} (safe up to {min(windows):.4f})" if got else f"  {rel}: no scored frame")

    # Screens (item 5): a browser sends 640x480; a portrait phone camera arrives pillarboxed.
    print("## screen sessions: browser/phone frames (blink_live.mp4, a phone selfie, as a 640x480 browser frame)")
    boxed = [letterbox(f) for f in frames_of(DATA_DIR / VIDEOS[0], args.fps)]
    reasons = [unsuitable(f) for f in boxed]
    forced: list[float] = []
    cut: list[float] = []
    for f in boxed:
        faces = engine.detector.detect(f, pad_retry=False)
        if faces:
            box = max(faces, key=lambda d: d.box.width * d.box.height).box
            raw, inner = pad.score(f, box), pad.real_probability(f, box)
            if raw is not None and inner is not None:
                forced.append(raw)
                cut.append(inner)
    why = sorted({str(r) for r in reasons})
    print(f"  frames with bars: {sum(r == 'padded' for r in reasons)}/{len(boxed)} ({', '.join(why)})")
    print(f"  scored with the bars: median {float(np.median(forced)):.4f}, under {thr}:"
          f" {sum(v < thr for v in forced)}/{len(forced)}")
    print(f"  scored inside the bars (what the service does): min {min(cut):.4f} median {float(np.median(cut)):.4f},"
          f" under {thr}: {sum(v < thr for v in cut)}/{len(cut)};"
          f" longest run under: {longest_run_under(list(cut), thr)}")

    attacks = [s for s in images + gif_scores if s.attack]
    genuine_stills = [s for s in images + gif_scores if not s.attack]
    a_scored = [s for s in attacks if s.score is not None]
    g_scored = [s for s in genuine_stills if s.score is not None]
    print(f"## at threshold {thr} (frames scored; unscored frames are left to blinks and motion)")
    print(f"  APCER spoof/ stills + GIF attack frames: {rate(sum(s.score >= thr for s in a_scored), len(a_scored))}"
          f" (unscored {len(attacks) - len(a_scored)})")
    print(f"  BPCER spoof/ genuine stills + GIF live frames: {rate(sum(s.score < thr for s in g_scored), len(g_scored))}")
    print(f"  BPCER faces/ + scenes/ colour photos: {rate(len(refused), len(scored))}")
    print(f"  BPCER video frames: {rate(video_frames_under, video_frames_total)};"
          f" video sequences refused: {video_refused}/{len(VIDEOS)}")


if __name__ == "__main__":
    main()
