"""The sidebar selection every page reads: journey, period, channel and variant.

The period is a range of whole UTC days, ``start`` to ``end`` inclusive; as half-open times it is
``since <= occurred_at < until``. The previous period is the range of the same length that ends
where this one starts (what KPI deltas compare with).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta


@dataclass(frozen=True)
class Filters:
    start: date
    end: date
    journey: str | None = None
    channel: str | None = None
    variant: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time())

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time())

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous_since(self) -> datetime:
        return self.since - timedelta(days=self.days)

    @property
    def narrowed(self) -> bool:
        """True when a journey, channel or variant is selected."""
        return any(v is not None for v in (self.journey, self.channel, self.variant))


def default_period(last_day: date | None, days: int = 14) -> tuple[date, date]:
    """The last ``days`` days up to the last day with data (today when there is none)."""
    end = last_day or datetime.now().date()
    return end - timedelta(days=days - 1), end


__all__ = ["Filters", "default_period"]
