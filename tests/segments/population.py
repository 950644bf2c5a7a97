"""Test helpers: put a small population (customers, tags, events, enrollments) into a store and
clear it again."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, insert

from prefect_journeys.store.models import metadata

T0 = datetime(2024, 1, 1)
CUSTOMER_DEFAULTS: dict[str, Any] = {
    "email": None,
    "phone": None,
    "first_name": None,
    "last_name": None,
    "timezone": None,
    "locale": None,
    "email_consent": False,
    "sms_consent": False,
    "whatsapp_consent": False,
    "attributes": {},
    "created_at": T0,
    "updated_at": T0,
}
EVENT_DEFAULTS: dict[str, Any] = {
    "received_at": T0,
    "properties": {},
    "journey_id": None,
    "step_id": None,
    "enrollment_id": None,
}


def seed_rows(
    engine: Engine,
    *,
    customers: Iterable[Mapping[str, Any]] = (),
    tags: Iterable[tuple[str, str]] = (),
    events: Iterable[Mapping[str, Any]] = (),
    enrollments: Iterable[Mapping[str, Any]] = (),
) -> None:
    """Insert rows; only the interesting columns need to be given."""
    tables = metadata.tables
    customer_rows = [{**CUSTOMER_DEFAULTS, **row} for row in customers]
    event_rows = [
        {**EVENT_DEFAULTS, "source_id": f"src-{i}", **row} for i, row in enumerate(events)
    ]
    enrollment_rows = [
        {
            "journey_id": "j",
            "version": 1,
            "entry_seq": 1,
            "triggered_at": T0,
            "entered_at": T0,
            "state": "active",
            "updated_at": T0,
            **row,
        }
        for row in enrollments
    ]
    with engine.begin() as conn:
        if customer_rows:
            conn.execute(insert(tables["customers"]), customer_rows)
        tag_rows = [{"customer_id": c, "tag": t} for c, t in tags]
        if tag_rows:
            conn.execute(insert(tables["customer_tags"]), tag_rows)
        if event_rows:
            conn.execute(insert(tables["events"]), event_rows)
        if enrollment_rows:
            conn.execute(insert(tables["enrollments"]), enrollment_rows)


def clear_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        for name in ("events", "enrollments", "customer_tags", "customers"):
            conn.execute(delete(metadata.tables[name]))
