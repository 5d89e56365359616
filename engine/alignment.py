"""Face alignment: a similarity transform of the five keypoints onto a recogniser's template.

Same maths as insightface.utils.face_align.norm_crop, using scikit-image's non-deprecated
`SimilarityTransform.from_estimate`; the template (in pixels at the recogniser's input size)
comes from the profile (engine/profiles.py): insightface's ArcFace one, or Open Model Zoo's.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

from engine.profiles import ARCFACE_TEMPLATE as _ARCFACE

ARCFACE_TEMPLATE = np.array(_ARCFACE, dtype=np.float32)


def norm_crop(image: np.ndarray, keypoints: np.ndarray, size: int = 112, template: np.ndarray | None = None) -> np.ndarray:
    """`template` is in pixels at `size`; default: ArcFace's, scaled from 112 px."""
    dst = ARCFACE_TEMPLATE * (size / 112.0) if template is None else np.asarray(template, np.float32)
    tform = SimilarityTransform.from_estimate(keypoints.astype(np.float64), dst.astype(np.float64))
    matrix = np.asarray(tform.params[0:2, :], dtype=np.float64)
    return cv2.warpAffine(image, matrix, (size, size), borderValue=0.0)
