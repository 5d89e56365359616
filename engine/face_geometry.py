"""Landmark geometry liveness reads: eye aspect ratio and the planar (homography) residual.

Why a homography: a photo moved, tilted or scaled in front of a camera moves as a plane, so its
landmarks map onto each other by one homography; a live face's do not (blinks, expressions, a 3D
head turning).
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.types import FloatArray

# Points outlining the two eyes in the 2d106 layout (DESIGN §3).
LEFT_EYE = slice(33, 43)
RIGHT_EYE = slice(87, 97)


def eye_aspect_ratio(landmarks: FloatArray) -> float:
    """Mean height/width of both eye contours, measured along the inter-ocular axis (roll-proof)."""
    left, right = landmarks[LEFT_EYE].astype(np.float64), landmarks[RIGHT_EYE].astype(np.float64)
    axis = right.mean(0) - left.mean(0)
    norm = float(np.linalg.norm(axis))
    if norm < 1e-6:
        return 0.0
    axis /= norm
    perp = np.array([-axis[1], axis[0]])
    ratios = []
    for eye in (left, right):
        along, across = eye @ axis, eye @ perp
        width = float(along.max() - along.min())
        ratios.append(float(across.max() - across.min()) / width if width > 1e-6 else 0.0)
    return float(np.mean(ratios))


def interocular(landmarks: FloatArray) -> float:
    return float(np.linalg.norm(landmarks[LEFT_EYE].mean(0) - landmarks[RIGHT_EYE].mean(0)))


def planar_residual(before: FloatArray, after: FloatArray, eye_distance: float | None = None) -> float:
    """RMS distance of `after` from `before` mapped by the best least-squares homography,
    as a fraction of the inter-ocular distance (of the 2d106 layout unless given). ~0 for a
    photo moved as a plane."""
    src, dst = before.astype(np.float64), after.astype(np.float64)
    homography, _ = cv2.findHomography(src, dst, 0)
    if homography is None:
        return 0.0
    mapped = cv2.perspectiveTransform(src.reshape(-1, 1, 2), homography).reshape(-1, 2)
    rms = float(np.sqrt(((mapped - dst) ** 2).sum(axis=1).mean()))
    return rms / max(interocular(after) if eye_distance is None else eye_distance, 1e-6)
