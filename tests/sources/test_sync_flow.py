"""The ``sync-source`` flow and ``journeys sync``: artifacts, states, exit codes, no personal data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.sources.helpers import (
    CUSTOMER_HEADER,
    CUSTOMERS_YAML,
    customer,
    write_csv,
    write_project,
)
from typer.testing import CliRunner

from prefect_journeys.cli import app

runner = CliRunner()


def _project(root: Path, data: list[list[Any]]) -> None:
    write_csv(root / "data" / "customers.csv", CUSTOMER_HEADER, data)
    write_project(root, {"crm": CUSTOMERS_YAML})


def _artifacts(flow_run_id: Any) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {str(a.key): a for a in found}


@pytest.mark.prefect
def test_the_flow_runs_one_task_and_leaves_count_and_progress_artifacts(
    prefect_server: None, root: Path, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from prefect_journeys.flows.sync import sync_source_flow

    _project(root, [customer(n) for n in range(1, 51)])
    url = f"sqlite:///{tmp_path / 'store.db'}"
    state = sync_source_flow(
        source="crm", project_dir=str(root), database_url=url, return_state=True
    )
    assert state.is_completed(), state.message
    result = state.result()
    assert result["status"] == "succeeded" and result["counts"]["inserted"] == 50
    flow_run_id = state.state_details.flow_run_id
    artifacts = _artifacts(flow_run_id)
    assert set(artifacts) == {"sync-crm", "sync-crm-progress"}
    table = artifacts["sync-crm"].data
    table = json.loads(table) if isinstance(table, str) else table
    assert table[0]["inserted"] == 50 and table[0]["status"] == "succeeded"
    assert float(artifacts["sync-crm-progress"].data) == 100.0
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    assert [t.name for t in tasks] == ["sync-crm"]
    everything = json.dumps([result, table, [t.task_inputs for t in tasks]], default=str).lower()
    assert "@example.com" not in everything and "+44" not in everything


@pytest.mark.prefect
def test_a_rejected_sync_fails_the_flow_and_the_command(
    prefect_server: None, root: Path, tmp_path: Path
) -> None:
    from prefect_journeys.flows.sync import sync_source_flow

    data = [customer(n) for n in range(1, 11)]
    data[3] = customer(4, email="nobody")
    _project(root, data)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    state = sync_source_flow(
        source="crm", project_dir=str(root), database_url=url, return_state=True
    )
    assert state.is_failed()
    assert state.message is not None and state.message.startswith("source crm: batch 1 rejected")
    markdown = str(_artifacts(state.state_details.flow_run_id)["sync-crm-validation"].data)
    assert "| source:crm | customers | 10 | 1 | 10.0% | 5.0% | HELD, 1 quarantined |" in markdown
    assert "email: not a valid address" in markdown and "nobody" not in markdown
    result = runner.invoke(app, ["sync", "crm", "--project", str(root), "--database-url", url])
    assert result.exit_code == 1
    assert "source crm: batch 1 rejected: 1 of 10 rows (10.0%)" in " ".join(result.output.split())
    assert "data/customers.csv:5: email" in result.output
    assert "Traceback" not in result.output


@pytest.mark.prefect
def test_the_command_prints_a_summary_and_json(
    prefect_server: None, root: Path, tmp_path: Path
) -> None:
    _project(root, [customer(n) for n in range(1, 4)])
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(app, ["sync", "--all", "--project", str(root), "--store", url])
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output and "inserted" in result.output
    again = runner.invoke(app, ["sync", "crm", "--project", str(root), "--store", url, "--json"])
    assert again.exit_code == 0, again.output
    (outcome,) = json.loads(again.stdout.strip().splitlines()[-1])
    assert outcome["counts"]["unchanged"] == 3 and outcome["counts"]["inserted"] == 0


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["sync"], 2, "name one source, or --all"),
        (["sync", "crm", "--all"], 2, "name one source, or --all"),
        (["sync", "nope"], 2, "no source 'nope'"),
        (["sync", "broken"], 1, "sources/broken.yaml:1: kind: expected 'csv', 'parquet' or 'sql'"),
    ],
)
def test_the_command_refuses_bad_arguments_in_one_line(
    root: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int, needle: str
) -> None:
    monkeypatch.chdir(root)
    _project(root, [customer(1)])
    (root / "sources" / "broken.yaml").write_text("kind: xls\nentity: customers\n")
    result = runner.invoke(app, [*args, "--project", str(root)])
    assert result.exit_code == code, result.output
    assert needle in " ".join(result.output.split())
    assert "Traceback" not in result.output
