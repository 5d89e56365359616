"""Real frames for liveness and streaming tests: the blink video, and its still photo held
static or moved as a plane (shifted, rotated, scaled and tilted over time)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import cache

import av
import cv2
import numpy as np

from testkit.data import DATA

VIDEO = DATA / "video" / "blink_live.mp4"
STILL = DATA / "video" / "blink_live_still.jpg"


@cache
def video_frames(fps: float = 15.0, seconds: float = 14.0) -> tuple[tuple[float, np.ndarray], ...]:
    """(media time, BGR frame) resampled to `fps` by taking the newest decoded frame per tick."""
    out: list[tuple[float, np.ndarray]] = []
    next_t = 0.0
    with av.open(str(VIDEO)) as container:
        for frame in container.decode(video=0):
            t = float(frame.time or 0.0)
            if t > seconds:
                break
            if t + 1e-6 >= next_t:
                out.append((t, frame.to_ndarray(format="bgr24")))
                next_t += 1.0 / fps
    return tuple(out)


@cache
def still_image() -> np.ndarray:
    img = cv2.imread(str(STILL))
    assert img is not None
    return img


def plane_warp(image: np.ndarray, t: float) -> np.ndarray:
    """The photo moved as a rigid plane at time t: shift, rotation, scale and a perspective tilt."""
    h, w = image.shape[:2]
    angle = 12 * math.sin(2 * math.pi * t / 3.0)
    scale = 1 + 0.15 * math.sin(2 * math.pi * t / 2.3)
    affine = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    affine[0, 2] += 60 * math.sin(2 * math.pi * t / 1.7)
    affine[1, 2] += 40 * math.cos(2 * math.pi * t / 2.1)
    tilt = np.array([[1, 0, 0], [0, 1, 0], [0.0004 * math.sin(2 * math.pi * t / 2.7), 0.0002 * math.cos(t), 1]])
    centre = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1]])
    homography = np.vstack([affine, [0, 0, 1]]) @ np.linalg.inv(centre) @ tilt @ centre
    return cv2.warpPerspective(image, homography, (w, h), borderMode=cv2.BORDER_REPLICATE)


def still_frames(fps: float, seconds: float, moving: bool) -> Iterator[tuple[float, np.ndarray]]:
    img = still_image()
    for i in range(int(fps * seconds)):
        t = i / fps
        yield t, plane_warp(img, t) if moving else img


def letterbox(image: np.ndarray, width: int = 640, height: int = 480) -> np.ndarray:
    """Fit into width x height with black bars, as a browser camera at 640x480 would send."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    resized = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    out = np.zeros((height, width, 3), np.uint8)
    y, x = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    out[y : y + resized.shape[0], x : x + resized.shape[1]] = resized
    return out


def write_y4m(path: str, frames: Iterator[np.ndarray] | tuple[np.ndarray, ...], fps: int = 15) -> int:
    """A raw YUV4MPEG2 (4:2:0) file, which Chromium's fake camera plays in a loop. Made at test
    time: 640×480 at 15 fps is ~7 MB a second, too big to commit."""
    count = 0
    with open(path, "wb") as out:
        for frame in frames:
            h, w = frame.shape[:2]
            if count == 0:
                out.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
            count += 1
    return count
