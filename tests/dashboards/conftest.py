"""A small demo store, simulated once per session, and an empty one.

The store is the demo (every journey of the project, real engine, emulated providers) for a few
customers and days; then a handful of rows the short run does not produce are added by hand so
every page has something to show: two bounces and a spam report, a consent withdrawal, a failed
validation run and its quarantined row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from prefect_journeys.store.database import make_engine
from prefect_journeys.store.models import Consent, Event, Quarantine, Validation

ROOT = Path(__file__).resolve().parents[2]
DEMO_CUSTOMERS = 120
DEMO_DAYS = 3
EXTRA_AT = datetime(2026, 1, 6, 12, 0)  # inside the demo (it starts Monday 2026-01-05)
# checks are stamped with the wall clock (not the simulated time), like the real ones
CHECKED_AT = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
EVENTS = Event.__table__  # type: ignore[attr-defined]


def _add_extras(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            sent = conn.execute(
                select(EVENTS.c.customer_id, EVENTS.c.intent_id, EVENTS.c.journey_id)
                .where(EVENTS.c.name == "message.sent", EVENTS.c.channel == "email")
                .order_by(EVENTS.c.seq)
                .limit(3)
            ).all()
            assert len(sent) == 3, "the demo sent fewer than three emails"
            rows = []
            for index, (name, (customer, intent, journey)) in enumerate(
                zip(("message.bounced", "message.bounced", "message.spamreport"), sent, strict=True)
            ):
                rows.append(
                    {
                        "source_id": f"test-extra-{index}",
                        "customer_id": customer,
                        "name": name,
                        "occurred_at": EXTRA_AT,
                        "received_at": EXTRA_AT,
                        "properties": {},
                        "journey_id": journey,
                        "channel": "email",
                        "intent_id": intent,
                    }
                )
            conn.execute(insert(EVENTS), rows)
            conn.execute(
                insert(Consent.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "customer_id": sent[2][0],
                        "channel": "email",
                        "topic": "*",
                        "granted": False,
                        "recorded_at": EXTRA_AT,
                        "source": "unsubscribe_link",
                    }
                ],
            )
            validation_id = conn.execute(
                insert(Validation.__table__).returning(Validation.__table__.c.id),  # type: ignore[attr-defined]
                [
                    {
                        "suite": "test_suite",
                        "target": "source:test_customers",
                        "checked_at": CHECKED_AT,
                        "rows": 10,
                        "failed_rows": 4,
                        "threshold": 0.05,
                        "passed": False,
                        "results": [],
                    }
                ],
            ).scalar_one()
            conn.execute(
                insert(Quarantine.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "kind": "sync",
                        "target": "source:test_customers",
                        "validation_id": validation_id,
                        "row_ref": "customers.csv:7",
                        "reasons": [
                            "email: not a valid address (expect_column_values_to_match_regex)"
                        ],
                        "row": {"email": "not-an-address"},
                        "created_at": CHECKED_AT,
                    }
                ],
            )
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite demo store (read-only for the tests using it)."""
    from prefect_journeys.cli.simulate_cmds import run_demo

    path = tmp_path_factory.mktemp("dashboard") / "demo.db"
    run_demo(project=ROOT, customers=DEMO_CUSTOMERS, days=DEMO_DAYS, seed=7, store=path)
    _add_extras(f"sqlite:///{path}")
    return path


@pytest.fixture
def empty_store(tmp_path: Path) -> Iterator[Path]:
    """A store with the schema and no events."""
    from prefect_journeys.store.migrate import ensure_schema

    path = tmp_path / "empty.db"
    engine = make_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    engine.dispose()
    yield path
