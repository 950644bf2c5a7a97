"""Event sources: purchases from Parquet, events from CSV, deduplication, identities."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from tests.sources.helpers import (
    ORDERS_YAML,
    order,
    rows,
    scalar,
    store_state,
    sync,
    write_csv,
    write_orders,
    write_project,
)

D = datetime(2026, 2, 1, 10, 0)

EVENTS_YAML = """
kind: csv
entity: events
path: data/events.csv
watermark: at
columns: {id: event_id, customer: user_id, anonymous_id: anon, name: event, timestamp: at}
purchase: {order_id: order, amount: amount, currency: currency}
properties:
  cart_id: cart
  items: {column: items, type: integer}
"""
EVENT_HEADER = [
    "event_id",
    "user_id",
    "anon",
    "event",
    "at",
    "order",
    "amount",
    "currency",
    "cart",
    "items",
]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _events(root: Path, data: list[list[Any]]) -> None:
    write_csv(root / "data" / "events.csv", EVENT_HEADER, data)


def test_purchases_from_parquet_and_incremental_reruns(engine: Engine, root: Path) -> None:
    path = root / "data" / "orders.parquet"
    write_orders(
        path, [order(1, "c1", D, 19.5), order(2, "c2", D.replace(day=2), 5.0, currency="USD")]
    )
    project = write_project(root, {"orders": ORDERS_YAML})
    first = sync(engine, project, "orders")
    assert first.status == "succeeded", first.error
    assert (first.counts["events_inserted"], first.counts["profiles_created"]) == (2, 2)
    stored = rows(
        engine,
        "select source_id, customer_id, name, occurred_at, value, properties from events order by source_id",
    )
    assert [(*r[:3], str(r[3])[:19], r[4]) for r in stored] == [
        ("orders:order:o1", "c1", "purchase", "2026-02-01 10:00:00", 19.5),
        ("orders:order:o2", "c2", "purchase", "2026-02-02 10:00:00", 5.0),
    ]
    assert _json(stored[1][5]) == {
        "channel": "web",
        "order_id": "o2",
        "currency": "USD",
        "amount": 5.0,
    }
    assert scalar(engine, "select count(*) from customers") == 2  # bare profiles for new keys
    before = store_state(engine)
    again = sync(engine, project, "orders")
    assert (again.counts["skipped"], again.counts["events_duplicate"]) == (1, 1)
    assert store_state(engine) == before
    write_orders(
        path,
        [
            order(1, "c1", D, 19.5),
            order(2, "c2", D.replace(day=2), 5.0, currency="USD"),
            order(3, "c1", D.replace(day=3), 7.25),
        ],
    )
    third = sync(engine, project, "orders")
    assert (third.counts["events_inserted"], third.counts["profiles_created"]) == (1, 0)
    assert scalar(engine, "select sum(value) from events where customer_id = 'c1'") == 26.75
    assert third.watermark_to == "2026-02-03T10:00:00"


def test_unreadable_timestamps_and_amounts_refuse_only_their_row(
    engine: Engine, root: Path
) -> None:
    good = [
        [f"e{n}", f"c{n}", "", "signed_up", f"2026-02-01T10:{n:02d}:00Z", "", "", "", "", ""]
        for n in range(1, 41)
    ]
    good[5][4] = "01/02/2026 10:05"  # line 7: not ISO 8601
    good[9] = ["e10", "c10", "", "purchase", "2026-02-01T11:00:00Z", "o10", "12,50", "EUR", "", ""]
    _events(root, good)
    project = write_project(root, {"web": EVENTS_YAML})
    result = sync(engine, project, "web")
    assert result.status == "succeeded", result.error
    assert (result.counts["events_inserted"], result.counts["rejected"]) == (38, 2)
    quarantined = rows(engine, "select row_ref, customer_id, reasons from quarantine order by id")
    assert [(q[0], q[1], _json(q[2])) for q in quarantined] == [
        (
            "data/events.csv:7",
            "c6",
            ["timestamp: cannot read '01/02/2026 10:05' as a time (ISO 8601)"],
        ),
        ("data/events.csv:11", "c10", ["amount: cannot read '12,50' as an amount"]),
    ]
    results = _json(scalar(engine, "select results from validations"))
    labels = {r["label"]: r["unexpected_count"] for r in results if not r["success"]}
    assert labels == {
        "timestamp: not a time (ISO 8601) (mapping)": 1,
        "amount: not a number (mapping)": 1,
    }


def test_event_ids_deduplicate_and_conflicting_copies_are_refused(
    engine: Engine, root: Path
) -> None:
    row = ["e1", "c1", "", "cart_abandoned", "2026-02-01T10:00:00Z", "", "", "", "k1", "2"]
    clash = ["e2", "c2", "", "cart_abandoned", "2026-02-01T10:00:00Z", "", "", "", "k2", "1"]
    other = [*clash[:8], "k3", "1"]
    rest = [
        [f"e{n}", f"c{n}", "", "signed_up", "2026-02-01T09:00:00Z", "", "", "", "", ""]
        for n in range(3, 50)
    ]
    _events(root, [row, row, clash, other, *rest])
    project = write_project(root, {"web": EVENTS_YAML})
    result = sync(engine, project, "web")
    assert result.status == "succeeded", result.error
    assert (result.counts["collapsed"], result.counts["rejected"]) == (1, 2)
    assert result.counts["events_inserted"] == 48
    stored = rows(engine, "select properties from events where source_id = 'web:e1'")
    assert [_json(p) for (p,) in stored] == [{"cart_id": "k1", "items": 2}]
    assert scalar(engine, "select count(*) from events where source_id = 'web:e2'") == 0
    assert result.problems[0] == (
        "data/events.csv:4: event id 'e2' appears 2 times in the batch with different values"
        " (data/events.csv:4, data/events.csv:5)"
    )


def test_anonymous_visitors_and_their_identification(engine: Engine, root: Path) -> None:
    """An anonymous visitor gets a profile of its own; the row that carries both the anonymous id
    and the customer key links them, and the visitor's earlier events end on the customer."""
    _events(
        root,
        [
            ["e1", "", "anon-7", "cart_abandoned", "2026-02-01T10:00:00Z", "", "", "", "k1", "1"],
        ],
    )
    project = write_project(root, {"web": EVENTS_YAML})
    first = sync(engine, project, "web")
    assert first.status == "succeeded", first.error
    assert first.counts["profiles_created"] == 1
    (anonymous_profile,) = rows(engine, "select customer_id from events")
    _events(
        root,
        [
            ["e1", "", "anon-7", "cart_abandoned", "2026-02-01T10:00:00Z", "", "", "", "k1", "1"],
            ["e2", "c1", "anon-7", "signed_up", "2026-02-01T10:05:00Z", "", "", "", "", ""],
        ],
    )
    second = sync(engine, project, "web")
    assert second.status == "succeeded", second.error
    assert second.counts["aliases"] == 1 and second.counts["events_inserted"] == 1
    owners = {r[0] for r in rows(engine, "select customer_id from events")}
    assert len(owners) == 1  # both events now belong to one profile
    (owner,) = owners
    assert (
        scalar(
            engine,
            "select customer_id from identities where kind = 'anonymous_id' and value = 'anon-7'",
        )
        == owner
    )
    assert anonymous_profile[0] in (
        owner,
        *[r[0] for r in rows(engine, "select from_id from customer_merges")],
    )


def test_events_without_ids_are_deduplicated_by_content(engine: Engine, root: Path) -> None:
    body = """
    kind: csv
    entity: events
    path: data/events.csv
    columns: {customer: user_id, name: event, timestamp: at}
    properties: [cart]
    """
    write_csv(
        root / "data" / "events.csv",
        ["user_id", "event", "at", "cart"],
        [
            ["c1", "cart_abandoned", "2026-02-01T10:00:00Z", "k1"],
            ["c1", "cart_abandoned", "2026-02-01T10:00:00Z", "k1"],  # the same event twice
            ["c1", "cart_abandoned", "2026-02-01T10:00:00Z", "k2"],
        ],
    )
    project = write_project(root, {"clicks": body})
    first = sync(engine, project, "clicks")
    assert first.status == "succeeded", first.error
    assert (first.counts["events_inserted"], first.counts["events_duplicate"]) == (2, 1)
    ids = [r[0] for r in rows(engine, "select source_id from events order by source_id")]
    assert all(i.startswith("clicks:h:") for i in ids)
    again = sync(engine, project, "clicks")  # no watermark: everything is read, nothing stored
    assert (again.counts["events_inserted"], again.counts["events_duplicate"]) == (0, 3)
