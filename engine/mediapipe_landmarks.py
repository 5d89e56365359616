"""MediaPipe Face Landmarker (Tasks API) as a per-track landmark backend for liveness.

Why: on the shared blink video its blendshape eye closure and 6-point mesh eye aspect ratio
have 3-4x the margin of the 2d106 contour EAR (the mesh EAR falls to ~0.1 of its open level in
a blink, the 2d106 one only to ~0.3), and its 52 blendshapes give calibrated blink (`eyeBlink*`)
and smile (`mouthSmile*`) scores; its facial transformation matrix gives a 3D head pose.

Usage (one landmarker per tracked face at a time: VIDEO mode tracks the face between frames and
needs increasing timestamps, so two faces or two sessions must never share one at once)::

    with MeshLandmarker() as mesh:                 # or mesh = MeshLandmarker(); ...; mesh.close()
        obs = mesh.observe(bgr_frame, track_box, t)   # MeshObservation | None (no face in the box)
        obs.eye_closure, obs.eye_aspect_ratio, obs.smile, obs.pose, obs.landmarks

    pool = shared_pool()                           # what recognition.processor uses: creating a
    mesh = pool.lease(); ...; pool.give_back(mesh) # landmarker costs far more than a frame

The model bundle ships in the repository (`models/mediapipe/face_landmarker.task`, Apache-2.0,
provenance in its README there); it is found relative to this package, never downloaded.
The `mediapipe` wheel is installed with --no-deps (requirements-nodeps.txt): its declared
opencv-contrib-python must not replace the headless OpenCV build.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from engine.errors import ModelLoadError
from engine.types import Box, FloatArray, Pose

# Quiet MediaPipe's C++ INFO/WARNING lines (TFLite delegate chatter) unless the operator set it.
os.environ.setdefault("GLOG_minloglevel", "2")

MODEL_FILE = "face_landmarker.task"

log = logging.getLogger(__name__)

# Six points per eye for the classic eye aspect ratio (p1..p6: corner, top x2, corner, bottom x2)
# in the 478-point mesh, image-left eye first (the subject's right eye).
RIGHT_EYE_EAR = (33, 160, 158, 133, 153, 144)
LEFT_EYE_EAR = (362, 385, 387, 263, 373, 380)
# Iris centres (refined mesh), nose tip and mouth corners: the five points in SCRFD's order
# (image-left eye, image-right eye, nose, image-left mouth corner, image-right mouth corner).
KEYPOINTS = (468, 473, 1, 61, 291)


def default_model_path() -> Path:
    """`models/mediapipe/face_landmarker.task` of the repository (or of the working directory,
    for an installed package run from a checkout or the Docker image's /app)."""
    for base in (Path(__file__).resolve().parents[1], Path.cwd()):
        path = base / "models" / "mediapipe" / MODEL_FILE
        if path.is_file():
            return path
    raise ModelLoadError(f"MediaPipe model not found: models/mediapipe/{MODEL_FILE} (ships with the repository)")


@dataclass(frozen=True)
class MeshObservation:
    """One frame of one face from the Face Landmarker."""

    landmarks: FloatArray  # (478, 2) image pixels
    keypoints: FloatArray  # (5, 2) image pixels, SCRFD order (see KEYPOINTS)
    eye_closure: float  # blendshapes (eyeBlinkLeft + eyeBlinkRight) / 2: ~0.05-0.1 open, ~0.75 in a blink
    eye_aspect_ratio: float  # 6-point EAR on the mesh, mean of both eyes (~0.25-0.3 open): the cross-check
    smile: float  # (mouthSmileLeft + mouthSmileRight) / 2, 0..1
    pose: Pose  # degrees, the project's convention (yaw > 0: toward the image's left, i.e. the person's own right; pitch > 0: down)
    # |eyeBlinkLeft - eyeBlinkRight|: <= 0.11 in every real blink of the shared clips, 0.3-0.53 in
    # the winks of video/motions/tilts_wink_tfjs.mp4 (a wink is not a blink)
    eye_asymmetry: float = 0.0

    @property
    def interocular(self) -> float:
        return float(np.linalg.norm(self.keypoints[0] - self.keypoints[1]))


def mesh_eye_aspect_ratio(points: np.ndarray) -> float:
    """Mean over both eyes of (|p2-p6| + |p3-p5|) / (2 |p1-p4|)."""
    ratios = []
    for idx in (RIGHT_EYE_EAR, LEFT_EYE_EAR):
        p = points[list(idx)].astype(np.float64)
        width = float(np.linalg.norm(p[0] - p[3]))
        height = float(np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4]))
        ratios.append(height / (2 * width) if width > 1e-6 else 0.0)
    return float(np.mean(ratios))


