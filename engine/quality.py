"""Quality assessment of one face: sharpness, brightness, size and pose -> score and obstacles.

Pose here comes from the five detector keypoints (SCRFD or YuNet: same order, and on the 66
shared identity images the median nose position between eye and mouth lines agrees within 1 %,
0.582 vs 0.577), which is enough for a gate and for the enrollment angle bins; it is an estimate
in degrees, not a calibrated measurement.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from engine.settings import QualitySettings
from engine.types import Box, Detection, Pose, Quality

# Keypoint geometry of a frontal face in insightface's ArcFace template: the nose sits at 49%
# of the way from the eye line down to the mouth line.
_FRONTAL_NOSE_RATIO = 0.49


def estimate_pose(keypoints: np.ndarray) -> Pose:
    left_eye, right_eye, nose, mouth_l, mouth_r = (keypoints[i].astype(np.float64) for i in range(5))
    eye_vec = right_eye - left_eye
    roll = math.degrees(math.atan2(eye_vec[1], eye_vec[0]))
    # De-rotate so eyes lie on a horizontal line, then read the nose offset.
    c, s = math.cos(-math.radians(roll)), math.sin(-math.radians(roll))
    rot = np.array([[c, -s], [s, c]])
    eye_mid = (left_eye + right_eye) / 2
    mouth_mid = (mouth_l + mouth_r) / 2
    nose_r = rot @ (nose - eye_mid)
    mouth_r_ = rot @ (mouth_mid - eye_mid)
    half_eye = max(float(np.linalg.norm(eye_vec)) / 2, 1e-6)
    yaw = math.degrees(math.asin(float(np.clip(nose_r[0] / (half_eye * 1.6), -1.0, 1.0))))
    vertical = max(float(mouth_r_[1]), 1e-6)
    pitch = (float(nose_r[1]) / vertical - _FRONTAL_NOSE_RATIO) * 150.0
    return Pose(yaw=-yaw, pitch=pitch, roll=roll)


def _ramp(value: float, low: float, high: float) -> float:
    if high <= low:
        return 1.0 if value >= high else 0.0
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def assess(image: np.ndarray, detection: Detection, settings: QualitySettings, face_count: int = 1) -> Quality:
    box = detection.box
    crop = _crop(image, box)
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.size else np.zeros((1, 1), np.uint8)
    brightness = float(grey.mean())
    # Size-normalised sharpness: Laplacian variance of the face resized to 112 px.
    norm = cv2.resize(grey, (112, 112), interpolation=cv2.INTER_AREA) if grey.size > 1 else grey
    sharpness = float(cv2.Laplacian(norm, cv2.CV_64F).var())
    face_size = float(min(box.width, box.height))
    pose = estimate_pose(detection.keypoints)

    obstacles: list[str] = []
    if face_count > 1:
        obstacles.append("multiple_faces")
    if face_size < settings.min_face_size:
        obstacles.append("face_too_small")
    if brightness < settings.min_brightness:
        obstacles.append("too_dark")
    elif brightness > settings.max_brightness:
        obstacles.append("too_bright")
    if sharpness < settings.min_sharpness:
        obstacles.append("blurry")
    if abs(pose.yaw) > settings.max_yaw or abs(pose.pitch) > settings.max_pitch:
        obstacles.append("extreme_pose")

    size_s = _ramp(face_size, settings.min_face_size * 0.5, settings.min_face_size * 2)
    sharp_s = _ramp(sharpness, settings.min_sharpness * 0.25, settings.min_sharpness * 4)
    mid = (settings.min_brightness + settings.max_brightness) / 2
    half = (settings.max_brightness - settings.min_brightness) / 2
    bright_s = float(np.clip(1.0 - max(0.0, abs(brightness - mid) - half * 0.5) / half, 0.0, 1.0))
    pose_s = float(np.clip(1.0 - max(abs(pose.yaw) / (settings.max_yaw * 2), abs(pose.pitch) / (settings.max_pitch * 2)), 0.0, 1.0))
    score = 0.3 * sharp_s + 0.25 * size_s + 0.25 * bright_s + 0.2 * pose_s
    score *= float(np.clip(detection.score / 0.7, 0.0, 1.0)) ** 0.5
    return Quality(
        score=round(score, 4),
        sharpness=round(sharpness, 2),
        brightness=round(brightness, 2),
        face_size=round(face_size, 1),
        pose=pose,
        obstacles=tuple(obstacles),
    )


def _crop(image: np.ndarray, box: Box) -> np.ndarray:
    h, w = image.shape[:2]
    x1, y1 = max(int(box.x1), 0), max(int(box.y1), 0)
    x2, y2 = min(int(box.x2), w), min(int(box.y2), h)
    return image[y1:y2, x1:x2]


def image_problems(image: np.ndarray, settings: QualitySettings) -> tuple[str, ...]:
    """Why a whole frame in which no face was found cannot be used at all (POOR_IMAGE_QUALITY),
    as opposed to a usable frame with nobody in it (NO_FACE_DETECTED): smaller than a face may be,
    or so dark or so bright that no face could show. The brightness bounds are halfway past the
    face gate's, so a dim room without a face still reads as "no face"."""
    height, width = image.shape[:2]
    problems: list[str] = []
    if min(height, width) < settings.min_face_size:
        problems.append("image_too_small")
    step = max(1, min(height, width) // 64)  # a coarse grid is enough for a mean
    mean = float(image[::step, ::step].mean()) if image.size else 0.0
    if mean < settings.min_brightness / 2:
        problems.append("too_dark")
    elif mean > (255.0 + settings.max_brightness) / 2:
        problems.append("too_bright")
    return tuple(problems)
