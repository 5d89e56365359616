"""Liveness benchmark: time-to-live of a responsive live user and attack acceptance (APCER).

Sources (testkit/liveness_sources.py): a live user built from shared/data/video/blink_live.mp4
that answers blink prompts after 0.3-0.8 s with one of the clip's real blinks; the clip replayed
linearly from a random offset (a recording held to the camera); the still photo held still or
moved as a plane. Policies: challenge-response sequences (screens) and the passive policy (doors).

How: every frame a source can show is run once through the real models (SCRFD detector +
MediaPipe Face Landmarker + MiniFASNet, in clip order, one landmarker), and the per-frame
signals are cached; each run then drives engine.liveness.LivenessTracker (the code sessions
use) frame by frame at 10/15/30 fps with its own challenge seed. That makes hundreds of runs
affordable on 2 cores; the end-to-end REST/WebRTC runs are in tests/test_liveness_policy.py.

    python bench/liveness.py [--runs 20] [--attack-runs 50] [--replay-runs 100] [--motion-runs 40] [--motion-only]
"""

from __future__ import annotations

import argparse
import bisect
import os
import pickle
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.antispoof import PassiveAntiSpoof  # noqa: E402
from engine.face_engine import FaceEngine  # noqa: E402
from engine.challenges import draw_challenges  # noqa: E402
from engine.liveness import FaceSignals, LivenessTracker  # noqa: E402
from engine.liveness_settings import LivenessSettings  # noqa: E402
from engine.mediapipe_landmarks import MeshLandmarker  # noqa: E402
from facestream.config import load_config  # noqa: E402
from testkit.liveness_sources import Asked, LiveUser, Photo, Replay, clip  # noqa: E402
from testkit.media import plane_warp, still_image  # noqa: E402
from testkit.motion_sources import SMILER, TURNER, Footage, Responder, motion_frames  # noqa: E402

WARP_FPS = 30.0
WARP_LOOP_S = 20.0

Signals = Callable[[float], FaceSignals]


def signals_of(engine: FaceEngine, pad: PassiveAntiSpoof, frames: list[tuple[float, object]]) -> list[FaceSignals]:
    out = []
    with MeshLandmarker() as mesh:
        for t, img in frames:
            det = engine.detector.detect(img, pad_retry=False)[0]  # type: ignore[arg-type]
            obs = mesh.observe(img, det.box, t)  # type: ignore[arg-type]
            assert obs is not None
            out.append(replace(FaceSignals.from_mesh(obs), pad_real=pad.real_probability(img, det.box)))  # type: ignore[arg-type]
    return out


def lookup(times: list[float], table: list[FaceSignals]) -> Signals:
    return lambda x: table[max(bisect.bisect_right(times, x) - 1, 0)]


