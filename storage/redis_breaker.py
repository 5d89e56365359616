"""A short leash on Redis for checks that sit in front of every request.

Why: the brute-force counters and the rate limiter are consulted on every authenticated request.
A Redis that accepts connections but never answers (frozen, paused, overloaded) used to cost each
call its full socket timeout, several calls a request: ~3 s added to every request (issue 24).
So calls get a short timeout, and after a failure Redis is left alone for `retry_s` (the callers
count in this process meanwhile, as they already did while Redis was down): a frozen Redis costs
one short timeout per `retry_s` per process, not one per call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 0.25
DEFAULT_RETRY_S = 5.0


class RedisBreaker:
    def __init__(self, what: str, retry_s: float = DEFAULT_RETRY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._what = what
        self._retry_s = retry_s
        self._clock = clock
        self._skip_until = 0.0
        self._warned_at = -1e18

    @property
    def closed(self) -> bool:
        """True when Redis may be tried now (no recent failure)."""
        return self._clock() >= self._skip_until

    def failed(self, exc: BaseException) -> None:
        now = self._clock()
        self._skip_until = now + self._retry_s
        if now - self._warned_at > 60:
            self._warned_at = now
            log.warning("%s: Redis unreachable or too slow (%s: %s); counting in this process, retrying in %g s",
                        self._what, type(exc).__name__, exc, self._retry_s)
