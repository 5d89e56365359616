"""Open onnxruntime sessions with the configured providers (engine/profiles.py locates the files)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import onnxruntime as ort

from engine.errors import ModelLoadError
from engine.settings import EngineSettings

log = logging.getLogger(__name__)


def available_providers(wanted: tuple[str, ...]) -> list[str]:
    """Configured providers that this onnxruntime build offers, in config order; CPU last resort."""
    offered = set(ort.get_available_providers())
    chosen = [p for p in wanted if p in offered]
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


class _InFlight:
    """Model calls running now in this process, over every model."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def enter(self) -> int:
        """This call's place: 0 when it is the only one running."""
        with self._lock:
            self.count += 1
            return self.count - 1

    def leave(self) -> None:
        with self._lock:
            self.count -= 1


IN_FLIGHT = _InFlight()


class AdaptiveSession:
    """One model as two onnxruntime sessions: `intra_op_threads` for a call that runs alone (one
    stream, one REST request: lowest latency) and `busy_intra_op_threads` for a call that starts
    while another model call is running. With several streams the inference pool already keeps
    every core busy, and intra-op threads on top only oversubscribe them (each call's threads
    wait for each other's; BENCHMARKS.md "Streams at scale"). Drop-in for `run` and the input and
    output descriptions insightface's wrappers read."""

    def __init__(self, alone: ort.InferenceSession, busy: ort.InferenceSession) -> None:
        self._alone = alone
        self._busy = busy

    def run(self, output_names: Any, feed: Any, run_options: Any = None) -> Any:
        place = IN_FLIGHT.enter()
        try:
            return (self._busy if place else self._alone).run(output_names, feed, run_options)
        finally:
            IN_FLIGHT.leave()

    def __getattr__(self, name: str) -> Any:  # get_inputs, get_outputs, get_providers, ...
        return getattr(self._alone, name)


def open_session(path: Path | str, settings: EngineSettings) -> ort.InferenceSession:
    """One session, or an AdaptiveSession when busy calls are to use fewer intra-op threads."""
    busy = settings.busy_intra_op_threads
    if busy <= 0 or busy >= settings.intra_op_threads:
        return _open(path, settings, settings.intra_op_threads)
    return AdaptiveSession(_open(path, settings, settings.intra_op_threads),  # duck-types InferenceSession.run
                           _open(path, settings, busy))


def _open(path: Path | str, settings: EngineSettings, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = settings.inter_op_threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if settings.allow_spinning else "0")
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=available_providers(settings.providers)
        )
    except Exception as exc:  # onnxruntime raises several unrelated types
        raise ModelLoadError(f"cannot load {path}: {exc}") from exc
    log.info("loaded %s with %s, %d intra-op threads", Path(path).name, session.get_providers(), threads)
    return session
