"""Per-track recognition decisions over aggregated embeddings.

Why a three-way answer: a stream yields evidence over time, so a track gets no answer until it
has `decide_samples` good embeddings (or, with `early_match_margin`, one embedding that matches
clearly inside the threshold: door cameras), gets more time while its distance sits within
`unsure_margin` of the threshold, and is answered "unknown" (not "failure") when the evidence
never settles or, in identification, when nobody in the gallery is close. Liveness gates
success: a matching face that has not proven liveness is held back, and at the end of the
session becomes a failure with reason `liveness_failed`.

Why only some failures count toward lockouts (`LOCKOUT_REASONS`): a lockout answers someone
trying faces against one account; a decided mismatch is that. A liveness failure (a face never
proven live, a failed challenge sequence) is not: a replayed video of the user would otherwise
lock the real user out. Those are presentation attacks, throttled per device address
(sessions/attack_throttle.py), never per user.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from engine.matching import Gallery
from engine.types import FloatArray, Match
from recognition.processor import TrackObservation
from recognition.settings import RecognitionSettings


# Failure reasons that count toward user and session lockouts; every other failure does not.
LOCKOUT_REASONS = frozenset({"face_mismatch", "low_confidence"})
# Failure reasons that are liveness failures (a face never proven live, a challenge sequence
# failed): each one is announced as liveness.failed besides authentication.failed.
LIVENESS_REASONS = frozenset({"liveness_failed", "challenge_failed"})


@dataclass(frozen=True)
class Decision:
    status: str  # success / failure / unknown
    reason: str
    user_id: str | None
    name: str | None
    distance: float | None
    confidence: float
    matches: tuple[Match, ...]


def confidence_of(distance: float, threshold: float) -> float:
    """0.5 at the threshold, 1.0 at distance 0, 0.0 at twice the threshold."""
    return round(max(0.0, min(1.0, 1.0 - distance / (2.0 * threshold))), 4)


def decide(
    *,
    mode: str,
    user_id: str | None,
    gallery: Gallery,
    embedding: FloatArray | None,
    samples: int,
    live: bool,
    require_liveness: bool,
    threshold: float,
    top_k: int,
    settings: RecognitionSettings,
    final: bool,
    min_confidence: float = 0.0,
    live_failed: bool = False,
) -> Decision | None:
    """The decision for one track, or None while more frames should be awaited. `live_failed`:
    the track's challenge sequence failed (a decided liveness failure)."""
    early = samples < settings.decide_samples  # only a clear match may decide this early
    if embedding is None or samples < 1 or (early and settings.early_match_margin <= 0):
        return Decision("unknown", "not_enough_samples", None, None, None, 0.0, ()) if final else None
    if mode == "verification":
        best = gallery.best_for_user(user_id or "", embedding)
        if best is None:
            return Decision("failure", "user_not_enrolled", user_id, None, None, 0.0, ())
        matches: tuple[Match, ...] = (best,)
    else:
        matches = tuple(gallery.search(embedding, top_k))
        best = matches[0] if matches else None
    if early and (best is None or best.distance > threshold - settings.early_match_margin):
        return Decision("unknown", "not_enough_samples", None, None, None, 0.0, ()) if final else None
    if mode != "verification":
        if best is None or best.distance > threshold + settings.unsure_margin:
            return Decision("unknown", "no_match", None, None, best.distance if best else None, 0.0, matches)
    assert best is not None
    unsure = abs(best.distance - threshold) < settings.unsure_margin
    if unsure and samples < settings.max_samples and not final:
        return None
    conf = confidence_of(best.distance, threshold)
    if unsure:
        return Decision("unknown", "uncertain_match", best.user_id, best.name, best.distance, conf, matches)
    if best.distance > threshold:
        return Decision("failure", "face_mismatch", best.user_id, best.name, best.distance, conf, matches)
    if conf < min_confidence:
        return Decision("failure", "low_confidence", best.user_id, best.name, best.distance, conf, matches)
    if require_liveness and not live:
        if live_failed:
            return Decision("failure", "challenge_failed", best.user_id, best.name, best.distance, conf, matches)
        if not final:
            return None
        return Decision("failure", "liveness_failed", best.user_id, best.name, best.distance, conf, matches)
    return Decision("success", "match", best.user_id, best.name, best.distance, conf, matches)


def refused(decision: Decision, reason: str) -> Decision:
    """A success turned into a failure by a rule outside the gallery (e.g. the user is inactive)."""
    return replace(decision, status="failure", reason=reason, name=None)


@dataclass(frozen=True)
class Judge:
    """One session's decision rule, applied to any track: the same for every transport."""

    mode: str  # verification | identification
    user_id: str | None  # the claimed user (verification)
    require_liveness: bool
    threshold: float
    top_k: int
    settings: RecognitionSettings
    min_confidence: float = 0.0

    def judge(self, track: TrackObservation, gallery: Gallery, final: bool) -> Decision | None:
        return decide(
            mode=self.mode, user_id=self.user_id, gallery=gallery, embedding=track.embedding, samples=track.samples,
            live=track.liveness.passed, require_liveness=self.require_liveness, threshold=self.threshold,
            top_k=self.top_k, settings=self.settings, final=final, min_confidence=self.min_confidence,
            live_failed=track.liveness.sequence_failed,
        )
