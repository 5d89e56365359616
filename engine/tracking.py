"""A small IoU tracker: stable track ids across frames so liveness and embeddings aggregate per
person rather than per frame.

Greedy matching by IoU is enough here: faces in a camera session are few and move little
between processed frames; a track that is not seen for `max_age_s` is dropped and its id is
never reused (a new person must never inherit someone else's liveness evidence).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.types import Box


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Track:
    track_id: int
    box: Box
    first_seen: float
    last_seen: float
    hits: int


@dataclass(frozen=True)
class TrackUpdate:
    """Result of one frame: track id per input box (same order), and tracks just dropped."""

    assignments: tuple[int, ...]
    dropped: tuple[int, ...]


class IouTracker:
    def __init__(self, iou_threshold: float = 0.3, max_age_s: float = 1.0) -> None:
        self.iou_threshold = iou_threshold
        self.max_age_s = max_age_s
        self._tracks: dict[int, Track] = {}
        self._next_id = 1

    @property
    def tracks(self) -> tuple[Track, ...]:
        return tuple(self._tracks.values())

    def update(self, boxes: list[Box], t: float) -> TrackUpdate:
        """Assign each box a track id (new ids for unmatched boxes) and expire stale tracks."""
        pairs = sorted(
            ((iou(tr.box, box), tid, i) for tid, tr in self._tracks.items() for i, box in enumerate(boxes)),
            reverse=True,
        )
        assigned: dict[int, int] = {}
        used: set[int] = set()
        for overlap, tid, i in pairs:
            if overlap < self.iou_threshold:
                break
            if tid in used or i in assigned:
                continue
            assigned[i] = tid
            used.add(tid)
        for i, box in enumerate(boxes):
            matched = assigned.get(i)
            if matched is None:
                new_id = self._next_id
                self._next_id += 1
                assigned[i] = new_id
                self._tracks[new_id] = Track(new_id, box, t, t, 1)
            else:
                old = self._tracks[matched]
                self._tracks[matched] = Track(matched, box, old.first_seen, t, old.hits + 1)
        dropped = tuple(tid for tid, tr in self._tracks.items() if t - tr.last_seen > self.max_age_s)
        for tid in dropped:
            del self._tracks[tid]
        return TrackUpdate(tuple(assigned[i] for i in range(len(boxes))), dropped)

    def forget(self, track_id: int) -> None:
        """End a track now (it left the frame, or a different person took its place); its id is
        never reused."""
        self._tracks.pop(track_id, None)

    def start(self, box: Box, t: float) -> int:
        """A new track for `box`, whatever it overlaps: used when the face in an old track's place
        is not the same person."""
        tid = self._next_id
        self._next_id += 1
        self._tracks[tid] = Track(tid, box, t, t, 1)
        return tid
