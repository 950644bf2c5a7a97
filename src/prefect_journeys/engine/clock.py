"""Time rules in the recipient's local time: quiet hours, waits until a time of day, cap windows.

All inputs and outputs are naive UTC datetimes (the store's convention); local computations use
zoneinfo, so daylight-saving changes are handled by the tz database, not by fixed offsets.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

WEEKDAY_INDEX = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


@lru_cache(maxsize=512)
def zone(name: str | None, default: str = "UTC") -> ZoneInfo:
    """The customer's zone; an unknown or empty name falls back to ``default``."""
    for candidate in (name, default, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except Exception:  # invalid key in the data: fall back, never crash a tick
                continue
    return ZoneInfo("UTC")


def to_local(utc_naive: datetime, tz: ZoneInfo) -> datetime:
    return utc_naive.replace(tzinfo=UTC).astimezone(tz)


def to_utc(local: datetime) -> datetime:
    return local.astimezone(UTC).replace(tzinfo=None)


def at_local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """``day`` at local wall time ``at`` as naive UTC. A wall time skipped by DST moves forward."""
    local = datetime.combine(day, at, tzinfo=tz)
    # Round-trip through UTC normalises a non-existent wall time (spring-forward gap).
    roundtrip = to_local(to_utc(local), tz)
    if roundtrip.replace(tzinfo=None) != local.replace(tzinfo=None):
        local = datetime.combine(day, at, tzinfo=tz).replace(fold=1)
    return to_utc(local)


def next_local_time(
    now: datetime, at: time, tz: ZoneInfo, weekdays: tuple[int, ...] | None = None
) -> datetime:
    """The first moment ≥ ``now`` whose local wall time is ``at`` (on one of ``weekdays``)."""
    local_day = to_local(now, tz).date()
    for offset in range(0, 15):
        day = local_day + timedelta(days=offset)
        if weekdays is not None and day.weekday() not in weekdays:
            continue
        candidate = at_local(day, at, tz)
        if candidate >= now:
            return candidate
    raise ValueError("no matching weekday")  # unreachable with a non-empty weekday list


def in_quiet_hours(now: datetime, start: time, end: time, tz: ZoneInfo) -> bool:
    wall = to_local(now, tz).time()
    if start == end:
        return False
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end


def quiet_hours_end(now: datetime, start: time, end: time, tz: ZoneInfo) -> datetime:
    """``now`` if outside quiet hours, else the moment they end (local ``end`` time)."""
    if not in_quiet_hours(now, start, end, tz):
        return now
    return next_local_time(now, end, tz)


def cap_window(now: datetime, unit: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The local calendar hour/day/week (Monday first) containing ``now``, as naive UTC bounds."""
    local = to_local(now, tz)
    if unit == "hour":
        start_local = local.replace(minute=0, second=0, microsecond=0)
        start = to_utc(start_local)
        return start, start + timedelta(hours=1)
    day = local.date()
    if unit == "week":
        day = day - timedelta(days=day.weekday())
        return at_local(day, time(0), tz), at_local(day + timedelta(days=7), time(0), tz)
    return at_local(day, time(0), tz), at_local(day + timedelta(days=1), time(0), tz)
