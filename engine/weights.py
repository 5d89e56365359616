"""sha256 verification and listing of the weights a profile uses.

Why at start: the shipped weights are the ones the thresholds were calibrated on and whose
licence the README states; a swapped or truncated file must stop the server, not quietly
change who matches whom.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ModelLoadError
from engine.profiles import ModelFile, Profile


@dataclass(frozen=True)
class VerifiedModel:
    """One model in use, as `facestream models` lists it."""

    role: str
    model_id: str
    path: Path
    licence: str
    commercial_use: bool
    sha256: str
    size: int
    pinned: bool  # the sha256 is pinned in engine/profiles.py (and matched)
    input_spec: str = ""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_model(model: ModelFile) -> VerifiedModel:
    if not model.path.is_file():
        raise ModelLoadError(f"{model.role} weights not found: {model.path}")
    actual = sha256_of(model.path)
    expected = model.pinned_sha256
    if expected and actual != expected:
        raise ModelLoadError(
            f"{model.role} weights {model.path} have sha256 {actual}, expected {expected}: "
            "the file is corrupt or not the published one; restore it from the repository/package"
        )
    return VerifiedModel(model.role, model.model_id, model.path, model.licence, model.commercial_use,
                         actual, model.path.stat().st_size, bool(expected), model.input_spec)


def verify_profile(profile: Profile) -> tuple[VerifiedModel, ...]:
    """Every file of the profile, hashed and checked; ModelLoadError on the first bad one."""
    return tuple(verify_model(m) for m in profile.models)


def verify_liveness_bundle(configured: str) -> VerifiedModel:
    """The MediaPipe bundle liveness loads per track (liveness.mediapipe_model, else the shipped one)."""
    from engine.mediapipe_landmarks import default_model_path
    from engine.profiles import mediapipe_landmarker

    return verify_model(mediapipe_landmarker(Path(configured) if configured else default_model_path()))
