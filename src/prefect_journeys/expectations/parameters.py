"""Values prefect-journeys supplies for suite parameters (``{"$PARAMETER": "<name>"}``).

``iana_timezones``
    Every IANA time zone name this Python knows (``zoneinfo.available_timezones()``).
``latest_event_time``
    The latest acceptable event time: now (naive UTC) plus :data:`FUTURE_TOLERANCE` (5 minutes),
    so clocks slightly ahead are tolerated and events dated in the future are not.

A caller may pass other values (``validate(..., parameters={...})``); a suite may use its own
parameters only when its caller supplies them.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from datetime import timedelta
from functools import cache
from typing import Any

from prefect_journeys.store.database import utcnow

FUTURE_TOLERANCE = timedelta(minutes=5)


@cache
def iana_timezones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def default_parameters(names: Iterable[str]) -> dict[str, Any]:
    """Values for the known parameters among ``names`` (unknown names are left out)."""
    wanted = set(names)
    values: dict[str, Any] = {}
    if "iana_timezones" in wanted:
        values["iana_timezones"] = list(iana_timezones())
    if "latest_event_time" in wanted:
        values["latest_event_time"] = utcnow() + FUTURE_TOLERANCE
    return values


__all__ = ["FUTURE_TOLERANCE", "default_parameters", "iana_timezones"]