def pose_from_matrix(matrix: np.ndarray) -> Pose:
    """Euler angles of the facial transformation matrix (canonical face -> camera space),
    signed like engine.quality.estimate_pose so both backends answer the same challenges."""
    r = np.asarray(matrix, dtype=np.float64)[:3, :3]
    yaw = math.degrees(math.atan2(-r[2, 0], math.hypot(r[2, 1], r[2, 2])))
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return Pose(yaw=-yaw, pitch=pitch, roll=-roll)


class MeshLandmarker:
    """One MediaPipe FaceLandmarker in VIDEO mode for one tracked face; `close()` frees it (~22 MiB).

    Each frame is cropped to a square of `crop_scale` x the face box around the track's box, so
    the landmarker sees only this track's face (several faces in one frame each get their own)
    and small crops cost less than whole frames.
    """

    def __init__(self, model_path: Path | str | None = None, crop_scale: float = 2.0) -> None:
        from mediapipe.tasks.python import BaseOptions, vision  # heavy import, only when used

        path = Path(model_path) if model_path else default_model_path()
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.VIDEO,
            num_faces=1,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        try:
            self._landmarker = vision.FaceLandmarker.create_from_options(options)
        except Exception as exc:  # MediaPipe raises RuntimeError/ValueError variants
            raise ModelLoadError(f"cannot load {path}: {exc}") from exc
        # A landmarker dropped without close() (a teardown cancelled before it gave its tracks'
        # landmarkers back) must not reach MediaPipe's own __del__: that runs in whatever thread
        # the garbage collector happens to run in (the event loop, say) and, when the landmarker's
        # dispatcher executor is collected in the same cycle, submits its close to a worker that has
        # already exited and waits forever. Seen: the event loop hung in `Garbage-collecting` ->
        # FaceLandmarker.__del__ -> close -> Future.result. The finaliser below holds the MediaPipe
        # object (so it is never part of the garbage) and closes it while its executor still runs.
        self._finalizer = weakref.finalize(self, _close_dropped, self._landmarker)
        self._finalizer.atexit = False  # at exit the pools close theirs (_close_pools)
        self._crop_scale = crop_scale
        self._last_ms = -1
        self._offset_ms: int | None = 0  # maps this stream's times onto the landmarker's own clock
        self._closed = False

    def restart(self) -> None:
        """Begin a new stream (a pooled landmarker leased to another track): its times may start
        again from 0, so they are shifted to continue this landmarker's increasing clock."""
        self._offset_ms = None

    def observe(self, image: np.ndarray, box: Box, t: float) -> MeshObservation | None:
        """Landmarks of the face in `box` of BGR `image` at media time `t` seconds (must not go
        backwards; equal or earlier times are nudged 1 ms forward). None when no face is found."""
        import mediapipe as mp

        if self._closed:
            raise RuntimeError("MeshLandmarker is closed")
        h, w = image.shape[:2]
        side = min(max(box.width, box.height) * self._crop_scale, float(max(w, h)))
        cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
        x0 = int(round(min(max(cx - side / 2, 0.0), max(w - side, 0.0))))
        y0 = int(round(min(max(cy - side / 2, 0.0), max(h - side, 0.0))))
        crop = image[y0 : y0 + int(side), x0 : x0 + int(side)]
        if crop.size == 0:
            return None
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)  # ~10x faster than a reversed-stride copy (1.8 ms at 480 px)
        ms = int(t * 1000)
        if self._offset_ms is None:
            self._offset_ms = self._last_ms + 1 - ms
        ms = max(ms + self._offset_ms, self._last_ms + 1)
        self._last_ms = ms
        result = self._landmarker.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), ms)
        if not result.face_landmarks:
            return None
        ch, cw = crop.shape[:2]
        pts = np.array([(p.x * cw + x0, p.y * ch + y0) for p in result.face_landmarks[0]], dtype=np.float32)
        shapes = {c.category_name: float(c.score) for c in result.face_blendshapes[0]}
        return MeshObservation(
            landmarks=pts,
            keypoints=pts[list(KEYPOINTS)].copy(),
            eye_closure=(shapes["eyeBlinkLeft"] + shapes["eyeBlinkRight"]) / 2,
            eye_aspect_ratio=mesh_eye_aspect_ratio(pts),
            smile=(shapes["mouthSmileLeft"] + shapes["mouthSmileRight"]) / 2,
            pose=pose_from_matrix(np.asarray(result.facial_transformation_matrixes[0])),
            eye_asymmetry=abs(shapes["eyeBlinkLeft"] - shapes["eyeBlinkRight"]),
        )

    def close(self) -> None:
        """Idempotent."""
        if not self._closed:
            self._closed = True
            self._finalizer.detach()
            self._landmarker.close()

    def __enter__(self) -> MeshLandmarker:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _close_dropped(landmarker: object) -> None:
    log.warning("a MediaPipe landmarker was dropped without close(); closed by its finaliser")
    landmarker.close()  # type: ignore[attr-defined]