def run(settings: LivenessSettings, policy: str, seed: int, fps: float, seconds: float,
        shown: Callable[[float, Asked | None], FaceSignals]) -> float | None:
    """Media seconds from the first frame to `passed`, or None within `seconds`."""
    rng = random.Random(seed)
    challenges = draw_challenges(settings, rng) if policy == "challenge" else ()
    tracker = LivenessTracker(1, settings, challenges, rng, policy)
    asked: Asked | None = None
    for i in range(int(seconds * fps)):
        t = i / fps
        state = tracker.observe(t, shown(t, asked))
        ch = state.challenge
        asked = Asked(ch.kind, ch.issued_at) if ch else None
        if state.passed:
            return t
        if state.sequence_failed:
            return None
    return None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20, help="live-user runs per frame rate")
    ap.add_argument("--attack-runs", type=int, default=50, help="runs per photo attack")
    ap.add_argument("--replay-runs", type=int, default=100, help="runs per replay configuration")
    ap.add_argument("--attack-seconds", type=float, default=12.0, help="how long an attack is watched")
    ap.add_argument("--cache", default="", help="pickle file for the per-frame signals (reused when present)")
    ap.add_argument("--motion-runs", type=int, default=40, help="runs per frame rate on the motion clips")
    ap.add_argument("--motion-only", action="store_true", help="only the default sequence on the motion clips")
    args = ap.parse_args()
    cfg = load_config(env={})
    engine = FaceEngine(cfg.engine, cfg.quality)
    pad = PassiveAntiSpoof(cfg.engine)
    started = time.perf_counter()
    if args.motion_only:
        motion_section(engine, pad, cfg.liveness, args.motion_runs)
        return
    frames = list(clip())
    clip_times = [t for t, _ in frames]
    warp_times = [i / WARP_FPS for i in range(int(WARP_LOOP_S * WARP_FPS))]
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.exists():
        clip_table, warp_table, still_signals = pickle.loads(cache.read_bytes())
    else:
        clip_table = signals_of(engine, pad, frames)
        warp_table = signals_of(engine, pad, [(t, plane_warp(still_image(), t)) for t in warp_times])
        still_signals = signals_of(engine, pad, [(i / 30, still_image()) for i in range(3)])[-1]
        if cache is not None:
            cache.write_bytes(pickle.dumps((clip_table, warp_table, still_signals)))
    clip_signals = lookup(clip_times, clip_table)
    warp_signals = lookup(warp_times, warp_table)
    print(f"signals cached in {time.perf_counter() - started:.0f} s; load: {os.getloadavg()}", file=sys.stderr)

    base = cfg.liveness
    sequences = {
        "one blink": replace(base, challenge_pool=("blink",), random_challenges=1),
        "two timed blinks": replace(base, challenge_pool=("blink",), random_challenges=2),
        "default: blink + another kind": base,
    }

    def live(seed: int) -> Callable[[float, Asked | None], FaceSignals]:
        user = LiveUser(random.Random(seed))
        return lambda t, asked: clip_signals(user.clip_time(t, asked))

    def replayed(seed: int) -> Callable[[float, Asked | None], FaceSignals]:
        rec = Replay(random.Random(seed))
        return lambda t, asked: clip_signals(rec.clip_time(t, asked))

    def photo(seed: int, moving: bool) -> Callable[[float, Asked | None], FaceSignals]:
        held = Photo(moving, random.Random(seed))
        if not moving:
            return lambda t, asked: still_signals
        return lambda t, asked: warp_signals(held.warp_time(t) % WARP_LOOP_S)

    print("\n### Time-to-live of the responsive live user (media seconds from the first face frame)\n")
    print("| sequence | fps | runs | passed | median | p95 | max |")
    print("|---|---|---|---|---|---|---|")
    for name in ("one blink", "two timed blinks"):
        for fps in (10.0, 15.0, 30.0):
            times = [run(sequences[name], "challenge", 1000 * int(fps) + s, fps, 12.0, live(s))
                     for s in range(args.runs)]
            ok = [x for x in times if x is not None]
            print(f"| {name} | {fps:.0f} | {len(times)} | {len(ok)} | {statistics.median(ok):.2f} | "
                  f"{pct(ok, 0.95):.2f} | {max(ok):.2f} |" if ok else f"| {name} | {fps:.0f} | {len(times)} | 0 | - | - | - |")

    for fps in (10.0, 15.0, 30.0):  # doors: nobody is prompted, the clip is a live person walking up
        times = [run(base, "passive", s, fps, 12.0, replayed(500 + s)) for s in range(args.runs)]
        ok = [x for x in times if x is not None]
        print(f"| passive (doors): the clip from a random start | {fps:.0f} | {len(times)} | {len(ok)} | "
              f"{statistics.median(ok):.2f} | {pct(ok, 0.95):.2f} | {max(ok):.2f} |")

    motion_section(engine, pad, base, args.motion_runs)

    print("\n### Attack acceptance (APCER), watched for "
          f"{args.attack_seconds:.0f} s each at 15 fps (a new challenge seed and start per run)\n")
    print("| attack | policy / sequence | runs | accepted | APCER |")
    print("|---|---|---|---|---|")
    attacks: list[tuple[str, str, LivenessSettings, int, Callable[[int], Callable[[float, Asked | None], FaceSignals]]]] = []
    for name, settings in sequences.items():
        attacks.append(("recorded replay", name, settings, args.replay_runs, replayed))
    attacks.append(("recorded replay", "passive (doors)", base, args.replay_runs, replayed))
    for moving, label in ((False, "still photo"), (True, "photo moved as a plane")):
        for name in ("one blink", "default: blink + another kind"):
            attacks.append((label, name, sequences[name], args.attack_runs, lambda s, m=moving: photo(s, m)))
        attacks.append((label, "passive (doors)", base, args.attack_runs, lambda s, m=moving: photo(s, m)))
    for label, name, settings, runs, source in attacks:
        policy = "passive" if name.startswith("passive") else "challenge"
        accepted = sum(run(settings, policy, 7000 + s, 15.0, args.attack_seconds, source(s)) is not None
                       for s in range(runs))
        print(f"| {label} | {name} | {runs} | {accepted} | {100 * accepted / runs:.1f} % |")
    print(f"\nload average at the end: {os.getloadavg()}; total {time.perf_counter() - started:.0f} s")


