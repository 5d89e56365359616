"""Typed settings of the streaming layer (config section `streaming`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StreamingSettings:
    # STUN/TURN URLs handed to clients and used by the server's peer connections; empty = host
    # candidates only (same host / LAN). turn_username/turn_credential apply to turn: URLs.
    ice_servers: tuple[str, ...] = ()
    turn_username: str = ""
    turn_credential: str = ""
    session_timeout_s: float = 120.0  # default lifetime of a session when the request names none
    max_session_timeout_s: float = 600.0
    connect_timeout_s: float = 30.0  # a session with no video this long after creation is closed
    # A peer that vanishes without closing (tab killed, network gone) stops sending frames long
    # before ICE consent fails (~30 s): close the session after this long without a frame.
    idle_timeout_s: float = 10.0
    # Hand each video frame to the decoder when its marker packet arrives instead of when the
    # next frame starts (aiortc's rule): one frame interval less latency (streaming/jitter.py).
    marker_jitter_buffer: bool = True
    max_sessions: int = 50  # per process; creating more answers 429
    max_sessions_per_client: int = 0  # one client's share of max_sessions (0 = a quarter of it)
    status_interval_s: float = 1.0  # session_status events on the data channel
