"""Where the time of one request goes: per-stage wall time in milliseconds, so an operator sees
whether decoding, detection, landmarks, embedding or the gallery search dominates."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

STAGES = ("decode", "detect", "landmarks", "embed", "search")


class StageTimer:
    """Accumulates milliseconds per stage; a stage that never ran reports null, not zero."""

    def __init__(self) -> None:
        self._started = time.perf_counter()
        self._ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._ms[name] = self._ms.get(name, 0.0) + (time.perf_counter() - started) * 1000

    def as_dict(self) -> dict[str, float | None]:
        """Every stage (null when it did not run) and `total` since the timer was made."""
        out: dict[str, float | None] = {s: (round(self._ms[s], 3) if s in self._ms else None) for s in STAGES}
        out["total"] = round((time.perf_counter() - self._started) * 1000, 3)
        return out


@contextmanager
def maybe(timer: StageTimer | None, name: str) -> Iterator[None]:
    """timer.stage(name), or nothing when no timer is given."""
    if timer is None:
        yield
    else:
        with timer.stage(name):
            yield