def motion_section(engine: FaceEngine, pad: PassiveAntiSpoof, base: LivenessSettings, runs: int) -> None:
    """The shipped default sequence (one blink + one of turn_left / turn_right / nod / smile) answered
    with real motion footage (shared/data/video/motions/): the smile clip's person blinks and smiles
    on cue; turn prompts are answered with the turn clip's segments (another person's signals
    spliced in: the tracker reads signals, not identities); no clip nods, so a nod prompt runs out
    and the server asks another kind, as for a person who misses one."""
    tables = {}
    for name in (SMILER.clip, TURNER.clip):
        frames = list(motion_frames(name))
        tables[name] = lookup([t for t, _ in frames], signals_of(engine, pad, frames))
    spliced = Footage(SMILER.clip, SMILER.idle, SMILER.answers,
                      {k: (TURNER.clip, *seg) for k, seg in TURNER.answers.items()})

    def person(seed: int, footage: Footage) -> Callable[[float, Asked | None], FaceSignals]:
        who = Responder(footage, random.Random(seed))

        def shown(t: float, asked: Asked | None) -> FaceSignals:
            clip_name, clip_t = who.moment(t, asked)
            return tables[clip_name](clip_t)
        return shown

    print("\n### The default sequence on real motion footage (media seconds from the first face frame)\n")
    print("| person | fps | runs | passed | median | p95 | max | first draw answerable |")
    print("|---|---|---|---|---|---|---|---|")
    for label, footage, can in (("blinks, smiles, turns (turns spliced from the turn clip); no nod", spliced,
                                 {"blink", "smile", "turn_left", "turn_right"}),
                                ("the smile clip alone: blinks and smiles", SMILER, {"blink", "smile"})):
        for fps in (10.0, 15.0, 30.0):
            times, firsts = [], 0
            for s in range(runs):
                seed = 3000 + 100 * int(fps) + s
                firsts += set(draw_challenges(base, random.Random(seed))) <= can
                times.append(run(base, "challenge", seed, fps, 20.0, person(s, footage)))
            ok = [x for x in times if x is not None]
            row = f"{statistics.median(ok):.2f} | {pct(ok, 0.95):.2f} | {max(ok):.2f}" if ok else "- | - | -"
            print(f"| {label} | {fps:.0f} | {runs} | {len(ok)} | {row} | {firsts} |")
            answerable_times = [x for s, x in enumerate(times) if x is not None
                                and set(draw_challenges(base, random.Random(3000 + 100 * int(fps) + s))) <= can]
            if answerable_times:
                print(f"|   (runs whose drawn pair it can answer) | {fps:.0f} | {firsts} | {len(answerable_times)} | "
                      f"{statistics.median(answerable_times):.2f} | {pct(answerable_times, 0.95):.2f} | "
                      f"{max(answerable_times):.2f} | |")


if __name__ == "__main__":
    main()
