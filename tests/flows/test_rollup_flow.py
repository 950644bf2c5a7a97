"""The ``rollup`` flow: two task runs, an artifact, model snapshots; run after every tick, and a
failing rollup never fails the tick."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from prefect_journeys.analytics import rollup_models
from prefect_journeys.analytics.report import journey_report
from prefect_journeys.analytics.rollup_models import latest_snapshot, register_model
from prefect_journeys.store import make_engine
from prefect_journeys.store.migrate import ensure_schema
from prefect_journeys.store.writes import insert_events, upsert_customers

pytestmark = pytest.mark.prefect
REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 0)


def _store(tmp_path: Path, customers: int = 5) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    with engine.begin() as conn:
        upsert_customers(
            conn,
            [
                {"id": f"cust-{i}", "email": f"p{i}@example.com", "email_consent": True}
                for i in range(customers)
            ],
        )
        insert_events(
            conn,
            [
                {
                    "source_id": f"signup-{i}",
                    "customer_id": f"cust-{i}",
                    "name": "signed_up",
                    "occurred_at": T0 - timedelta(minutes=30),
                }
                for i in range(customers)
            ],
        )
    engine.dispose()
    return url


def _journey_events(url: str, n: int, journey: str = "welcome_series") -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        insert_events(
            conn,
            [
                {
                    "source_id": f"{journey}-step-{i}",
                    "customer_id": f"cust-{i}",
                    "name": "journey.step",
                    "occurred_at": T0 + timedelta(hours=i),
                    "journey_id": journey,
                    "journey_version": 1,
                    "step_id": "hello",
                    "stage": "awareness",
                    "enrollment_id": i + 1,
                }
                for i in range(n)
            ],
        )
    engine.dispose()


def _scalar(url: str, sql: str) -> Any:
    engine = make_engine(url)
    with engine.connect() as conn:
        value = conn.execute(text(sql)).scalar()
    engine.dispose()
    return value


def test_rollup_flow_folds_events_and_refreshes_snapshots(
    prefect_server: None, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client

    from prefect_journeys.flows.rollup import rollup

    url = _store(tmp_path)
    _journey_events(url, 4)
    first = rollup(database_url=url)
    assert first["daily"]["events"] == 9 and first["daily"]["rows_inserted"] > 0
    outcomes = {(o["model"], o["journey_id"]): o["outcome"] for o in first["models"]}
    assert outcomes[("journey_report", "welcome_series")] == "refreshed"
    engine = make_engine(url)
    with engine.connect() as conn:
        snap = latest_snapshot(conn, "journey_report", "welcome_series")
        assert snap is not None
        assert snap["result"] == journey_report(conn, "welcome_series")
        assert snap["watermark"] == 9
    # nothing new: the snapshot is current, nothing recomputed
    second = rollup(database_url=url)
    assert second["daily"]["events"] == 0
    outcomes = {(o["model"], o["journey_id"]): o["outcome"] for o in second["models"]}
    assert outcomes[("journey_report", "welcome_series")] == "current"
    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts(limit=50)
        keys = {a.key for a in artifact}
    assert "journeys-rollup" in keys
    engine.dispose()


def test_models_respect_their_minimum_interval_and_failures_are_reported(
    prefect_server: None, tmp_path: Path
) -> None:
    from prefect_journeys.flows.rollup import ModelRefreshError, rollup

    calls: list[str] = []

    def counting(conn: Connection, journey_id: str, as_of: datetime, *, k: int) -> dict[str, int]:
        calls.append(journey_id)
        return {"k": k, "n": len(calls)}

    def broken(conn: Connection, journey_id: str, as_of: datetime) -> None:
        raise RuntimeError("model exploded")

    url = _store(tmp_path)
    _journey_events(url, 2)
    register_model("test_counting", counting, params={"k": 3}, min_interval=timedelta(hours=1))
    try:
        rollup(database_url=url)
        assert calls == ["welcome_series"]
        _journey_events(url, 3, journey="winback")  # new events in another journey only
        rollup(database_url=url)
        assert calls == ["welcome_series", "winback"]  # welcome_series is current
        engine = make_engine(url)
        with engine.begin() as conn:  # new welcome_series events within the interval: too soon
            insert_events(
                conn,
                [
                    {
                        "source_id": "late-open",
                        "customer_id": "cust-1",
                        "name": "journey.step",
                        "occurred_at": T0,
                        "journey_id": "welcome_series",
                    }
                ],
            )
        result = rollup(database_url=url)
        outcome = {
            o["journey_id"]: o["outcome"] for o in result["models"] if o["model"] == "test_counting"
        }
        assert outcome == {"welcome_series": "too_soon", "winback": "current"}
        with engine.connect() as conn:
            snap = latest_snapshot(conn, "test_counting", "welcome_series", {"k": 3})
        assert snap is not None and snap["result"] == {"k": 3, "n": 1}
        engine.dispose()
        register_model("test_broken", broken)
        state = rollup(database_url=url, return_state=True)
        assert state.is_failed()
        with pytest.raises(ModelRefreshError, match="model exploded"):
            state.result()
    finally:
        rollup_models.unregister_model("test_counting")
        rollup_models.unregister_model("test_broken")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for folder in ("journeys", "templates", "segments"):
        shutil.copytree(REPO / folder, root / folder)
    return root


def _tick(project: Path, url: str, at: datetime) -> Any:
    from prefect_journeys.flows.run_journey import run_journey

    return run_journey(
        journey="welcome_series",
        project_dir=str(project),
        as_of=at,
        database_url=url,
        outbox_path=str(project / "outbox.jsonl"),
    )


def test_a_tick_runs_the_rollup_and_survives_its_failure(
    prefect_server: None, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect_journeys.flows import rollup as rollup_module

    url = _store(tmp_path, customers=3)
    counts = _tick(project, url, T0)
    assert counts["entered"] == 3
    top = _scalar(url, "SELECT MAX(seq) FROM events")
    assert _scalar(url, "SELECT watermark FROM rollup_state") == top
    entered = _scalar(url, "SELECT SUM(events) FROM rollup_daily WHERE name = 'journey.entered'")
    assert entered == 3

    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("rollup store unavailable")

    monkeypatch.setattr(rollup_module, "run_rollup", fail)
    later = _tick(project, url, T0 + timedelta(days=1))  # sends happen, rollup fails
    assert isinstance(later, dict) and later["journey"] == "welcome_series"
    assert _scalar(url, "SELECT watermark FROM rollup_state") == top  # not advanced


def test_the_rollup_command(prefect_server: None, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from prefect_journeys.cli import app

    url = _store(tmp_path)
    _journey_events(url, 3)
    runner = CliRunner()
    first = runner.invoke(app, ["rollup", "--store", url, "--json", "--no-models"])
    assert first.exit_code == 0, first.output
    daily = json.loads(first.output)["daily"]
    assert daily["events"] == 8 and daily["watermark_to"] == 8 and not daily["full"]
    full = runner.invoke(app, ["rollup", "--full", "--store", url])
    assert full.exit_code == 0, full.output
    assert "full rebuild" in full.output
    assert _scalar(url, "SELECT SUM(events) FROM rollup_daily") == 8
