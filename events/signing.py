"""Webhook signatures and the connector's resolver that applies the target guard (events/targets.py).

`X-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>` with the endpoint's secret (the
seeds' header). `X-Webhook-Delivery` (stable across retries, also in the signed body as
`delivery_id`) lets a receiver drop a replay or a duplicate; `X-Webhook-Timestamp` is the send time.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from events.targets import TargetRefused, check_host, is_public

__all__ = ["PublicOnlyResolver", "TargetRefused", "headers", "signature", "verify"]


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does (README): recompute over the raw body, compare in constant time."""
    return hmac.compare_digest(signature(secret, body), header or "")


class PublicOnlyResolver(AbstractResolver):
    """The connector's resolver: every address a name resolves to must be public, and the
    connection goes to exactly those addresses (no second lookup to rebind)."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        check_host(host)  # the host as yarl normalised it; numeric forms never reach DNS
        results = await self._inner.resolve(host, port, family)
        bad = [r["host"] for r in results if not is_public(r["host"])]
        if bad:
            raise TargetRefused(f"{host} resolves to non-public address {bad[0]}")
        return results

    async def close(self) -> None:
        await self._inner.close()


def headers(secret: str, body: bytes, *, event: str, delivery_id: str, attempt: int, sent_at: int) -> dict[str, Any]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "Facestream-Webhooks/1",
        "X-Signature": signature(secret, body),
        "X-Webhook-Event": event,
        "X-Webhook-Delivery": delivery_id,
        "X-Webhook-Attempt": str(attempt),
        "X-Webhook-Timestamp": str(sent_at),
    }
