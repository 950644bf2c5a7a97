"""Appending synced events: idempotent, in time order, safe against a concurrent writer."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from sqlalchemy import Engine, text
from tests.sources.helpers import rows

from prefect_journeys.sources.events import EventRows
from prefect_journeys.sources.eventstore import append_events

NOW = datetime(2026, 3, 2, 12, 0)


def _rows(*ids: str) -> EventRows:
    count = len(ids)
    return EventRows(
        source_ids=list(ids),
        customer_ids=["c1"] * count,
        names=["purchase"] * count,
        occurred_at=[datetime(2026, 3, 1, 11 if i == "s:b" else 12) for i in ids],  # b first
        properties=[{"order_id": i} for i in ids],
        values=[1.0] * count,
    )


def test_appending_twice_stores_each_event_once_in_time_order(engine: Engine) -> None:
    with engine.begin() as conn:
        assert append_events(conn, _rows("s:a", "s:b", "s:a"), NOW) == 2
    with engine.begin() as conn:
        assert append_events(conn, _rows("s:a", "s:b", "s:c"), NOW) == 1
    stored = rows(engine, "select source_id from events order by seq")
    assert stored == [("s:b",), ("s:a",), ("s:c",)]  # b happened before a


def test_a_concurrent_writer_of_the_same_event_is_not_doubled(pg_engine: Engine) -> None:
    """Another transaction stores s:x after our lookup: the direct COPY hits the unique index,
    the batch falls back to INSERT … ON CONFLICT DO NOTHING and still stores s:y once."""
    other = pg_engine.connect()
    other.begin()
    other.execute(
        text(
            "insert into events (source_id, customer_id, name, occurred_at, received_at,"
            " properties) values ('s:x', 'c2', 'purchase', :t, :t, '{}')"
        ),
        {"t": NOW},
    )
    result: dict[str, int] = {}

    def ours() -> None:
        with pg_engine.begin() as conn:
            result["inserted"] = append_events(conn, _rows("s:x", "s:y"), NOW)

    worker = threading.Thread(target=ours)
    worker.start()
    time.sleep(1.0)  # our COPY now waits on the other transaction's s:x
    other.commit()
    other.close()
    worker.join(timeout=30)
    assert result == {"inserted": 1}
    assert rows(pg_engine, "select source_id, customer_id from events order by source_id") == [
        ("s:x", "c2"),
        ("s:y", "c1"),
    ]


def test_synced_events_read_back_like_any_other_event(engine: Engine) -> None:
    """The fast paths store times and JSON exactly as the store's own writes do: the same raw
    text on SQLite, the same typed values through SQLAlchemy."""
    from sqlalchemy import select

    from prefect_journeys.store.writes import events_t, insert_events

    at = datetime(2026, 3, 1, 9, 30, 15, 250)
    with engine.begin() as conn:
        append_events(
            conn,
            EventRows(["s:1"], ["c1"], ["purchase"], [at], [{"order_id": "o1", "n": 2}], [9.5]),
            NOW,
        )
        insert_events(
            conn,
            [
                {
                    "source_id": "own:1",
                    "customer_id": "c1",
                    "name": "purchase",
                    "occurred_at": at,
                    "received_at": NOW,
                    "properties": {"order_id": "o1", "n": 2},
                    "value": 9.5,
                }
            ],
        )
    raw = rows(engine, "select occurred_at, received_at, properties from events order by source_id")
    assert raw[0] == raw[1]
    with engine.connect() as conn:
        typed = conn.execute(
            select(events_t.c.occurred_at, events_t.c.received_at, events_t.c.properties).where(
                events_t.c.source_id == "s:1"
            )
        ).one()
    assert tuple(typed) == (at, NOW, {"order_id": "o1", "n": 2})
