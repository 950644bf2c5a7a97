"""The dashboard on a Postgres store (real server on loopback): the same loaders, another dialect."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, insert
from streamlit.testing.v1 import AppTest

from prefect_journeys.dashboards import app_path
from prefect_journeys.store.models import Consent, Event, Quarantine, Validation

EVENTS = Event.__table__  # type: ignore[attr-defined]
DAY = datetime(2026, 1, 5, 10, 0)


def _event(n: int, name: str, **extra: object) -> dict[str, object]:
    at = extra.pop("at", DAY)
    blank = dict.fromkeys(("journey_id", "step_id", "channel", "intent_id", "value"))
    return {
        **blank,
        "source_id": f"pg-{n}",
        "customer_id": extra.pop("customer", "c1"),
        "name": name,
        "occurred_at": at,
        "received_at": at,
        "properties": extra.pop("properties", {}),
        **extra,
    }


def test_pages_on_postgres(pg_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    message = {"journey_id": "winback", "step_id": "first_email", "channel": "email"}
    with pg_engine.begin() as conn:
        conn.execute(
            insert(EVENTS),
            [
                _event(1, "message.sent", intent_id=1, **message),
                _event(2, "message.sent", intent_id=2, customer="c2", **message),
                _event(3, "message.delivered", intent_id=1, **message),
                _event(4, "message.bounced", intent_id=2, customer="c2", **message),
                _event(5, "purchase", value=25.5, properties={"order_id": "o1"}),
                _event(
                    6,
                    "message.deferred",
                    intent_id=1,
                    properties={"reason": "quiet_hours"},
                    at=DAY - timedelta(hours=12),
                    **message,
                ),
            ],
        )
        conn.execute(
            insert(Consent.__table__),  # type: ignore[attr-defined]
            [
                {
                    "customer_id": "c2",
                    "channel": "email",
                    "topic": "*",
                    "granted": False,
                    "recorded_at": DAY,
                    "source": "unsubscribe_link",
                }
            ],
        )
        conn.execute(
            insert(Validation.__table__),  # type: ignore[attr-defined]
            [
                {
                    "suite": "s",
                    "target": "source:x",
                    "checked_at": DAY,
                    "rows": 4,
                    "failed_rows": 1,
                    "threshold": 0.05,
                    "passed": False,
                    "results": [],
                }
            ],
        )
        conn.execute(
            insert(Quarantine.__table__),  # type: ignore[attr-defined]
            [
                {
                    "kind": "sync",
                    "target": "source:x",
                    "reasons": ["email: no address"],
                    "row": {},
                    "created_at": DAY,
                    "row_ref": "x.csv:2",
                }
            ],
        )
    url = pg_engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("JOURNEYS_DATABASE_URL", url)
    monkeypatch.delenv("JOURNEYS_LOCALE", raising=False)
    at = AppTest.from_file(str(app_path()), default_timeout=120).run()
    assert not at.exception, [e.message for e in at.exception]
    shown = {m.label: m.value for m in at.metric}
    assert shown["Messages sent"] == "2" and shown["Bounce rate"] == "50.0%"
    assert shown["Revenue"] == "25.50" and shown["Unsubscribe rate"] == "100.0%"
    at.switch_page("views/deliverability.py").run()
    assert not at.exception
    deferrals = next(d.value for d in at.dataframe if "deferrals" in d.value.columns)
    assert deferrals.values.tolist() == [["quiet_hours", "email", 1]]
    at.switch_page("views/data_quality.py").run()
    assert not at.exception
    held = next(d.value for d in at.dataframe if "row_ref" in d.value.columns)
    assert held["reasons"].tolist() == ["email: no address"]
