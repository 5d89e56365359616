"""ArcFace alignment: a similarity transform of the five keypoints onto insightface's template.

Same maths as insightface.utils.face_align.norm_crop, using scikit-image's non-deprecated
`SimilarityTransform.from_estimate`.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def norm_crop(image: np.ndarray, keypoints: np.ndarray, size: int = 112) -> np.ndarray:
    dst = ARCFACE_TEMPLATE * (size / 112.0)
    tform = SimilarityTransform.from_estimate(keypoints.astype(np.float64), dst.astype(np.float64))
    matrix = np.asarray(tform.params[0:2, :], dtype=np.float64)
    return cv2.warpAffine(image, matrix, (size, size), borderValue=0.0)
