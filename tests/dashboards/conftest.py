"""A small demo store, simulated once per session, and an empty one.

The store is the demo (every journey of the project, real engine, emulated providers) for a few
customers and days; then a handful of rows the short run does not produce are added by hand so
every page has something to show: two bounces and a spam report, a consent withdrawal, a failed
validation run and its quarantined row. ``analytics_store`` is a copy of it with what the
analytics pages need and the short run lacks (NPS replies, split enrollments with conversions,
repeat purchasers over past months); the demo store itself stays as the other tests count it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, select
from streamlit.testing.v1 import AppTest

from prefect_journeys.analytics.clv import sample_bgnbd
from prefect_journeys.dashboards import app_path
from prefect_journeys.store.database import make_engine
from prefect_journeys.store.models import Consent, Enrollment, Event, Quarantine, Validation

ROOT = Path(__file__).resolve().parents[2]
Open = Callable[..., AppTest]
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


NPS_SCORES = (10, 9, 9, 8, 7, 6, 3, 10)  # 4 promoters, 2 passives, 2 detractors: NPS +25
EXPERIMENT = {  # welcome_series variant → (enrollments, conversions)
    "discount_10": (400, 48),
    "discount_20": (400, 80),
    "holdout": (100, 6),
}


CLV_CUSTOMERS = 300


def _clv_orders() -> list[dict[str, object]]:
    """Orders of synthetic customers drawn from a BG/NBD process (daily units, up to 240 days
    before the demo's extras) with customer-specific order values: data the CLV fit accepts."""
    rng = np.random.default_rng(11)
    params = {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 3.0}
    drawn = sample_bgnbd(params, rng.integers(40, 240, CLV_CUSTOMERS), rng=rng)
    end = EXTRA_AT.replace(hour=9, minute=0)
    rows: list[dict[str, object]] = []
    for index, (x, tx, big_t) in enumerate(drawn.itertuples(index=False)):
        first = end - timedelta(days=int(big_t))
        last = int(tx)
        repeats = min(int(x), last)
        days = sorted(rng.choice(np.arange(1, last + 1), repeats, replace=False)) if repeats else []
        if repeats:
            days[-1] = last
        spend = rng.gamma(6.0, 8.0)
        for order, day in enumerate([0, *sorted(set(days))]):
            at = first + timedelta(days=int(day))
            amount = round(float(rng.gamma(6.0, spend / 6.0)), 2)
            rows.append(
                {
                    "source_id": f"test-clv-{index}-{order}",
                    "customer_id": f"test-clv-{index}",
                    "name": "purchase",
                    "occurred_at": at,
                    "received_at": at,
                    "properties": {"order_id": f"clv-{index}-{order}", "amount": amount},
                    "value": amount,
                }
            )
    return rows


def _add_analytics_rows(url: str) -> None:
    """What the short demo does not produce for the analytics pages: NPS replies for the
    welcome series, split enrollments with conversions, and repeat orders over past months
    (enough repeat purchasers for the CLV fit)."""
    engine = make_engine(url)
    enrollments = Enrollment.__table__  # type: ignore[attr-defined]
    try:
        with engine.begin() as conn:
            buyers = list(
                conn.execute(
                    select(EVENTS.c.customer_id)
                    .where(EVENTS.c.name == "purchase")
                    .group_by(EVENTS.c.customer_id)
                    .order_by(EVENTS.c.customer_id)
                ).scalars()
            )
            assert len(buyers) >= 12, "the demo has fewer than 12 purchasers"
            rows: list[dict[str, object]] = []
            for index, score in enumerate(NPS_SCORES):
                rows.append(
                    {
                        "source_id": f"test-nps-{index}",
                        "customer_id": buyers[index],
                        "name": "survey.answered",
                        "occurred_at": EXTRA_AT + timedelta(minutes=index),
                        "received_at": EXTRA_AT,
                        "properties": {
                            "survey": "nps",
                            "score": score,
                            "journey_id": "welcome_series",
                        },
                    }
                )
            rows += _clv_orders()
            conn.execute(insert(EVENTS), rows)
            split: list[dict[str, object]] = []
            for variant, (count, converted) in EXPERIMENT.items():
                for index in range(count):
                    split.append(
                        {
                            "journey_id": "welcome_series",
                            "version": 1,
                            "customer_id": f"test-exp-{variant}-{index}",
                            "entry_seq": 1,
                            "triggered_at": EXTRA_AT,
                            "entered_at": EXTRA_AT,
                            "state": "completed",
                            "variant": variant,
                            "stage": "decision",
                            "converted_at": EXTRA_AT if index < converted else None,
                            "updated_at": EXTRA_AT,
                        }
                    )
            conn.execute(insert(enrollments), split)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def analytics_store(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo store with :func:`_add_analytics_rows` (the demo store itself is left
    as the other dashboard tests count it)."""
    path = tmp_path_factory.mktemp("analytics") / "analytics.db"
    with sqlite3.connect(demo_store) as source, sqlite3.connect(path) as target:
        source.backup(target)
    _add_analytics_rows(f"sqlite:///{path}")
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


@pytest.fixture
def open_app(monkeypatch: pytest.MonkeyPatch) -> Open:
    def run(
        store: Path, page: str | None = None, locale: str | None = None, project: Path = ROOT
    ) -> AppTest:
        monkeypatch.setenv("JOURNEYS_DATABASE_URL", f"sqlite:///{store}")
        monkeypatch.setenv("JOURNEYS_PROJECT", str(project))
        if locale:
            monkeypatch.setenv("JOURNEYS_LOCALE", locale)
        else:
            monkeypatch.delenv("JOURNEYS_LOCALE", raising=False)
        at = AppTest.from_file(str(app_path()), default_timeout=120)
        at.run()
        if page is not None:
            at.switch_page(f"views/{page}.py").run()
        assert not at.exception, [e.message for e in at.exception]
        return at

    return run
