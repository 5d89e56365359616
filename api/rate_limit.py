"""Per-client request limits (seed tiers basic / premium / enterprise): burst per minute,
hourly and daily fixed windows, checked once per authenticated request (in require_client,
because a client is only known after authentication). Counters: storage/rate_counters.py.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aiohttp import web

from api.errors import ApiError
from api.keys import CONFIG, RATE_LIMITER
from facestream.config import Config, TierLimits
from storage.rate_counters import DAY, HOUR, MINUTE
from storage.records import Client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateDecision:
    """What the X-RateLimit-* headers report: the window closest to its limit."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # unix seconds when that window turns
    window: int  # seconds
    retry_after: int  # seconds; 0 when allowed


def windows_for(limits: TierLimits) -> list[tuple[int, int]]:
    """(window seconds, limit) for every limited window of a tier; 0 means unlimited."""
    pairs = [(MINUTE, limits.burst_per_minute), (HOUR, limits.hourly), (DAY, limits.daily)]
    return [(w, n) for w, n in pairs if n > 0]


def decide(windows: list[tuple[int, int]], counts: list[int], allowed: bool, now: float) -> RateDecision:
    """Refused: the full window that frees up last. Allowed: the window with the fewest left."""
    options = []
    for (window, limit), count in zip(windows, counts):
        reset = (int(now) // window + 1) * window
        full = not allowed and count >= limit
        options.append((full, reset - int(now) if full else 0, -max(limit - count, 0), window, limit, reset))
    full, retry, neg_remaining, window, limit, reset = max(options)
    return RateDecision(allowed, limit, -neg_remaining, reset, window, max(retry, 1) if full else 0)


RATE_DECISION = web.RequestKey("rate_decision", RateDecision)


async def admit(request: web.Request, client: Client) -> None:
    """Count this request for the client; 429 RATE_LIMIT_EXCEEDED when a window is full."""
    settings = request.app[CONFIG].rate_limits
    windows = windows_for(settings.for_tier(client.tier))
    if not settings.enabled or not windows:
        return
    now = time.time()
    allowed, counts = await request.app[RATE_LIMITER].hit(f"client:{client.id}", windows, now)
    decision = decide(windows, counts, allowed, now)
    request[RATE_DECISION] = decision
    if not allowed:
        raise ApiError(
            429, "Request rate limit exceeded", "RATE_LIMIT_EXCEEDED",
            {"limit": decision.limit, "window": decision.window, "retry_after": decision.retry_after},
        )


def rate_limit_headers(decision: RateDecision) -> dict[str, str]:
    headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset),
        "X-RateLimit-Window": str(decision.window),
    }
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after)
    return headers


def session_limit(config: Config, tier: str) -> int:
    """Concurrent live sessions a client of this tier may hold (0 = unlimited)."""
    return config.rate_limits.for_tier(tier).concurrent_sessions


def check_session_capacity(config: Config, client: Client, active_sessions: int) -> None:
    """For session creators: call with the client's live session count before creating one."""
    limit = session_limit(config, client.tier)
    if config.rate_limits.enabled and limit and active_sessions >= limit:
        raise ApiError(
            429, f"Concurrent session limit reached ({limit} for tier {client.tier})", "RATE_LIMIT_EXCEEDED",
            {"limit": limit, "active_sessions": active_sessions, "tier": client.tier},
        )
