"""UTC timestamps as the API writes them: one place for the ISO-8601 forms and the naive->UTC rule.

Why here: storage/ sits under every layer that writes a time into a body or an event (api,
sessions, doors, events may all import storage; storage imports nothing above it), and the rows it
returns are where naive datetimes come from (SQLite drops the zone). engine/ stays about faces.

Three forms are in use and clients compare them as strings, so each stays exactly what it was:
- `iso_seconds`: `2026-12-07T22:30:58Z` (error envelopes, session bodies, user and analytics times);
- `iso_millis`: `2026-12-07T22:30:58.123Z` (webhook and event timestamps, where order matters);
- `iso_precise`: every digit the value holds, `...T22:30:58.123456Z` (stored record times).
A naive datetime is UTC everywhere (that is how every store writes it).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import overload

SECONDS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """A datetime read back from a store, zone-aware: SQLite returns them naive, and they are UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _utc(value: datetime) -> datetime:
    return as_utc(value).astimezone(timezone.utc)


def iso_seconds(value: datetime | float | None = None) -> str:
    """Whole seconds with a `Z`; a unix time goes through `time.gmtime` (truncated, never rounded
    up into the next second); no value is now."""
    if value is None:
        return time.strftime(SECONDS_FORMAT, time.gmtime())
    if isinstance(value, datetime):
        return _utc(value).strftime(SECONDS_FORMAT)
    return time.strftime(SECONDS_FORMAT, time.gmtime(value))


def iso_millis(value: datetime | float | None = None) -> str:
    """Milliseconds with a `Z`; no value is now."""
    if value is None:
        value = now_utc()
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, timezone.utc)
    return _utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@overload
def iso_precise(value: datetime) -> str: ...
@overload
def iso_precise(value: None) -> None: ...
def iso_precise(value: datetime | None) -> str | None:
    """As precise as the value (microseconds when it has them) with a `Z`; None stays None."""
    if value is None:
        return None
    return _utc(value).isoformat().replace("+00:00", "Z")
