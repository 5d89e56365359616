"""Counters the session service reports as frames go through it; api/metrics.py turns them into
Prometheus series. A no-op by default, so sessions never depend on the metrics library."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def _nothing(*_: object) -> None:
    return None


@dataclass(frozen=True)
class Telemetry:
    frame: Callable[[str, float], None] = _nothing  # (stage, seconds): "detect" or "track" frames
    dropped: Callable[[int], None] = _nothing  # frames dropped by the newest-frame slot since the last report
