"""A door's weekly schedule: rules like "mon-fri 08:00-18:00", "sat 09:00-13:00", "sun 22:00-06:00"
(past midnight: runs into the next day) read in the camera's IANA time zone (zoneinfo, so
daylight-saving changes follow the local clock). No rules: always open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleError(ValueError):
    """A rule or time zone that cannot be read; the message names it."""


@dataclass(frozen=True)
class Rule:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time

    def covers(self, local: datetime) -> bool:
        t, day = local.time(), local.weekday()
        if self.start <= self.end:
            return day in self.days and self.start <= t < self.end
        # overnight: the evening part on a listed day, the morning part on the day after
        return (day in self.days and t >= self.start) or ((day - 1) % 7 in self.days and t < self.end)


def _days(text: str) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ScheduleError(f"unknown day in {text!r} (use mon..sun, e.g. mon-fri or sat,sun)")
        a, b = DAYS.index(first), DAYS.index(last or first)
        out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(out)


def _time(text: str) -> time:
    if text == "24:00":
        return time.max
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise ScheduleError(f"bad time {text!r} (use HH:MM)") from exc


def parse_rule(text: str) -> Rule:
    parts = text.strip().lower().split()
    if len(parts) != 2 or parts[1].count("-") != 1:
        raise ScheduleError(f"bad schedule rule {text!r} (expected e.g. 'mon-fri 08:00-18:00')")
    start, end = parts[1].split("-")
    return Rule(_days(parts[0]), _time(start), _time(end))


@dataclass(frozen=True)
class Schedule:
    rules: tuple[Rule, ...]
    zone: ZoneInfo

    @classmethod
    def parse(cls, rules: tuple[str, ...] | list[str], timezone: str) -> "Schedule":
        try:
            zone = ZoneInfo(timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a folder name like "Europe"
            raise ScheduleError(f"unknown time zone {timezone!r}") from exc
        return cls(tuple(parse_rule(r) for r in rules), zone)

    def is_open(self, when: datetime) -> bool:
        """`when` is an aware datetime (any zone)."""
        if not self.rules:
            return True
        local = when.astimezone(self.zone)
        return any(r.covers(local) for r in self.rules)
