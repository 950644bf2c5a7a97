"""Batch writes shared by intake, simulation and the engine: events (deduplicated) and customers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from prefect_journeys.store.database import to_utc_naive, utcnow
from prefect_journeys.store.models import Customer, CustomerTag, Event

events_t = Event.__table__  # type: ignore[attr-defined]
customers_t = Customer.__table__  # type: ignore[attr-defined]
tags_t = CustomerTag.__table__  # type: ignore[attr-defined]

_EVENT_COLUMNS = {c.name for c in events_t.columns} - {"seq"}
_CUSTOMER_COLUMNS = {c.name for c in customers_t.columns}
CHUNK = 2000


def _insert(conn: Connection, table: Any) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def _chunks(rows: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def insert_events(
    conn: Connection, rows: Iterable[Mapping[str, Any]], *, complete: bool = False
) -> int:
    """Append events, skipping any whose ``source_id`` is already stored. Returns rows inserted.

    Each row needs ``source_id``, ``customer_id``, ``name``, ``occurred_at``; ``received_at``
    defaults to now and ``properties`` to ``{}``. ``complete=True`` is for rows the engine built
    itself with every column, naive-UTC times and unique source ids: they skip the checks.
    """
    if complete:
        batch = list(rows)
        return sum(_insert_chunk(conn, chunk) for chunk in _chunks(batch))
    now = utcnow()
    prepared: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in rows:
        unknown = set(row) - _EVENT_COLUMNS
        if unknown:
            raise ValueError(f"unknown event fields: {', '.join(sorted(unknown))}")
        if row["source_id"] in seen:
            continue
        seen.add(row["source_id"])
        item = dict(row)
        item["occurred_at"] = to_utc_naive(item["occurred_at"])
        item.setdefault("received_at", now)
        item.setdefault("properties", {})
        prepared.append(item)
    columns = sorted(_EVENT_COLUMNS)
    full = [{c: r.get(c) for c in columns} for r in prepared]
    return sum(_insert_chunk(conn, chunk) for chunk in _chunks(full))


def _insert_chunk(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    stmt = (
        _insert(conn, events_t)
        .on_conflict_do_nothing(index_elements=["source_id"])
        .returning(events_t.c.seq)
    )
    return len(conn.execute(stmt, list(rows)).all())


def upsert_customers(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert or update customers by id (only the given fields change on update)."""
    now = utcnow()
    count = 0
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        unknown = set(row) - _CUSTOMER_COLUMNS
        if unknown:
            raise ValueError(f"unknown customer fields: {', '.join(sorted(unknown))}")
        item = dict(row)
        item.setdefault("updated_at", now)
        item.setdefault("created_at", now)
        item.setdefault("attributes", {})
        groups.setdefault(tuple(sorted(item)), []).append(item)
    for keys, items in groups.items():
        for chunk in _chunks(items):
            stmt = _insert(conn, customers_t)
            update = {k: stmt.excluded[k] for k in keys if k not in ("id", "created_at")}
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["id"], set_=update), list(chunk)
            )
            count += len(chunk)
    return count


def add_tags(conn: Connection, pairs: Iterable[tuple[str, str]]) -> None:
    rows = [{"customer_id": c, "tag": t} for c, t in pairs]
    for chunk in _chunks(rows):
        conn.execute(_insert(conn, tags_t).on_conflict_do_nothing(), list(chunk))


__all__ = ["add_tags", "insert_events", "upsert_customers"]
