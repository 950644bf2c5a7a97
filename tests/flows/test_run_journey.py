"""The Prefect flow: one tick per run, a fixed number of task runs, artifacts, events, no PII."""

from __future__ import annotations

import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from prefect_journeys.definition.model import ENGINE_TASKS
from prefect_journeys.emulators import Emulators
from prefect_journeys.store import make_engine
from prefect_journeys.store.migrate import ensure_schema
from prefect_journeys.store.writes import insert_events, upsert_customers

pytestmark = pytest.mark.prefect
REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 0)
TICK_TASKS = 11 + len(ENGINE_TASKS)  # welcome_series: 11 steps and the engine's phases


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for folder in ("journeys", "templates", "segments"):
        shutil.copytree(REPO / folder, root / folder)
    return root


def _population(url: str, n: int) -> None:
    engine = make_engine(url)
    ensure_schema(engine)
    with engine.begin() as conn:
        upsert_customers(
            conn,
            [
                {
                    "id": f"cust-{i}",
                    "email": f"person{i}@example.com",
                    "phone": f"+4477009{i:05d}"[:13],
                    "first_name": "Alex",
                    "timezone": "UTC",
                    "email_consent": True,
                    "sms_consent": True,
                }
                for i in range(n)
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
                for i in range(n)
            ],
        )
    engine.dispose()


def _run(project: Path, url: str, at: datetime, **kw: Any) -> dict[str, Any]:
    from prefect_journeys.flows.run_journey import run_journey

    return run_journey(
        journey="welcome_series",
        project_dir=str(project),
        as_of=at,
        database_url=url,
        outbox_path=str(project / "outbox.jsonl"),
        **kw,
    )


def test_task_runs_do_not_grow_with_the_audience(
    prefect_server: None, project: Path, tmp_path: Path
) -> None:
    small, large = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 'l.db'}"
    _population(small, 5)
    _population(large, 400)
    first_small = _run(project, small, T0)
    first_large = _run(project, large, T0)
    assert first_small["entered"] == 5 and first_large["entered"] == 400
    assert first_small["sent"] == 5 and first_large["sent"] == 400
    steps = 11  # welcome_series
    assert first_small["task_runs"] == first_large["task_runs"] == steps + len(ENGINE_TASKS)


def test_dry_run_writes_nothing_and_real_run_leaves_artifact_and_event(
    prefect_server: None, project: Path, tmp_path: Path, emu: Emulators
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _population(url, 3)
    dry = _run(project, url, T0, dry_run=True)
    assert dry["dry_run"] and dry["sent"] == 3 and len(dry["would_send"]) == 3
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from send_intents")).scalar_one() == 0
        assert conn.execute(text("select count(*) from enrollments")).scalar_one() == 0
    real = _run(project, url, T0)
    assert real["sent"] == 3
    assert len(emu.control.sendgrid_messages()) == 3  # through SendGrid (the emulator)

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["journey-welcome-series-tick"])
            )
        )
        assert artifacts, "the tick left no table artifact"
        rows = artifacts[0].data
        assert isinstance(rows, list | str)
        assert "intro" in str(rows)
        deadline = time.monotonic() + 30  # events reach the server asynchronously
        while True:
            response = client.request(
                "POST",
                "/events/filter",
                json={"filter": {"event": {"name": ["journey.tick.completed"]}}},
            )
            # other tests of the session emit this event too: find this tick's (3 sent)
            payloads = [e["payload"] for e in response.json().get("events", [])]
            mine = [p for p in payloads if p.get("sent") == 3 and p.get("entered") == 3]
            if mine or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert mine, f"no journey.tick.completed event for this tick among {payloads}"
        assert mine[0]["journey"] == "welcome_series" and mine[0]["dry_run"] is False


def test_no_personal_data_in_prefect_logs_params_or_results(
    prefect_server: None, project: Path, tmp_path: Path, emu: Emulators
) -> None:
    url = f"sqlite:///{tmp_path / 'pii.db'}"
    _population(url, 4)
    # Scan what INFO-level runs send to Prefect, whatever PREFECT_LOGGING_LEVEL the suite uses.
    from prefect.logging.configuration import setup_logging
    from prefect.settings import PREFECT_LOGGING_LEVEL, temporary_settings

    try:
        with temporary_settings(updates={PREFECT_LOGGING_LEVEL: "INFO"}):
            setup_logging(incremental=False)
            counts = _run(project, url, T0)
    finally:
        setup_logging(incremental=False)  # back to the suite's own level
    assert "@example.com" not in str(counts)
    secrets = (emu.sendgrid_api_key, emu.twilio_auth_token)
    assert not any(secret in str(counts) for secret in secrets)

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter

    # Task runs and logs reach the API asynchronously: wait until all of this tick's are there.
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            logs = client.read_logs(log_filter=LogFilter(), limit=200)
            task_runs = client.read_task_runs(limit=200)
            ours = [run for run in task_runs if run.name.startswith("welcome_series/")]
            if len(ours) >= TICK_TASKS or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    text_blob = " ".join(log.message for log in logs)
    assert "welcome_series" in text_blob  # the flow did log
    for needle in ("@example.com", "+44770", *secrets):  # no address, no API key
        assert needle not in text_blob
    assert len(ours) >= TICK_TASKS
    for run in ours:
        assert run.task_inputs == {}, f"{run.name} takes inputs: {run.task_inputs}"


def test_the_plan_names_exactly_the_tasks_a_tick_runs(tmp_path: Path, project: Path) -> None:
    """`journeys plan` lists the task runs; the engine's runner hook sees the same names."""
    from prefect_journeys.definition.project import Project
    from prefect_journeys.engine.tick import Tick

    plan = Project.load(project).plan("welcome_series")
    url = f"sqlite:///{tmp_path / 'names.db'}"
    _population(url, 2)
    seen: list[str] = []

    def runner(name: str, fn: Any) -> Any:
        seen.append(name)
        return fn()

    Tick(make_engine(url), plan, T0).run(runner)
    assert seen == list(plan.task_names.values())


def test_the_reconcile_flow_settles_dropped_responses(
    prefect_server: None, project: Path, tmp_path: Path, emu: Emulators
) -> None:
    """SendGrid accepted the request but the answer was lost: unknown, then settled as sent from
    SendGrid's activity feed by the reconcile-sends flow — and never sent a second time."""
    from prefect_journeys.flows.reconcile import reconcile_sends

    url = f"sqlite:///{tmp_path / 'rec.db'}"
    _population(url, 3)
    emu.control.inject("sendgrid", "drop_after_accept", count=10)
    counts = _run(project, url, T0)
    assert counts["unknown"] == 3 and counts["sent"] == 0
    emu.control.clear_faults()
    settled = reconcile_sends(project_dir=str(project), database_url=url, settle="1m")
    assert (settled["checked"], settled["sent"], settled["waiting"]) == (3, 3, 0)
    again = reconcile_sends(project_dir=str(project), database_url=url)
    assert again["checked"] == 0
    assert len(emu.control.sendgrid_messages()) == 3  # once each
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("select status, provider_id from send_intents")).all()
    assert {r.status for r in rows} == {"sent"}
    assert {r.provider_id for r in rows} == {
        m["message_id"] for m in emu.control.sendgrid_messages()
    }
