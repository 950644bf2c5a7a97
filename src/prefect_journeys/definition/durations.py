"""Durations (``30m``, ``1d``, ``2w``), times of day and frequency caps as written in journey files."""

from __future__ import annotations

import re
from datetime import time, timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_PART = re.compile(r"(\d+)\s*([smhdw])")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_CAP = re.compile(r"^\s*(\d+)\s*/\s*(hour|day|week)\s*$")


def parse_duration(text: str | int) -> timedelta:
    """Parse ``90m``, ``1d``, ``1d12h`` into a timedelta; raise ValueError with a hint otherwise."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(f"expected a duration such as '30m', '1d' or '2w', got {text!r}")
    if isinstance(text, int):
        raise ValueError(f"a duration needs a unit: write '{text}d' or '{text}h', not {text}")
    compact = text.replace(" ", "")
    parts = _PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(
            f"invalid duration {text!r}: use a number and a unit s, m, h, d or w (e.g. '3d', '1d12h')"
        )
    total = timedelta()
    for number, unit in parts:
        total += timedelta(**{_UNITS[unit]: int(number)})
    if total <= timedelta(0):
        raise ValueError(f"invalid duration {text!r}: must be longer than zero")
    return total


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    out = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out) or "0s"


def parse_time_of_day(text: str) -> time:
    if not isinstance(text, str) or not _TIME.match(text.strip()):
        raise ValueError(
            f"invalid time of day {text!r}: write HH:MM on a 24-hour clock, e.g. '09:30'"
        )
    hour, minute = text.strip().split(":")
    return time(int(hour), int(minute))


def parse_cap(text: str) -> tuple[int, str]:
    """``2/day`` → (2, 'day')."""
    match = _CAP.match(text) if isinstance(text, str) else None
    if not match or int(match.group(1)) < 1:
        raise ValueError(
            f"invalid frequency cap {text!r}: write e.g. '2/day', '1/hour' or '5/week'"
        )
    return int(match.group(1)), match.group(2)
