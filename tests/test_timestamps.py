"""storage.timestamps: the three ISO-8601 forms bodies and events carry, byte for byte as clients
have always read them, and the naive->UTC rule for rows read back from SQLite."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from storage.timestamps import as_utc, iso_millis, iso_precise, iso_seconds, now_utc

WHEN = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=timezone.utc)
PARIS = timezone(timedelta(hours=1))


def test_seconds_form() -> None:
    assert iso_seconds(WHEN) == "2026-03-04T05:06:07Z"
    assert iso_seconds(WHEN.replace(tzinfo=None)) == "2026-03-04T05:06:07Z"  # naive is UTC
    assert iso_seconds(WHEN.astimezone(PARIS)) == "2026-03-04T05:06:07Z"  # another zone is converted
    assert iso_seconds(WHEN.timestamp()) == "2026-03-04T05:06:07Z"
    assert iso_seconds(1.9999999) == "1970-01-01T00:00:01Z"  # truncated like time.gmtime, never rounded up
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", iso_seconds())


def test_millis_form() -> None:
    assert iso_millis(WHEN) == "2026-03-04T05:06:07.891Z"
    assert iso_millis(WHEN.astimezone(PARIS)) == "2026-03-04T05:06:07.891Z"
    assert iso_millis(0) == "1970-01-01T00:00:00.000Z"
    assert iso_millis(1.5) == "1970-01-01T00:00:01.500Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", iso_millis())


def test_precise_form() -> None:
    assert iso_precise(WHEN) == "2026-03-04T05:06:07.891234Z"
    assert iso_precise(WHEN.replace(microsecond=0)) == "2026-03-04T05:06:07Z"  # as precise as the value
    assert iso_precise(WHEN.replace(tzinfo=None)) == "2026-03-04T05:06:07.891234Z"
    assert iso_precise(None) is None


def test_as_utc() -> None:
    assert as_utc(WHEN.replace(tzinfo=None)) == WHEN and as_utc(WHEN.replace(tzinfo=None)).tzinfo is timezone.utc
    assert as_utc(WHEN.astimezone(PARIS)).tzinfo == PARIS  # an aware value keeps its zone
    assert as_utc(None) is None
    assert now_utc().tzinfo is timezone.utc
