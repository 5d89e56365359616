"""User-facing guidance for one frame: a message plus machine-readable suggestions.

Why codes and words both: a web or mobile client shows `message` as is, and maps
`suggestions` (move_closer, improve_lighting, hold_still, turn_left, turn_right, look_straight,
blink) to its own icons or translations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.liveness import LivenessState
from engine.types import Quality

OBSTACLE_HINTS = {
    "face_too_small": ("move_closer", "Move closer to the camera."),
    "too_dark": ("improve_lighting", "Find better lighting."),
    "too_bright": ("improve_lighting", "Avoid strong light on your face."),
    "blurry": ("hold_still", "Hold still."),
    "extreme_pose": ("look_straight", "Look straight at the camera."),
}
ANGLE_HINTS = {"front": "look_straight", "left": "turn_left", "right": "turn_right"}
ANGLE_WORDS = {"front": "look straight at the camera", "left": "turn your head slightly to the left",
               "right": "turn your head slightly to the right"}


@dataclass(frozen=True)
class Feedback:
    message: str
    suggestions: tuple[str, ...] = ()
    code: str | None = None  # NO_FACE_DETECTED / MULTIPLE_FACES_DETECTED / INVALID_FACE_QUALITY / LIVENESS_CHECK_FAILED / None
    details: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "suggestions": list(self.suggestions)}


NO_FACE = Feedback("No face detected. Look at the camera.", ("look_straight", "improve_lighting"), "NO_FACE_DETECTED")
MULTIPLE_FACES = Feedback("More than one face in view. Only the person enrolling should be visible.",
                          ("one_person_only",), "MULTIPLE_FACES_DETECTED")


def angle_of(bin_name: str) -> str:
    """The processor's pose bins folded to the three enrollment angles (up/down count as front)."""
    return bin_name if bin_name in ("left", "right") else "front"


def quality_feedback(quality: Quality, threshold: float) -> Feedback | None:
    """Why a frame was not good enough, or None when it passes the gate."""
    hints = [OBSTACLE_HINTS[o] for o in quality.obstacles if o in OBSTACLE_HINTS]
    if not hints and quality.score >= threshold:
        return None
    if not hints:
        hints = [("improve_lighting", "Image quality is low."), ("hold_still", "Hold still.")]
    suggestions = tuple(dict.fromkeys(h[0] for h in hints))
    message = " ".join(dict.fromkeys(h[1] for h in hints))
    return Feedback(message, suggestions, "INVALID_FACE_QUALITY",
                    {"quality_score": quality.score, "minimum_required": threshold})


def progress_feedback(missing_angles: Iterable[str], samples_done: bool, needs_liveness: bool) -> Feedback:
    missing = list(missing_angles)
    if missing:
        return Feedback(f"Good quality. Please {ANGLE_WORDS[missing[0]]}.", tuple(ANGLE_HINTS[a] for a in missing))
    if not samples_done:
        return Feedback("Good quality. Keep looking at the camera.", ())
    if needs_liveness:
        return Feedback("Almost done. Blink naturally and keep looking at the camera.", ("blink",))
    return Feedback("Enrollment requirements met.", ())


SEQUENCE_FAILED = ("Liveness check failed: the prompts were not followed. Start again and follow each "
                   "prompt as it appears.")


def liveness_prompt(state: LivenessState | None) -> Feedback | None:
    """What the person must do now for liveness, or None when nothing is asked.

    Why here: clients show `feedback.message` (the documents' React and SDK code), so an active
    prompt must be that message, not only a separate `challenge_text` field few clients read. A
    failed sequence says so and what to do, instead of "keep looking"."""
    if state is None or state.passed:
        return None
    if state.sequence_failed:
        return Feedback(SEQUENCE_FAILED, ("restart",), "LIVENESS_CHECK_FAILED")
    if state.challenge is None:
        return None
    return Feedback(state.challenge.text, (state.challenge.kind,))


def with_prompt(base: Feedback, state: LivenessState | None) -> Feedback:
    """`base` with the active liveness prompt (or the failed sequence) leading its message; the
    base's code and details stay, its suggestions follow the prompt's."""
    prompt = liveness_prompt(state)
    if prompt is None:
        return base
    if base.code is not None and base.code != "INVALID_FACE_QUALITY":
        return base  # no face / several faces: nobody to prompt
    message = prompt.message if base.code is None else f"{prompt.message} {base.message}"
    code = prompt.code if prompt.code is not None and base.code is None else base.code
    return Feedback(message, tuple(dict.fromkeys(prompt.suggestions + base.suggestions)), code, base.details)
