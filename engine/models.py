"""Open onnxruntime sessions with the configured providers (engine/profiles.py locates the files)."""

from __future__ import annotations

import logging
from pathlib import Path

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


def open_session(path: Path | str, settings: EngineSettings) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
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
    log.info("loaded %s with %s", Path(path).name, session.get_providers())
    return session
