"""Passive face anti-spoofing: Minivision's MiniFASNet V2 (crop x2.7) + V1SE (crop x4.0), ONNX.

Door cameras' defence against presentation attacks: on camera captures of real prints and
screens (shared/data/spoof) every attack scores under 0.62 and genuine video stays above 0.8 over
any 10 consecutive frames, so a run of spoof frames refuses the track (engine.liveness,
`pad_spoof_*`; bench/antispoof.py, BENCHMARKS.md). It also reacts to dark rectangular edges
(black letterbox bars, a phone bezel) and grayscale input always scores spoof
(models/minifasnet/MODEL_CARD.md), so it only sees colour frames, cut to what lies inside
any black bars.

Input spec (verified against the original repository): the detector box, centre kept, side
scaled by 2.7 / 4.0 (clamped to the frame), the window shifted (never padded) to stay inside,
resized to 80x80, BGR, raw 0..255, NCHW float32. Output `probs`: class 1 = real.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from engine.errors import ModelLoadError
from engine.models import open_session
from engine.settings import EngineSettings
from engine.types import Box

MODELS = (("minifasnet_v2_80x80_s2.7.onnx", 2.7), ("minifasnet_v1se_80x80_s4.0.onnx", 4.0))


def default_model_dir() -> Path:
    """`models/minifasnet/` of the repository (or of the working directory, e.g. Docker's /app)."""
    for base in (Path(__file__).resolve().parents[1], Path.cwd()):
        folder = base / "models" / "minifasnet"
        if (folder / MODELS[0][0]).is_file():
            return folder
    raise ModelLoadError("MiniFASNet models not found: models/minifasnet/ (ships with the repository)")


def crop_window(box: Box, width: int, height: int, scale: float) -> tuple[int, int, int, int]:
    """Minivision's `new_box`: the scaled box shifted (not padded) into the frame; x1, y1, x2, y2
    inclusive."""
    w, h = box.width + 1, box.height + 1
    scale = min((height - 1) / h, (width - 1) / w, scale)
    new_w, new_h = w * scale, h * scale
    cx, cy = box.x1 + w / 2, box.y1 + h / 2
    x1, y1, x2, y2 = cx - new_w / 2, cy - new_h / 2, cx + new_w / 2, cy + new_h / 2
    if x1 < 0:
        x2 -= x1
        x1 = 0
    if y1 < 0:
        y2 -= y1
        y1 = 0
    if x2 > width - 1:
        x1 -= x2 - width + 1
        x2 = width - 1
    if y2 > height - 1:
        y1 -= y2 - height + 1
        y2 = height - 1
    return int(x1), int(y1), int(x2), int(y2)


def unsuitable(image: np.ndarray) -> str | None:
    """Why the models must not see this frame: grayscale, or black bars/border (letterboxing)."""
    if image.ndim != 3 or image.shape[2] != 3:
        return "grayscale"
    small = cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA).astype(np.int16)
    if np.abs(small[..., 0] - small[..., 1]).max() < 4 and np.abs(small[..., 1] - small[..., 2]).max() < 4:
        return "grayscale"
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    edges = (grey[:4], grey[-4:], grey[:, :4], grey[:, -4:])
    if any(float(e.mean()) < 6 and float(e.std()) < 4 for e in edges):
        return "padded"
    return None


def content_window(image: np.ndarray) -> tuple[int, int, int, int] | None:
    """The frame inside black bars (letterbox, pillarbox, an app's black status strip): x1, y1,
    x2, y2 exclusive; None when little is left. Why: the models read dark rectangular edges in
    their context window as a screen bezel, so bars made by scaling (a browser's 640x480, a
    re-encoded clip) must be cut off before the crop, not scored."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)

    def bar(lines: np.ndarray) -> int:
        """Leading lines (rows of `lines`) that are uniformly dark, plus 2 for codec ringing."""
        dark = (lines.mean(axis=1) < 16) & (lines.std(axis=1) < 6)
        n = int(np.argmin(dark)) if not dark.all() else len(dark)
        return n + 2 if n >= 2 else 0

    h, w = grey.shape
    y1, y2 = bar(grey), h - bar(grey[::-1])
    x1, x2 = bar(grey.T), w - bar(grey.T[::-1])
    if y2 - y1 < max(h // 4, 32) or x2 - x1 < max(w // 4, 32):
        return None
    return x1, y1, x2, y2


class PassiveAntiSpoof:
    """Both models over onnxruntime (thread-safe `run`); ~8-9 ms per face on one core."""

    def __init__(self, settings: EngineSettings, model_dir: str | Path | None = None) -> None:
        folder = Path(model_dir) if model_dir else default_model_dir()
        self._models = [(open_session(folder / name, settings), scale) for name, scale in MODELS]

    def real_probability(self, image: np.ndarray, box: Box) -> float | None:
        """Mean real-class probability of the two models for the face in `box`, on the frame
        inside any black bars (`content_window`); None on grayscale (they always score spoof
        there), when bars leave too little, or when the face's centre is not inside the content."""
        if unsuitable(image) == "grayscale":
            return None
        window = content_window(image)
        if window is None:
            return None
        x1, y1, x2, y2 = window
        cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
        if not (x1 <= cx < x2 and y1 <= cy < y2):
            return None
        inner = Box(box.x1 - x1, box.y1 - y1, box.x2 - x1, box.y2 - y1)
        return self.score(image[y1:y2, x1:x2], inner)

    def score(self, image: np.ndarray, box: Box) -> float | None:
        """The models' mean real probability without the input check: for measuring what they
        say on frames `real_probability` refuses (bench/antispoof.py), never for a decision."""
        h, w = image.shape[:2]
        probs = []
        for session, scale in self._models:
            x1, y1, x2, y2 = crop_window(box, w, h, scale)
            crop = image[y1 : y2 + 1, x1 : x2 + 1]
            if crop.size == 0:
                return None
            patch = cv2.resize(crop, (80, 80)).astype(np.float32).transpose(2, 0, 1)[None]
            out = session.run(["probs"], {"input": np.ascontiguousarray(patch)})[0]
            probs.append(float(out[0, 1]))
        return float(np.mean(probs))


_shared: dict[str, PassiveAntiSpoof] = {}
_lock = threading.Lock()


def shared_antispoof(settings: EngineSettings, model_dir: str = "") -> PassiveAntiSpoof:
    """One instance per process and model folder (loaded on the first door-camera track)."""
    with _lock:
        model = _shared.get(model_dir)
        if model is None:
            model = _shared[model_dir] = PassiveAntiSpoof(settings, model_dir or None)
        return model
