"""Admission of WebSockets that have not authenticated yet.

Why: a socket costs a file descriptor, a bus subscription and a forwarder task from the moment
it opens, before anyone knows who opened it. Without a limit, a few thousand idle sockets from
one address reach the process's fd limit (issue 24). So a socket that has not authenticated is
counted here, per source address and in total, and closed if it has not authenticated within
`server.ws_auth_timeout_s`; over either cap the upgrade is refused with a plain HTTP answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from api.errors import ApiError


@dataclass
class Pending:
    """One unauthenticated socket's place; `release()` (on authenticate or close) is idempotent."""

    owner: "UnauthenticatedSockets"
    address: str
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.owner.release(self.address)


@dataclass
class UnauthenticatedSockets:
    max_total: int
    max_per_address: int
    total: int = 0
    by_address: dict[str, int] = field(default_factory=dict)

    def admit(self, address: str) -> Pending:
        """A place for a new socket, or 429 (this address holds its share) / 503 (the process is full)."""
        held = self.by_address.get(address, 0)
        if self.max_per_address and held >= self.max_per_address:
            raise ApiError(429, f"Too many unauthenticated WebSockets from this address ({held}); authenticate "
                                "or close some", "RATE_LIMIT_EXCEEDED",
                           {"limit": self.max_per_address, "setting": "server.ws_max_unauthenticated_per_address"})
        if self.max_total and self.total >= self.max_total:
            raise ApiError(503, "Too many unauthenticated WebSockets on this server; retry later", "SERVICE_UNAVAILABLE",
                           {"limit": self.max_total, "setting": "server.ws_max_unauthenticated"})
        self.total += 1
        self.by_address[address] = held + 1
        return Pending(self, address)

    def release(self, address: str) -> None:
        self.total -= 1
        left = self.by_address.pop(address, 1) - 1
        if left > 0:
            self.by_address[address] = left
