"""Liveness settings and the names of its challenges and policies (config.yaml `liveness:`).

Apart from the tracker (engine/liveness.py) so configuration, API schemas and the session service
can name challenges and read thresholds without the signal code.
"""

from __future__ import annotations

from dataclasses import dataclass

CHALLENGES = ("blink", "turn_left", "turn_right", "nod", "smile", "head_movement")
POLICIES = ("challenge", "passive")  # screens are prompted; door cameras are watched
PROMPTS = {
    "blink": "Please blink",
    "turn_left": "Turn your head to your left",
    "turn_right": "Turn your head to your right",
    "nod": "Nod your head",
    "smile": "Please smile",
    "head_movement": "Move your head",
}
LANDMARK_BACKENDS = ("mediapipe", "2d106")


@dataclass(frozen=True)
class LivenessSettings:
    """Liveness thresholds; defaults measured on shared/data/video (see config.yaml)."""

    # Landmark backend of liveness: "mediapipe" (Face Landmarker: blendshape eye closure checked
    # against the mesh EAR, smile, 3D head pose; engine/mediapipe_landmarks.py) or "2d106"
    # (insightface contour EAR, SCRFD keypoint pose; no smile).
    landmarks: str = "mediapipe"
    mediapipe_model: str = ""  # path of face_landmarker.task; empty = models/mediapipe/ of the repository
    closure_closed: float = 0.4  # mediapipe: eyes closed at this blendshape closure (open ~0.05-0.15, blink ~0.75;
    # at 10 fps a blink's deepest frame can read 0.5)...
    closure_open: float = 0.3  # ...and open again below this
    # mediapipe mesh: a photo moved as a plane stays <= 0.0135 on the raw frames but passed 0.03
    # over WebRTC (letterbox + VP8): the mesh is a 3D face fitted to the image, so a tilted photo
    # becomes a turned head, not a homography. The mesh's planar test is weak evidence; a blink
    # seen by the blendshapes and the mesh EAR counts as a deformation by itself, and every pass
    # needs a blink (required_blinks), which no photo gives.
    mesh_nonrigid_threshold: float = 0.03
    threshold: float = 0.7  # liveness_score needed (with the hard requirements below) to pass
    required_blinks: int = 1  # blinks every pass needs (asked or natural; passive: within the approach window)
    blink_close_ratio: float = 0.6  # eye closed when EAR < ratio x baseline
    blink_open_ratio: float = 0.8  # reopened when EAR > ratio x baseline
    # mediapipe: a closure whose eyes differed by more than this (|eyeBlinkLeft - eyeBlinkRight|)
    # is a wink, not a blink (real blinks <= 0.11, winks 0.3-0.53: video/motions/tilts_wink_tfjs.mp4)
    wink_asymmetry: float = 0.25
    blink_min_s: float = 0.05
    blink_max_s: float = 0.8  # longer closures are not blinks (eyes shut, or a photo swap)
    baseline_window_s: float = 4.0
    baseline_min_samples: int = 3
    nonrigid_ref_s: float = 0.4  # compare landmarks with the frame this long ago
    nonrigid_threshold: float = 0.02  # homography residual / inter-ocular distance = a deformation
    nonrigid_min_frames: int = 2  # consecutive frames above it: one-frame codec/landmark jitter is not one
    required_nonrigid_events: int = 1
    # -- challenge-response (screens) --
    # A screen session that requires liveness and names no challenges gets `random_challenges`
    # kinds drawn from this pool: one blink and different other kinds. Two by default: a photo
    # cannot blink, a replayed recording blinks by chance but cannot turn, nod or smile on cue
    # (BENCHMARKS.md "Liveness": replay acceptance per sequence).
    challenge_pool: tuple[str, ...] = ("blink", "turn_left", "turn_right", "nod", "smile")
    random_challenges: int = 2
    challenge_after_s: float = 0.5  # first prompt this long after the track's first frame (blink baseline ready)
    # A natural blink this soon after the first frame passes a screen session without any
    # challenge. 0 = never: a replayed video blinks naturally too, so it proves only "not a photo".
    natural_blink_s: float = 0.0
    challenge_timeout_s: float = 3.0  # a prompt must be answered within this, else another is issued
    min_reaction_s: float = 0.2  # a response starting sooner after the prompt was not a response to it
    max_challenge_failures: int = 5  # wrong or late answers before the sequence fails (counts toward lockouts)
    turn_degrees: float = 15.0
    nod_degrees: float = 10.0
    smile_threshold: float = 0.5  # mediapipe mouthSmile* mean that answers `smile`
    # -- passive policy (door cameras: nobody to prompt) --
    approach_window_s: float = 10.0  # the blink a door camera needs must be this recent
    pad_weight: float = 0.2  # MiniFASNet's share of the passive liveness_score
    # A presentation attack at a door: MiniFASNet's real probability under `pad_spoof_threshold`
    # on `pad_spoof_frames` consecutive scored frames refuses the track, blink or not; passing
    # needs that many scored frames first. Measured in bench/antispoof.py (BENCHMARKS.md
    # "Presentation attacks at doors"). 0 frames = advisory only.
    pad_spoof_threshold: float = 0.7
    pad_spoof_frames: int = 10
    pad_model_dir: str = ""  # MiniFASNet ONNX files; empty = models/minifasnet/ of the repository
