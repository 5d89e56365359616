"""Typed settings of REST enrollment/authentication sessions (config section `sessions`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SessionSettings:
    enrollment_timeout_s: float = 300.0  # enrollment session lifetime when the request names none
    authentication_timeout_s: float = 120.0
    max_timeout_s: float = 1800.0  # largest timeout a client may ask for
    target_samples: int = 5  # default good frames averaged into one enrollment template
    max_target_samples: int = 20
    quality_threshold: float = 0.6  # default minimum quality score of an enrollment sample
    enrollment_require_liveness: bool = True  # enrollment completes only for a face proven live
    reject_duplicate_faces: bool = True  # refuse a face already enrolled to another user of the client
    replace_existing: bool = True  # a completed enrollment replaces the user's previous template
    auth_max_frames: int = 900  # frames one authentication attempt may take before it is decided
    # An attempt whose face is not yet proven live stays open this long (media time), then ends
    # as LIVENESS_CHECK_FAILED, which never counts toward a lockout.
    liveness_window_s: float = 30.0
    max_failures: int = 5  # failed attempts (per session, per user) within failure_window_s before a lockout
    failure_window_s: float = 180.0
    lockout_s: float = 300.0  # how long a user (or session) stays locked
    # Presentation attacks (failed liveness or challenge sequences) never lock the user they
    # imitate; this many from one address within failure_window_s throttle that address for lockout_s.
    max_attacks_per_address: int = 10
    max_live_sessions: int = 200  # in-progress sessions per process; more -> 429
    # One client's share of max_live_sessions (0 = a quarter of it): one client at its share gets
    # 429 while the others still get sessions.
    max_per_client: int = 0
    batch_max_frames: int = 60  # frames one batch-process request may carry
    batch_default_fps: float = 15.0  # frame spacing assumed for batch frames without timestamps
    cleanup_interval_s: float = 30.0  # how often expired sessions are dropped and marked expired
    auto_create_users: bool = True  # an enrollment for an unknown external id creates that user (as the documents assume)