class MeshPool:
    """Idle landmarkers kept for the next track: creating one costs ~0.3-2.5 s (graph and
    delegate set-up; 2.5 s measured on a loaded 2-core machine), far more than a frame, and REST
    authentication starts a fresh processor on every attempt. Thread-safe; `close()` frees the idle
    ones (a leased landmarker is its track's to give back)."""

    def __init__(self, model_path: Path | str | None = None, max_idle: int = 8) -> None:
        self._path = Path(model_path) if model_path else default_model_path()
        self._max_idle = max_idle
        self._idle: list[MeshLandmarker] = []
        self._lock = threading.Lock()
        self._closed = False

    def lease(self) -> MeshLandmarker:
        """A landmarker for one new track (restarted if it served another)."""
        with self._lock:
            mesh = self._idle.pop() if self._idle else None
        if mesh is None:
            return MeshLandmarker(self._path)
        mesh.restart()
        return mesh

    def give_back(self, mesh: MeshLandmarker) -> None:
        """The track ended: keep the landmarker for the next one, or close it when enough are idle."""
        with self._lock:
            if not self._closed and not mesh._closed and len(self._idle) < self._max_idle:
                self._idle.append(mesh)
                return
        mesh.close()

    def warm(self, count: int = 1) -> None:
        """Have `count` landmarkers idle ahead of the first tracks (at server start)."""
        with self._lock:
            missing = count - len(self._idle)
        for _ in range(max(missing, 0)):
            self.give_back(MeshLandmarker(self._path))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for mesh in idle:
            mesh.close()


_pools: dict[str, MeshPool] = {}
_pools_lock = threading.Lock()


@atexit.register
def _close_pools() -> None:
    """Idle landmarkers closed while the interpreter still works (MediaPipe's own finaliser
    fails noisily at shutdown)."""
    for pool in list(_pools.values()):
        pool.close()


def shared_pool(model_path: str = "") -> MeshPool:
    """The process's pool for one model file (every session's processor leases from it). It
    lives as long as the process: idle landmarkers are plain memory, no thread or task."""
    with _pools_lock:
        pool = _pools.get(model_path)
        if pool is None:
            pool = _pools[model_path] = MeshPool(model_path or None)
        return pool
