"""Brute-force protection for every credential check, and the root /verify user lockout.

Why in front of the check: a blocked caller is answered 429 + Retry-After before its key and
secret are looked at, so blocked guesses cost nothing and reveal nothing. Failures are counted
per source address (strict) and per API key from all addresses together (looser, so an attacker
on one address cannot lock the key's owner out from theirs); each further failure past a limit
doubles the block, up to a cap. Counters live in this process (bounded; old entries are
pruned): with N workers an address gets up to N times the limit.

`BruteForceBlock` is the decision, and `CredentialGuard.listeners` get every new block, so the
audit log or security analytics can record them without this module knowing about either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from facestream.config import BruteForceSettings

log = logging.getLogger(__name__)

MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class BruteForceBlock:
    """A refusal: who is blocked (scope "address", "key" or "user" and its subject), after how
    many failures, and for how long."""

    scope: str
    subject: str
    failures: int
    retry_after: int  # seconds
    blocked_until: float  # unix seconds


@dataclass
class _Entry:
    failures: int = 0
    last_failure: float = 0.0
    blocked_until: float = 0.0


class FailureCounter:
    """Failures of one scope: `limit` within `window_s` blocks a subject for `base_s` doubling
    with every failure after that, at most `max_s`."""

    def __init__(self, scope: str, limit: int, window_s: float, base_s: float, max_s: float) -> None:
        self.scope, self.limit, self.window_s, self.base_s, self.max_s = scope, limit, window_s, base_s, max_s
        self._entries: dict[str, _Entry] = {}

    def blocked(self, subject: str, now: float) -> BruteForceBlock | None:
        entry = self._entries.get(subject)
        if entry is None or entry.blocked_until <= now:
            return None
        return self._block(subject, entry, now)

    def fail(self, subject: str, now: float) -> BruteForceBlock | None:
        """Count a failure; the block it starts, if it reaches the limit."""
        entry = self._entries.pop(subject, None) or _Entry()
        if now - entry.last_failure > self.window_s:
            entry = _Entry()
        entry.failures += 1
        entry.last_failure = now
        self._entries[subject] = entry  # re-inserted: the dict stays ordered oldest-first
        self._prune(now)
        if self.limit <= 0 or entry.failures < self.limit:
            return None
        entry.blocked_until = now + min(self.max_s, self.base_s * 2 ** (entry.failures - self.limit))
        return self._block(subject, entry, now)

    def clear(self, subject: str) -> None:
        self._entries.pop(subject, None)

    def _block(self, subject: str, entry: _Entry, now: float) -> BruteForceBlock:
        retry = max(1, int(entry.blocked_until - now + 0.999))
        return BruteForceBlock(self.scope, subject, entry.failures, retry, entry.blocked_until)

    def _prune(self, now: float) -> None:
        if len(self._entries) <= MAX_ENTRIES:
            return
        for subject in list(self._entries)[: len(self._entries) // 10 or 1]:
            entry = self._entries[subject]
            if entry.blocked_until <= now:
                del self._entries[subject]


class CredentialGuard:
    """The per-process brute-force state of one app."""

    def __init__(self, settings: BruteForceSettings, clock: Callable[[], float] = time.time) -> None:
        s = settings
        self.enabled = s.enabled
        self._clock = clock
        self._address = FailureCounter("address", s.max_failures_per_address, s.window_s, s.base_block_s, s.max_block_s)
        self._key = FailureCounter("key", s.max_failures_per_key, s.window_s, s.base_block_s, s.max_block_s)
        self._user = FailureCounter("user", s.verify_max_failures, s.window_s, s.verify_lockout_s, s.verify_lockout_s)
        self.listeners: list[Callable[[BruteForceBlock], None]] = []

    def check(self, address: str, key: str | None) -> BruteForceBlock | None:
        """The block that refuses this credential check now, if any."""
        if not self.enabled:
            return None
        now = self._clock()
        return self._address.blocked(address, now) or (self._key.blocked(key, now) if key else None)

    def failed(self, address: str, key: str | None) -> None:
        if not self.enabled:
            return
        now = self._clock()
        for block in (self._address.fail(address, now), self._key.fail(key, now) if key else None):
            if block is not None:
                self._notify(block)

    def user_locked(self, subject: str) -> BruteForceBlock | None:
        return self._user.blocked(subject, self._clock()) if self.enabled else None

    def user_failed(self, subject: str) -> None:
        if self.enabled and (block := self._user.fail(subject, self._clock())) is not None:
            self._notify(block)

    def user_succeeded(self, subject: str) -> None:
        self._user.clear(subject)

    def _notify(self, block: BruteForceBlock) -> None:
        log.warning("brute-force block: %s %s after %d failures, %d s", block.scope,
                    block.subject if block.scope == "address" else block.subject[:12], block.failures,
                    block.retry_after)
        for listener in self.listeners:
            try:
                listener(block)
            except Exception:  # a recorder must never break authentication
                log.exception("brute-force listener failed")


CREDENTIAL_GUARD = web.AppKey("credential_guard", CredentialGuard)


def source_address(request: web.Request) -> str:
    return request.remote or "unknown"


def too_many(block: BruteForceBlock, what: str = "failed authentication attempts") -> web.HTTPTooManyRequests:
    """The 429 a block answers; the error middleware renders it in the surface's format."""
    return web.HTTPTooManyRequests(
        text=f"Too many {what}; retry after {block.retry_after} s", headers={"Retry-After": str(block.retry_after)}
    )


def ensure_not_blocked(request: web.Request, key: str | None) -> None:
    block = request.app[CREDENTIAL_GUARD].check(source_address(request), key)
    if block is not None:
        raise too_many(block)


def record_failure(request: web.Request, key: str | None) -> None:
    request.app[CREDENTIAL_GUARD].failed(source_address(request), key)
