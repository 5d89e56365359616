"""Server challenges: one prompt with its answer window, and drawing a random sequence.

Why random and mixed: a replayed recording blinks by chance but cannot turn, nod or smile on cue
(BENCHMARKS.md "Liveness").
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from engine.liveness_settings import PROMPTS, LivenessSettings


@dataclass(frozen=True)
class Challenge:
    """One server prompt; a response counts only between `issued_at` and `expires_at`."""

    kind: str
    issued_at: float
    expires_at: float

    @property
    def prompt(self) -> str:
        return f"please_{self.kind}"

    @property
    def text(self) -> str:
        """What a client shows the person."""
        return PROMPTS[self.kind]


def answerable(kinds: Sequence[str], settings: LivenessSettings) -> tuple[str, ...]:
    """The kinds the configured backend can check (2d106 has no smile signal)."""
    return tuple(k for k in kinds if k != "smile" or settings.landmarks == "mediapipe")


def draw_challenges(settings: LivenessSettings, rng: random.Random, count: int | None = None) -> tuple[str, ...]:
    """`count` (default `random_challenges`) kinds from the answerable pool, in random order.
    With blink and other kinds in the pool, exactly one blink (a photo cannot blink) and distinct
    other kinds (a replayed recording cannot perform them on cue); a blink-only pool repeats blinks."""
    pool = list(answerable(settings.challenge_pool, settings))
    count = settings.random_challenges if count is None else count
    if not pool or count <= 0:
        return ()
    others = [k for k in pool if k != "blink"]
    if "blink" in pool and others and count >= 2:
        out = ["blink"] + rng.sample(others, min(len(others), count - 1))
    else:
        out = []
    while len(out) < count:
        out.extend(rng.sample(pool, min(len(pool), count - len(out))))
    rng.shuffle(out)
    return tuple(out)
