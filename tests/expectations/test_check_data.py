"""``journeys check-data``: validates the store's customers and customer events, records the
results and the failing rows (kind check), changes nothing else, exits 1 above the threshold."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from prefect_journeys.cli import app
from prefect_journeys.expectations.check import check_store
from prefect_journeys.store.models import Customer, Event, Quarantine, Validation
from prefect_journeys.store.writes import insert_events, upsert_customers

QUARANTINE = Quarantine.__table__  # type: ignore[attr-defined]
VALIDATIONS = Validation.__table__  # type: ignore[attr-defined]
NOW = datetime(2026, 3, 2, 9, 0)


def fill(engine: Engine, n: int, bad_customers: dict[str, dict[str, Any]]) -> None:
    rows = []
    for i in range(n):
        cid = f"c{i:03d}"
        row = {
            "id": cid,
            "email": f"{cid}@example.com",
            "phone": "+447700900123",
            "timezone": "Europe/Berlin",
            "email_consent": True,
        }
        row.update(bad_customers.get(cid, {}))
        rows.append(row)
    events = [
        {
            "source_id": f"p{i}",
            "customer_id": f"c{i:03d}",
            "name": "purchase",
            "occurred_at": NOW - timedelta(days=1),
            "value": 20.0,
            "properties": {"order_id": f"o{i}", "currency": "EUR"},
        }
        for i in range(n)
    ]
    events += [
        {  # not a customer event: never judged by the events suite
            "source_id": "engine",
            "customer_id": "c000",
            "name": "journey.entered",
            "occurred_at": NOW,
            "journey_id": "j",
        },
        {
            "source_id": "delivery",
            "customer_id": "c000",
            "name": "message.delivered",
            "occurred_at": NOW,
            "journey_id": "j",
        },
    ]
    with engine.begin() as conn:
        upsert_customers(conn, rows)
        insert_events(conn, events)


def test_check_store_counts_and_records(engine: Engine) -> None:
    fill(engine, 40, {"c003": {"timezone": "Mars/Base"}, "c007": {"email": "c007-at-example"}})
    with engine.begin() as conn:
        insert_events(
            conn,
            [
                {
                    "source_id": "x1",
                    "customer_id": "c001",
                    "name": "purchase",
                    "occurred_at": NOW,
                    "value": 5.0,
                    "properties": {},  # no currency
                },
                {
                    "source_id": "x2",
                    "customer_id": "c002",
                    "name": "page_view",
                    "occurred_at": NOW + timedelta(days=3),  # unknown and in the future
                },
            ],
        )
    customers, events = check_store(engine, threshold=0.05, chunk=15, now=NOW)
    assert (customers.rows, customers.failed_rows, customers.passed) == (40, 2, True)
    assert customers.failed == {
        "timezone: not an IANA time zone (expect_column_values_to_be_in_set)": 1,
        "email: not a valid address (expect_column_values_to_match_regex)": 1,
    }
    assert customers.examples[
        "email: not a valid address (expect_column_values_to_match_regex)"
    ] == ["c007"]
    assert (events.rows, events.failed_rows, events.passed) == (42, 2, True)
    assert (
        events.failed[
            "name: not an event name of the tracking plan (expect_column_values_to_be_in_set)"
        ]
        == 1
    )
    assert events.failed["timestamp: in the future (expect_column_values_to_be_between)"] == 1
    assert (
        events.failed["currency: missing on a purchase (expect_column_values_to_not_be_null)"] == 1
    )

    with engine.connect() as conn:
        validations = [dict(r._mapping) for r in conn.execute(select(VALIDATIONS))]
        quarantined = [dict(r._mapping) for r in conn.execute(select(QUARANTINE))]
    assert sorted((v["target"], v["rows"], v["failed_rows"], v["passed"]) for v in validations) == [
        ("store:customers", 40, 2, True),
        ("store:events", 42, 2, True),
    ]
    stored = {r["label"]: r for v in validations for r in v["results"]}
    assert (
        stored["timezone: not an IANA time zone (expect_column_values_to_be_in_set)"][
            "unexpected_count"
        ]
        == 1
    )
    assert sorted(
        (q["kind"], q["customer_id"], q["row_ref"].split(":")[0]) for q in quarantined
    ) == [
        ("check", "c001", "events"),
        ("check", "c002", "events"),
        ("check", "c003", "customers"),
        ("check", "c007", "customers"),
    ]
    assert "@" not in json.dumps([validations, quarantined], default=str)
    assert all(q["row"] == {} for q in quarantined)  # no values kept


def test_cli_reports_and_exits_1_above_the_threshold(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    from prefect_journeys.store import make_engine
    from prefect_journeys.store.migrate import ensure_schema

    engine = make_engine(url)
    ensure_schema(engine)
    fill(engine, 20, {f"c{i:03d}": {"email": "broken"} for i in range(6)})
    project = tmp_path / "project"
    (project / "journeys").mkdir(parents=True)
    with engine.connect() as conn:
        before = (
            conn.execute(select(func.count()).select_from(Customer.__table__)).scalar_one(),  # type: ignore[attr-defined]
            conn.execute(select(func.count()).select_from(Event.__table__)).scalar_one(),  # type: ignore[attr-defined]
        )
    result = CliRunner().invoke(
        app, ["check-data", "--project", str(project), "--database-url", url]
    )
    assert result.exit_code == 1, result.output
    assert (
        "customers (store:customers): 20 rows, 6 failing (30.0% counted, threshold 5.0%)"
        in result.output
    )
    assert "above the threshold" in result.output
    assert (
        "email: not a valid address" in result.output
        and "c000, c001, c002, c003, c004" in result.output
    )
    assert "events (store:events): 20 rows, 0 failing" in result.output
    assert "broken" not in result.output and "Traceback" not in result.output

    lenient = CliRunner().invoke(
        app, ["check-data", "--project", str(project), "--database-url", url, "--threshold", "0.5"]
    )
    assert lenient.exit_code == 0, lenient.output
    with engine.connect() as conn:
        after = (
            conn.execute(select(func.count()).select_from(Customer.__table__)).scalar_one(),  # type: ignore[attr-defined]
            conn.execute(select(func.count()).select_from(Event.__table__)).scalar_one(),  # type: ignore[attr-defined]
        )
        checks = conn.execute(select(func.count()).select_from(QUARANTINE)).scalar_one()
    assert after == before  # nothing deleted, nothing else written
    assert checks == 12  # six failing customers, recorded by each of the two runs

    (project / "expectations").mkdir()
    (project / "expectations" / "customers.json").write_text("{not json")
    broken = CliRunner().invoke(
        app, ["check-data", "--project", str(project), "--database-url", url]
    )
    assert broken.exit_code == 1
    assert "customers.json:1:2: not valid JSON" in broken.output
    assert "Traceback" not in broken.output
