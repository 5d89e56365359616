"""Brute-force protection for every credential check, and the root /verify user lockout of
tenants other than 0 (tenant 0's is sessions.lockout's, shared with every session transport).

Failures are counted per source address (strict) and per API key from all addresses together
(looser, so an attacker on one address cannot lock the key's owner out from theirs); each further
failure past a limit doubles the block, up to a cap. A blocked key is answered 429 + Retry-After
before its secret is looked at. A blocked *address* refuses only credentials that fail (429
instead of 401, uncounted): behind a NAT or proxy one address is many clients, and one client's
guesses must not lock the others' valid keys out (issue 24). A blocked address's guesses still
learn nothing (429 for an unknown key and a wrong secret alike) and do not count toward the key's
block, so they cannot lock the key's owner out either. The address is the TCP peer, or the
X-Forwarded-For hop of a `server.trusted_proxies` proxy (api/client_address.py). Counters live in this process, or in Redis shared by every worker
when `brute_force.url` is set (with N workers and no Redis, an address gets up to N times the limit).

`BruteForceBlock` is the decision, and `CredentialGuard.listeners` get every new block, so the
audit log or security analytics can record them without this module knowing about either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from api.client_address import client_address
from facestream.config import BruteForceSettings
from sessions.settings import SessionSettings
from storage.failure_counters import FailureCounters, FailurePolicy, FailureState, MemoryFailureCounters

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BruteForceBlock:
    """A refusal: who is blocked (scope "address", "key" or "user" and its subject), after how
    many failures, and for how long."""

    scope: str
    subject: str
    failures: int
    retry_after: int  # seconds
    blocked_until: float  # unix seconds


class CredentialGuard:
    """The brute-force state of one app: counters in this process, or in Redis shared by every
    worker (`brute_force.url`; storage/failure_counters.py)."""

    def __init__(self, settings: BruteForceSettings, counters: FailureCounters | None = None,
                 clock: Callable[[], float] = time.time, sessions: SessionSettings | None = None) -> None:
        s = settings
        self.enabled = s.enabled
        self.counters = counters if counters is not None else MemoryFailureCounters()
        self._clock = clock
        self._policy = {
            "address": FailurePolicy(s.max_failures_per_address, s.window_s, s.base_block_s, s.max_block_s),
            "key": FailurePolicy(s.max_failures_per_key, s.window_s, s.base_block_s, s.max_block_s),
            "user": user_policy(sessions or SessionSettings()),
        }
        self.listeners: list[Callable[[BruteForceBlock], None]] = []

    async def check(self, address: str, key: str | None) -> BruteForceBlock | None:
        """The block that refuses this credential check now, if any."""
        if not self.enabled:
            return None
        return await self._blocked("address", address) or (await self._blocked("key", key) if key else None)

    async def key_blocked(self, key: str) -> BruteForceBlock | None:
        """The block on this API key (failures from all addresses together), if any."""
        return await self._blocked("key", key) if self.enabled else None

    async def refuse_failure(self, address: str, key: str | None) -> BruteForceBlock | None:
        """A failed check: the address's block when it is blocked (not counted again), else the
        failure counted and None (answer 401)."""
        if not self.enabled:
            return None
        block = await self._blocked("address", address)
        if block is not None:
            return block
        await self.failed(address, key)
        return None

    async def failed(self, address: str, key: str | None) -> None:
        if not self.enabled:
            return
        await self._fail("address", address)
        if key:
            await self._fail("key", key)

    async def user_locked(self, subject: str) -> BruteForceBlock | None:
        return await self._blocked("user", subject) if self.enabled else None

    async def user_failed(self, subject: str) -> None:
        if self.enabled:
            await self._fail("user", subject)

    async def user_succeeded(self, subject: str) -> None:
        await self.counters.clear("user", subject)

    async def close(self) -> None:
        await self.counters.close()

    async def _blocked(self, scope: str, subject: str) -> BruteForceBlock | None:
        state = await self.counters.state(scope, subject)
        now = self._clock()
        return None if state is None or state.blocked_until <= now else self._block(scope, subject, state, now)

    async def _fail(self, scope: str, subject: str) -> None:
        now = self._clock()
        state = await self.counters.fail(scope, subject, self._policy[scope], now)
        if state.blocked_until > now and state.failures >= self._policy[scope].limit > 0:
            self._notify(self._block(scope, subject, state, now))

    @staticmethod
    def _block(scope: str, subject: str, state: FailureState, now: float) -> BruteForceBlock:
        retry = max(1, int(state.blocked_until - now + 0.999))
        return BruteForceBlock(scope, subject, state.failures, retry, state.blocked_until)

    def _notify(self, block: BruteForceBlock) -> None:
        log.warning("brute-force block: %s %s after %d failures, %d s", block.scope,
                    block.subject if block.scope == "address" else block.subject[:12], block.failures,
                    block.retry_after)
        for listener in self.listeners:
            try:
                listener(block)
            except Exception:  # a recorder must never break authentication
                log.exception("brute-force listener failed")


def user_policy(s: SessionSettings) -> FailurePolicy:
    """The one user lockout policy (sessions.lockout's numbers): a root /verify in a tenant other
    than 0 has no platform user and no attempt rows, so its failures are counted here, but after
    the same number of failures within the same window it is locked for the same time."""
    return FailurePolicy(s.max_failures, s.failure_window_s, s.lockout_s, s.lockout_s)


CREDENTIAL_GUARD = web.AppKey("credential_guard", CredentialGuard)


def source_address(request: web.Request) -> str:
    return client_address(request)


def too_many(block: BruteForceBlock, what: str = "failed authentication attempts") -> web.HTTPTooManyRequests:
    """The 429 a block answers; the error middleware renders it in the surface's format."""
    return web.HTTPTooManyRequests(
        text=f"Too many {what}; retry after {block.retry_after} s", headers={"Retry-After": str(block.retry_after)}
    )


async def ensure_not_blocked(request: web.Request, key: str | None) -> None:
    """Before the secret is checked: a blocked key is refused (the address waits for a failure)."""
    block = await request.app[CREDENTIAL_GUARD].key_blocked(key) if key else None
    if block is not None:
        raise too_many(block)


async def record_failure(request: web.Request, key: str | None) -> None:
    """After a failed check: 429 when the address is blocked, else counted (the caller answers 401)."""
    block = await request.app[CREDENTIAL_GUARD].refuse_failure(source_address(request), key)
    if block is not None:
        raise too_many(block)
