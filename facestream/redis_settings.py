"""One Redis for every use (`redis.url`), each use under its own key prefix.

Why: scale-out shares five things through Redis (the gallery cache and its change notices, the
event bus, rate-limit counters, failed-credential counters), and four separate URL settings made
it easy to share some and silently keep others per process (N workers then allow N x the limits).
The per-use settings `cache.url`, `events.bus_url`, `rate_limits.url` and `brute_force.url` are
still read: set, they override `redis.url` for their use (a separate Redis for the cache, say),
and the first load that sees one logs a deprecation warning naming `redis.url`. Key prefixes stay
with their use (`cache.key_prefix`, `events.key_prefix`, `rate_limits.key_prefix`,
`brute_force.key_prefix`), so the uses never read each other's keys or channels.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RedisSettings:
    # Empty: everything in this process (one worker). redis://host:port/db (rediss:// for TLS):
    # shared by every worker for the cache, gallery change notices, events and both counters.
    url: str = ""


@dataclass(frozen=True)
class RedisUrls:
    """The Redis each use connects to; "" keeps that use in this process."""

    cache: str  # gallery cache and the gallery change notices
    events: str  # the event bus (pub/sub)
    rate_limits: str
    brute_force: str


def resolve(shared: str, *, cache: str, events: str, rate_limits: str, brute_force: str) -> RedisUrls:
    """`redis.url` for every use, except where a deprecated per-use URL is set."""
    for key, value in (("cache.url", cache), ("events.bus_url", events), ("rate_limits.url", rate_limits),
                       ("brute_force.url", brute_force)):
        if value:
            warn_deprecated(key)
    return RedisUrls(cache=cache or shared, events=events or shared, rate_limits=rate_limits or shared,
                     brute_force=brute_force or shared)


@functools.cache
def warn_deprecated(key: str) -> None:
    """Once per key per process: config is loaded more than once (CLI, app, workers' reloads)."""
    log.warning("config key %s is deprecated: set redis.url (one Redis for every use, each under its own "
                "key prefix); %s still overrides redis.url for its own use while it is set", key, key)
