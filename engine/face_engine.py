"""The engine facade: models loaded once per process, warmed up, safe to call from threads."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np

from engine import quality as quality_mod
from engine.detector import FaceDetector
from engine.embedder import FaceEmbedder
from engine.errors import NoFaceError
from engine.image import DecodedImage, DecodeGate, decode_image
from engine.landmarks import LandmarkModel
from engine.profiles import Profile, resolve_profile
from engine.settings import EngineSettings, QualitySettings
from engine.weights import VerifiedModel, verify_profile
from engine.yunet import YuNetDetector
from engine.timings import StageTimer, maybe
from engine.types import Analysis, Box, Detection, Face, FloatArray

log = logging.getLogger(__name__)


class FaceEngine:
    """Detection, landmarks, embedding and quality over one set of ONNX sessions.

    onnxruntime sessions are thread-safe for `run`, so one engine serves the app's whole
    inference pool.
    """

    def __init__(self, settings: EngineSettings, quality: QualitySettings | None = None) -> None:
        self.settings = settings
        self.quality_settings = quality or QualitySettings()
        self.decode_gate = DecodeGate(settings.max_concurrent_large_decodes, settings.large_image_pixels)
        started = time.perf_counter()
        self.profile: Profile = resolve_profile(settings)
        # sha256 of every file checked before any is loaded (engine/weights.py).
        self.models: tuple[VerifiedModel, ...] = verify_profile(self.profile)
        det = self.profile.detector
        if det.kind == "yunet":
            self.detector: FaceDetector | YuNetDetector = YuNetDetector(
                str(det.model.path), settings, det.input_size, det.threshold
            )
        else:
            self.detector = FaceDetector(str(det.model.path), settings)
        self.embedder = FaceEmbedder(self.profile.recognizer, settings)
        # 2d106 only in the research profile; MediaPipe landmarkers are per track (recognition/).
        self.landmarks: LandmarkModel | None = (
            LandmarkModel(str(self.profile.landmarker.path), settings)
            if self.profile.landmarks_backend == "2d106" else None
        )
        if settings.warmup:
            self.warm_up()
        log.info("face engine ready (profile %s, recogniser %s, %d-d) in %.0f ms", self.profile.name,
                 self.recognizer_id, self.embedding_dim, (time.perf_counter() - started) * 1000)

    @property
    def recognizer_id(self) -> str:
        """Stored with every embedding: galleries of another recogniser are refused."""
        return self.profile.recognizer.model_id

    @property
    def embedding_dim(self) -> int:
        return self.profile.recognizer.dim

    def warm_up(self) -> None:
        """Run every model once so the first request does not pay for graph initialisation."""
        blank = np.full((480, 640, 3), 127, np.uint8)
        self.detector.detect(blank, pad_retry=False)
        kps = np.array([[250, 200], [390, 200], [320, 270], [265, 340], [375, 340]], np.float32)
        det = Detection(Box(200, 120, 440, 400), 0.9, kps)
        self.embedder.embed(blank, det)
        if self.landmarks is not None:
            self.landmarks.predict(blank, det.box)

    def decode(self, data: bytes) -> DecodedImage:
        s = self.settings
        return decode_image(data, s.max_image_pixels, s.max_detect_side, s.max_aspect_ratio, self.decode_gate)

    def detect(self, image: DecodedImage | np.ndarray) -> list[Detection]:
        """Faces largest-first, in original-file coordinates."""
        decoded = _as_decoded(image)
        return [_rescale(d, decoded.scale) for d in self.detector.detect(decoded.pixels)]

    def analyze(self, image: DecodedImage | np.ndarray, max_faces: int = 0, with_landmarks: bool = False) -> Analysis:
        """Detect, embed (one batch) and grade faces; `max_faces` > 0 keeps only the largest."""
        decoded = _as_decoded(image)
        pixels = decoded.pixels
        dets = self.detector.detect(pixels)
        count = len(dets)
        if max_faces > 0:
            dets = dets[:max_faces]
        crops = [self.embedder.align(pixels, d) for d in dets]
        embeddings = self.embedder.embed_crops(crops)
        faces = []
        for det, emb in zip(dets, embeddings):
            q = quality_mod.assess(pixels, det, self.quality_settings, face_count=count)
            lmk = (
                self.landmarks.predict(pixels, det.box) * decoded.scale
                if with_landmarks and self.landmarks is not None else None
            )
            faces.append(Face(detection=_rescale(det, decoded.scale), embedding=emb, quality=q, landmarks=lmk))
        h, w = pixels.shape[:2]
        return Analysis(
            width=decoded.original_width or w, height=decoded.original_height or h, faces=tuple(faces)
        )

    def embed_largest(self, image: DecodedImage | np.ndarray, timer: StageTimer | None = None) -> tuple[Face, int]:
        """The largest face and how many faces the image held; NoFaceError when none. `timer`
        collects the detect (with quality grading) and embed stages."""
        decoded = _as_decoded(image)
        with maybe(timer, "detect"):
            dets = self.detector.detect(decoded.pixels)
        if not dets:
            raise NoFaceError()
        det = dets[0]
        with maybe(timer, "embed"):
            emb = self.embedder.embed(decoded.pixels, det)
        with maybe(timer, "detect"):
            q = quality_mod.assess(decoded.pixels, det, self.quality_settings, face_count=len(dets))
        return Face(detection=_rescale(det, decoded.scale), embedding=emb, quality=q), len(dets)

    def embedding_of(self, image: DecodedImage | np.ndarray) -> FloatArray:
        return self.embed_largest(image)[0].embedding


def _as_decoded(image: DecodedImage | np.ndarray) -> DecodedImage:
    return image if isinstance(image, DecodedImage) else DecodedImage(pixels=image)


def _rescale(det: Detection, scale: float) -> Detection:
    if scale == 1.0:
        return det
    b = det.box
    return replace(
        det,
        box=Box(b.x1 * scale, b.y1 * scale, b.x2 * scale, b.y2 * scale),
        keypoints=(det.keypoints * scale).astype(np.float32),
    )
