"""Typed settings of the frame logic (config section `recognition`): how often to detect, when a
track's embedding is good enough to sample, and when a track has enough evidence to decide."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecognitionSettings:
    detect_every: int = 3  # continuous video: detector every Nth processed frame, landmark tracking between
    max_faces: int = 3  # tracks processed per frame, largest first
    min_embed_quality: float = 0.5  # quality score a frame needs before its embedding is used
    decide_samples: int = 3  # embeddings a track needs before a recognition decision
    # > 0: a track with fewer samples may already succeed when its best match is this far inside
    # the threshold (door cameras); anything else still waits for decide_samples. 0 = off
    early_match_margin: float = 0.0
    max_samples: int = 8  # after this many, an unsure track is answered "unknown"
    unsure_margin: float = 0.05  # distances this close to the threshold wait for more samples
    sample_spacing_s: float = 0.2  # minimum media time between two sampled embeddings of a track
    track_max_missed: int = 3  # processed frames a track may go unseen before it is dropped (`faces.left` says so)
    track_split_similarity: float = 0.3  # an embedding less similar than this to its track's mean: another person
    det_size: int = 0  # full detector input size of this session's video (a camera's det_size); 0 = engine's
    identity_check_s: float = 1.0  # a track that takes no samples is still embedded this often (person swaps), on detector frames
    # Continuous video: while the tracker holds a face the detector runs at this input size (the
    # face is large and where it was), the full engine det_size to re-acquire, on every
    # `full_detect_every`-th detector run (faces entering small) and when the small run finds
    # nothing. 0 = always the full size. SCRFD 320 costs ~0.4x the CPU of 512 (BENCHMARKS.md).
    track_det_size: int = 320
    full_detect_every: int = 5
