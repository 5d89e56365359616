"""Typed settings of the RTSP camera ingest (config section `ingest`); the cameras themselves are
doors.camera_config.CameraConfig (config.yaml `cameras:` list, or REST)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any


@dataclass(frozen=True)
class DoorRecognition:
    """The frame logic of camera sessions where it differs from the global `recognition:` section
    (browser sessions keep that). Why: a person walking up to a door has no screen telling them
    to wait, so a clear match (distance <= threshold - early_match_margin) decides from the first
    good embedding; anything else (a weak match, no match, a stray detection) still waits for
    `recognition.decide_samples`, and a face that has not proven liveness waits for that."""

    early_match_margin: float = 0.2

    def apply(self, base: Any, det_size: int = 0) -> Any:
        """`base` (recognition.settings.RecognitionSettings) with these values and the camera's
        detector size (0: the engine's)."""
        return replace(base, det_size=det_size, **{f.name: getattr(self, f.name) for f in fields(self)})


@dataclass(frozen=True)
class IngestSettings:
    transport: str = "tcp"  # default RTSP transport of a camera that names none: tcp | udp
    # cameras on loopback/private/link-local addresses refused unless true (SSRF guard, sessions/camera_url.py)
    allow_private_targets: bool = False
    open_timeout_s: float = 5.0  # connecting + first packets
    read_timeout_s: float = 3.0  # a stream silent this long is a stall: drop it and reconnect
    backoff_initial_s: float = 0.5  # first reconnect delay; doubles per failure up to backoff_max_s
    backoff_max_s: float = 30.0
    backoff_jitter: float = 0.2  # +- this fraction of each delay, so many cameras do not retry in step
    session_rollover_s: float = 3600.0  # a camera's live session (its session row) is renewed this often
    # a track in view this long, undecided and without proving liveness: denied liveness_failed
    liveness_timeout_s: float = 6.0
    max_viewers: int = 10  # live-view peers per camera; more -> 429
    max_cameras_per_client: int = 16  # cameras one client may add over REST (each decodes in a thread); more -> 429
    recognition: DoorRecognition = field(default_factory=DoorRecognition)
    decision_log_size: int = 50  # recent decisions kept in memory per camera (status, page); all go to the audit table
