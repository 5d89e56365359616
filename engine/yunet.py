"""YuNet face detection (the permissive profile) on onnxruntime.

The decoding is OpenCV's `cv2.FaceDetectorYN` (objdetect/src/face_detect.cpp): per stride
8/16/32 a grid of anchor points, score = sqrt(cls x obj), box centre and keypoints offset from
the anchor and scaled by the stride, box size exp(.) x stride, then NMS. We run the graph on
onnxruntime instead of OpenCV's DNN so the engine's providers and thread settings apply and one
session serves every inference thread (FaceDetectorYN keeps per-call state); a test checks the
two agree on real images.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.detector import padded_retry
from engine.models import open_session
from engine.settings import EngineSettings
from engine.types import Box, Detection

STRIDES = (8, 16, 32)
NMS_THRESHOLD = 0.3
TOP_K = 5000


class YuNetDetector:
    """Finds faces and their five keypoints (same order as SCRFD's); results are largest-first."""

    def __init__(self, model_path: str, settings: EngineSettings, input_size: int, threshold: float) -> None:
        self._settings = settings
        self._session = open_session(model_path, settings)
        self._input = self._session.get_inputs()[0].name
        self._outputs = [f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in STRIDES]
        self._size = input_size
        self._threshold = threshold

    def detect(self, image: np.ndarray, input_size: int | None = None, pad_retry: bool = True) -> list[Detection]:
        size = input_size or self._size

        def run(img: np.ndarray, threshold: float | None) -> list[Detection]:
            return self._run(img, size, self._threshold if threshold is None else max(threshold, self._threshold))

        return padded_retry(run, image, self._settings, pad_retry)

    def _run(self, image: np.ndarray, size: int, threshold: float) -> list[Detection]:
        h, w = image.shape[:2]
        scale = size / max(h, w)
        sw, sh = max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)
        resized = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        pw, ph = -(-sw // 32) * 32, -(-sh // 32) * 32
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :sh, :sw] = resized.transpose(2, 0, 1)
        outs = dict(zip(self._outputs, self._session.run(self._outputs, {self._input: blob})))
        boxes, scores, kpss = [], [], []
        for stride in STRIDES:
            cols = pw // stride
            cls = np.clip(outs[f"cls_{stride}"][0, :, 0], 0, 1)
            obj = np.clip(outs[f"obj_{stride}"][0, :, 0], 0, 1)
            score = np.sqrt(cls * obj)
            keep = np.nonzero(score >= threshold)[0]
            if keep.size == 0:
                continue
            bbox = outs[f"bbox_{stride}"][0][keep]
            kps = outs[f"kps_{stride}"][0][keep].reshape(-1, 5, 2)
            c = (keep % cols).astype(np.float32)[:, None]
            r = (keep // cols).astype(np.float32)[:, None]
            cx, cy = (c[:, 0] + bbox[:, 0]) * stride, (r[:, 0] + bbox[:, 1]) * stride
            bw, bh = np.exp(bbox[:, 2]) * stride, np.exp(bbox[:, 3]) * stride
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, bw, bh], axis=1))
            scores.append(score[keep])
            kpss.append(np.stack([(kps[:, :, 0] + c) * stride, (kps[:, :, 1] + r) * stride], axis=2))
        if not boxes:
            return []
        xywh, sc, kp = np.concatenate(boxes), np.concatenate(scores), np.concatenate(kpss)
        picked = cv2.dnn.NMSBoxes(xywh.tolist(), sc.tolist(), threshold, NMS_THRESHOLD, top_k=TOP_K)
        out = []
        for i in np.asarray(picked, dtype=np.int64).reshape(-1):
            x, y, bw, bh = (float(v) / scale for v in xywh[i])
            out.append(Detection(Box(x, y, x + bw, y + bh), float(sc[i]), (kp[i] / scale).astype(np.float32)))
        return out
