"""SCRFD face detection (insightface's decoding), with a padded retry for tight crops."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from engine.models import open_session
from engine.settings import EngineSettings
from engine.types import Box, Detection


def padded_retry(
    run: Callable[[np.ndarray, float | None], list[Detection]],
    image: np.ndarray,
    settings: EngineSettings,
    pad_retry: bool,
) -> list[Detection]:
    """`run(image, threshold)` on the image, and when it finds nothing, once more on the image
    with a black border (tight crops carry no context), demanding a surer score; largest-first,
    in the original image's coordinates."""
    found = run(image, None)
    if not found and pad_retry and settings.pad_retry_ratio > 0:
        pad = int(max(image.shape[:2]) * settings.pad_retry_ratio)
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        found = _unpad(run(padded, settings.pad_retry_threshold), pad, image.shape[1], image.shape[0])
    found.sort(key=lambda d: d.box.area, reverse=True)
    return found


def _unpad(dets: list[Detection], offset: int, w: int, h: int) -> list[Detection]:
    out = []
    for d in dets:
        b = d.box
        x1, x2 = min(max(b.x1 - offset, 0.0), w), min(max(b.x2 - offset, 0.0), w)
        y1, y2 = min(max(b.y1 - offset, 0.0), h), min(max(b.y2 - offset, 0.0), h)
        if x2 - x1 < 4 or y2 - y1 < 4:
            continue
        out.append(Detection(Box(x1, y1, x2, y2), d.score, (d.keypoints - offset).astype(np.float32)))
    return out


class FaceDetector:
    """Finds faces and their five keypoints; results are largest-first."""

    def __init__(self, model_path: str, settings: EngineSettings) -> None:
        from insightface.model_zoo.scrfd import SCRFD  # research profile only

        self._settings = settings
        self._size = (settings.det_size, settings.det_size)
        self._scrfd = SCRFD(model_path, session=open_session(model_path, settings))
        self._scrfd.det_thresh = settings.det_threshold

    def detect(self, image: np.ndarray, input_size: int | None = None, pad_retry: bool = True) -> list[Detection]:
        size = (input_size, input_size) if input_size else self._size

        def run(img: np.ndarray, threshold: float | None) -> list[Detection]:
            limit = None if threshold is None else max(threshold, self._settings.det_threshold)
            return self._run(img, size, limit)

        return padded_retry(run, image, self._settings, pad_retry)

    def _run(self, image: np.ndarray, size: tuple[int, int], threshold: float | None) -> list[Detection]:
        dets, kpss = self._scrfd.detect(image, input_size=size, det_thresh=threshold)
        out: list[Detection] = []
        for i in range(dets.shape[0]):
            x1, y1, x2, y2, score = (float(v) for v in dets[i])
            kps = np.asarray(kpss[i], dtype=np.float32) if kpss is not None else np.zeros((5, 2), np.float32)
            out.append(Detection(box=Box(x1, y1, x2, y2), score=score, keypoints=kps))
        return out
