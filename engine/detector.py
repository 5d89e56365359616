"""SCRFD face detection (insightface's decoding), with a padded retry for tight crops."""

from __future__ import annotations

import cv2
import numpy as np
from insightface.model_zoo.scrfd import SCRFD

from engine.models import open_session
from engine.settings import EngineSettings
from engine.types import Box, Detection


class FaceDetector:
    """Finds faces and their five keypoints; results are largest-first."""

    def __init__(self, model_path: str, settings: EngineSettings) -> None:
        self._settings = settings
        self._size = (settings.det_size, settings.det_size)
        self._scrfd = SCRFD(model_path, session=open_session(model_path, settings))  # type: ignore[arg-type]
        self._scrfd.det_thresh = settings.det_threshold

    def detect(self, image: np.ndarray, input_size: int | None = None, pad_retry: bool = True) -> list[Detection]:
        size = (input_size, input_size) if input_size else self._size
        found = self._run(image, size, offset=0)
        if not found and pad_retry and self._settings.pad_retry_ratio > 0:
            pad = int(max(image.shape[:2]) * self._settings.pad_retry_ratio)
            padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            found = self._run(
                padded, size, offset=pad, clip=(image.shape[1], image.shape[0]),
                threshold=max(self._settings.pad_retry_threshold, self._settings.det_threshold),
            )
        found.sort(key=lambda d: d.box.area, reverse=True)
        return found

    def _run(
        self,
        image: np.ndarray,
        size: tuple[int, int],
        offset: int,
        clip: tuple[int, int] | None = None,
        threshold: float | None = None,
    ) -> list[Detection]:
        dets, kpss = self._scrfd.detect(image, input_size=size, det_thresh=threshold)
        out: list[Detection] = []
        for i in range(dets.shape[0]):
            x1, y1, x2, y2, score = (float(v) for v in dets[i])
            x1, y1, x2, y2 = x1 - offset, y1 - offset, x2 - offset, y2 - offset
            if clip is not None:
                w, h = clip
                x1, x2 = min(max(x1, 0.0), w), min(max(x2, 0.0), w)
                y1, y2 = min(max(y1, 0.0), h), min(max(y2, 0.0), h)
                if x2 - x1 < 4 or y2 - y1 < 4:
                    continue
            kps = np.asarray(kpss[i], dtype=np.float32) - offset if kpss is not None else np.zeros((5, 2), np.float32)
            out.append(Detection(box=Box(x1, y1, x2, y2), score=score, keypoints=kps))
        return out
