"""The event log as a pandas DataFrame: the one input every analytic in this package reads.

Analytics are pure functions over frames shaped like the ``events`` table (``seq``,
``customer_id``, ``name``, ``occurred_at``, ``properties``, ``journey_id``, ``journey_version``,
``step_id``, ``stage``, ``variant``, ``channel``, ``enrollment_id``, ``intent_id``, ``value``).
:func:`events_frame` is the only place that reads them from the store: filters are pushed into
SQL, and only the asked-for columns travel. Tests build the same frames by hand.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select

from prefect_journeys.store.models import Event

events_t = Event.__table__  # type: ignore[attr-defined]

EVENT_COLUMNS: tuple[str, ...] = (
    "seq",
    "customer_id",
    "name",
    "occurred_at",
    "properties",
    "journey_id",
    "journey_version",
    "step_id",
    "stage",
    "variant",
    "channel",
    "enrollment_id",
    "intent_id",
    "value",
)
DEFAULT_COLUMNS: tuple[str, ...] = tuple(c for c in EVENT_COLUMNS if c != "properties")


def empty_events(columns: Sequence[str] = DEFAULT_COLUMNS) -> pd.DataFrame:
    """A frame with no rows and the event columns (``occurred_at`` as datetimes)."""
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    if "occurred_at" in frame:
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"])
    return frame


def events_frame(
    conn: Connection,
    *,
    names: Sequence[str] | None = None,
    journey_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    customer_ids: Sequence[str] | None = None,
    columns: Sequence[str] = DEFAULT_COLUMNS,
) -> pd.DataFrame:
    """Events filtered by name, journey, ``since <= occurred_at < until`` and customers.

    Rows come in ``seq`` order (the order they were recorded). ``properties`` (only when asked
    for) is decoded to dicts on every backend.
    """
    unknown = [c for c in columns if c not in EVENT_COLUMNS]
    if unknown:
        raise ValueError(f"unknown event column(s): {', '.join(unknown)}")
    query = select(*(events_t.c[c] for c in columns))
    if names is not None:
        query = query.where(events_t.c.name.in_(list(names)))
    if journey_id is not None:
        query = query.where(events_t.c.journey_id == journey_id)
    if since is not None:
        query = query.where(events_t.c.occurred_at >= since)
    if until is not None:
        query = query.where(events_t.c.occurred_at < until)
    if customer_ids is not None:
        query = query.where(events_t.c.customer_id.in_(list(customer_ids)))
    rows = [tuple(r) for r in conn.execute(query.order_by(events_t.c.seq))]
    if not rows:
        return empty_events(columns)
    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    if "occurred_at" in frame:
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"])
    if "properties" in frame:
        frame["properties"] = frame["properties"].map(_as_dict)
    return frame


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str | bytes) and value:
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return {}


__all__ = ["DEFAULT_COLUMNS", "EVENT_COLUMNS", "empty_events", "events_frame"]
