"""The run-journey flow with the audience gate: a held step fails the run with the message (no
traceback) and leaves a validation artifact; after the data is fixed the next run sends."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from prefect_journeys.emulators import Emulators
from prefect_journeys.store import make_engine
from prefect_journeys.store.migrate import ensure_schema
from prefect_journeys.store.writes import insert_events, upsert_customers

pytestmark = pytest.mark.prefect
REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 0)


def test_held_audience_fails_the_flow_then_sends_when_fixed(
    prefect_server: None, tmp_path: Path, emu: Emulators
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    from prefect_journeys.flows.run_journey import run_journey

    project = tmp_path / "project"
    for folder in ("journeys", "templates", "segments", "expectations"):
        shutil.copytree(REPO / folder, project / folder)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    people = [f"cust-{i}" for i in range(20)]
    with engine.begin() as conn:
        upsert_customers(
            conn,
            [
                # the nightly export lost most addresses
                {"id": cid, "email": None if i < 12 else f"p{i}@example.com", "email_consent": True}
                for i, cid in enumerate(people)
            ],
        )
        insert_events(
            conn,
            [
                {
                    "source_id": f"signup-{cid}",
                    "customer_id": cid,
                    "name": "signed_up",
                    "occurred_at": T0 - timedelta(minutes=30),
                }
                for cid in people
            ],
        )

    state = run_journey(
        journey="welcome_series",
        project_dir=str(project),
        as_of=T0,
        database_url=url,
        return_state=True,
    )
    assert state.is_failed()
    assert state.message == (
        "journey welcome_series, step intro: audience held, nothing sent: 60.0% of 20 rows fail"
        " audience_email (threshold 5.0%): email: no address"
        " (expect_column_values_to_not_be_null) ×12"
    )
    assert emu.control.sendgrid_messages() == []
    with engine.connect() as conn:
        statuses = conn.execute(text("select distinct status from send_intents")).scalars().all()
    assert statuses == ["planned"]

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["journey-welcome-series-validation"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
            )
        )
    assert artifacts, "the tick left no validation artifact"
    markdown = str(artifacts[0].data)
    assert "| journey:welcome_series/intro | audience_email | 20 | 12 | 60.0% | 5.0% | HELD |" in (
        markdown
    )
    assert "@" not in markdown and "cust-" not in markdown  # counts and labels only

    with engine.begin() as conn:
        upsert_customers(conn, [{"id": cid, "email": f"{cid}@example.com"} for cid in people[:12]])
    counts = run_journey(
        journey="welcome_series",
        project_dir=str(project),
        as_of=T0 + timedelta(hours=1),
        database_url=url,
    )
    assert counts["sent"] == 20 and counts["held"] == [] and counts["quarantined"] == 0
    assert len(emu.control.sendgrid_messages()) == 20
    engine.dispose()
