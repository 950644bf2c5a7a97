"""Small projects with sources, written into a temporary folder, and what the store then holds."""

from __future__ import annotations

import csv
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, text

from prefect_journeys.definition.project import Project
from prefect_journeys.sources.sync import SyncResult, sync_source

NOW = datetime(2026, 3, 2, 12, 0)  # the sync's clock in these tests (events are before it)
CUSTOMER_HEADER = ["customer_id", "email", "phone", "tz", "newsletter", "plan", "updated_at"]

CUSTOMERS_YAML = """
kind: csv
entity: customers
path: data/customers.csv
watermark: updated_at
default_region: GB
columns:
  id: customer_id
  email: email
  phone: phone
  timezone: tz
  email_consent: newsletter
attributes:
  plan: plan
"""

ORDERS_YAML = """
kind: parquet
entity: events
path: data/orders.parquet
watermark: ordered_at
event_name: purchase
columns: {customer: customer_id, timestamp: ordered_at}
purchase: {order_id: order_id, amount: total, currency: currency}
properties: [channel]
"""


def write_project(root: Path, sources: dict[str, str]) -> Project:
    """``root/sources/<id>.yaml`` for each source (other folders are created empty)."""
    for folder in ("sources", "data", "journeys", "segments", "templates"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name, body in sources.items():
        (root / "sources" / f"{name}.yaml").write_text(textwrap.dedent(body))
    return load(root)


def load(root: Path) -> Project:
    project = Project.load(root)
    assert not project.problems, [str(p) for p in project.problems]
    return project


def write_csv(
    path: Path, header: list[str], rows: list[list[Any]], encoding: str = "utf-8"
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def customer(n: int, *, updated: str = "2026-03-01T08:00:00Z", **over: Any) -> list[Any]:
    """A row of CUSTOMER_HEADER for customer ``c<n>``."""
    row = {
        "customer_id": f"c{n}",
        "email": f"Person{n}@Example.com",
        "phone": f"07700 900{n:03d}",
        "tz": "Europe/London",
        "newsletter": "yes" if n % 2 else "no",
        "plan": "pro" if n % 3 == 0 else "free",
        "updated_at": updated,
    }
    row.update(over)
    return [row[c] for c in CUSTOMER_HEADER]


def write_orders(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "order_id": pa.array([r["order_id"] for r in rows], pa.string()),
            "customer_id": pa.array([r["customer_id"] for r in rows], pa.string()),
            "ordered_at": pa.array([r["ordered_at"] for r in rows], pa.timestamp("us")),
            "total": pa.array([r["total"] for r in rows], pa.float64()),
            "currency": pa.array([r.get("currency", "EUR") for r in rows], pa.string()),
            "channel": pa.array([r.get("channel", "web") for r in rows], pa.string()),
        }
    )
    pq.write_table(table, path)


def order(
    n: int, customer_id: str, at: datetime, total: float = 10.0, **over: Any
) -> dict[str, Any]:
    return {
        "order_id": f"o{n}",
        "customer_id": customer_id,
        "ordered_at": at,
        "total": total,
    } | over


def sync(engine: Engine, project: Project, source: str, **kw: Any) -> SyncResult:
    kw.setdefault("now", NOW)
    return sync_source(engine, project, source, **kw)


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def store_state(engine: Engine) -> dict[str, Any]:
    """Everything a sync may write, to compare before and after a run that must write nothing
    (sync_runs, validations and quarantine excepted)."""
    return {
        "customers": rows(engine, "select * from customers order by id"),
        "events": rows(
            engine,
            "select source_id, customer_id, name, occurred_at, value from events order by source_id",
        ),
        "identities": rows(
            engine, "select kind, value, customer_id from identities order by kind, value"
        ),
        "consents": rows(engine, "select customer_id, channel, granted from consents order by id"),
        "sync_state": rows(
            engine, "select source_id, watermark from sync_state order by source_id"
        ),
    }
