"""`journeys run` and `journeys serve` from the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefect_journeys.cli import app
from prefect_journeys.cli.run_cmds import deployments_from
from prefect_journeys.definition.model import ENGINE_TASKS

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for folder in ("journeys", "templates", "segments"):
        shutil.copytree(REPO / folder, root / folder)
    shutil.copy(REPO / "prefect.yaml", root / "prefect.yaml")
    return root


@pytest.mark.prefect
def test_run_prints_json_and_dry_run_counts(
    prefect_server: None, project: Path, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["run", "winback", "--project", str(project), "--store", store]
    # Mondays 10:00 Berlin = 09:00 UTC in winter: the schedule fires, the (empty) audience enters.
    result = runner.invoke(app, [*args, "--as-of", "2026-01-05T09:30:00Z", "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["journey"] == "winback" and counts["version"] == 1
    assert counts["task_runs"] == len(json.loads(_plan_json(project))["journey"]["steps"]) + len(
        ENGINE_TASKS
    )
    dry = runner.invoke(app, [*args, "--as-of", "2026-01-05T09:45:00Z", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "DRY RUN" in dry.stdout


def _plan_json(project: Path) -> str:
    result = runner.invoke(app, ["plan", str(project / "journeys" / "winback.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["run", "nope"], 2, "no journey 'nope'"),
        (["run", "welcome_series", "--as-of", "yesterday"], 2, "not an ISO time"),
    ],
)
def test_run_rejects_bad_arguments_clearly(
    project: Path, args: list[str], code: int, needle: str
) -> None:
    result = runner.invoke(app, [*args, "--project", str(project)])
    assert result.exit_code == code
    assert needle in result.output
    assert "Traceback" not in result.output


def test_run_refuses_an_invalid_journey_and_names_the_problem(project: Path) -> None:
    path = project / "journeys" / "welcome_series.yaml"
    path.write_text(path.read_text().replace("wait: 1d", "wait: 1 day"))
    result = runner.invoke(app, ["run", "welcome_series", "--project", str(project)])
    assert result.exit_code == 1
    assert "welcome_series.yaml:" in result.output and "duration" in result.output
    assert "Traceback" not in result.output


def test_serve_builds_one_deployment_per_journey_with_its_schedule(project: Path) -> None:
    deployments = {d.name: d for d in deployments_from(project, interval=300)}
    reconciler = deployments.pop("reconcile-sends")
    # prefect.yaml's other deployments are served too, with their parameters
    assert reconciler.parameters == {
        "project_dir": str(project.resolve()),
        "settle": "10m",
        "abandon_after": "24h",
    }
    assert reconciler.schedules[0].schedule.interval.total_seconds() == 600
    others = {"sync-crm-customers", "sync-orders", "rollup"}
    assert others <= set(deployments)
    for name in others:
        deployments.pop(name)
    assert set(deployments) == {"welcome_series", "cart_abandonment", "winback"}
    winback = deployments["winback"].schedules[0].schedule
    assert winback.cron == "0 10 * * 1" and winback.timezone == "Europe/Berlin"
    assert deployments["cart_abandonment"].schedules[0].schedule.interval.total_seconds() == 300
    for name, deployment in deployments.items():
        assert deployment.parameters == {"journey": name, "project_dir": str(project)}


@pytest.mark.prefect
def test_run_without_provider_credentials_fails_clearly_and_keeps_messages(
    prefect_server: None, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import datetime

    from sqlalchemy import text

    from prefect_journeys.store import make_engine
    from prefect_journeys.store.migrate import ensure_schema
    from prefect_journeys.store.writes import insert_events, upsert_customers

    for name in ("SENDGRID_API_KEY", "SENDGRID_FROM_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    store = f"sqlite:///{tmp_path / 'nocreds.db'}"
    engine = make_engine(store)
    ensure_schema(engine)
    with engine.begin() as conn:
        upsert_customers(conn, [{"id": "a", "email": "a@example.com", "email_consent": True}])
        insert_events(
            conn,
            [
                {
                    "source_id": "s",
                    "customer_id": "a",
                    "name": "signed_up",
                    "occurred_at": datetime(2026, 3, 2, 8, 30),
                }
            ],
        )
    args = ["run", "welcome_series", "--project", str(project), "--store", store]
    result = runner.invoke(app, [*args, "--as-of", "2026-03-02T09:00:00Z"])
    assert result.exit_code == 1
    assert "SENDGRID_API_KEY" in result.stderr and "stay planned" in result.stderr
    # no exception escaped (CliRunner's swapped stderr makes Prefect's own console handler
    # print "--- Logging error ---" blocks; a real terminal shows just the error and the hint)
    assert "ChannelConfigError" not in result.output + result.stderr
    assert "error: journey welcome_series: email sender 'sendgrid'" in result.stderr
    with engine.connect() as conn:
        assert conn.execute(text("select status from send_intents")).scalars().all() == ["planned"]
