"""prefect.yaml: one scheduled deployment per example journey, all running the same flow."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from croniter import croniter

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "prefect.yaml"
JOURNEYS_DIR = ROOT / "journeys"
ENTRYPOINT = "src/prefect_journeys/flows/run_journey.py:run_journey"
FLOW_PARAMETERS = {"journey", "project_dir", "as_of", "dry_run", "database_url"}
RECONCILE = "src/prefect_journeys/flows/reconcile.py:reconcile_sends"
SYNC = "src/prefect_journeys/flows/sync.py:sync_source_flow"
ROLLUP = "src/prefect_journeys/flows/rollup.py:rollup"


def _config() -> dict[str, Any]:
    data = yaml.safe_load(PREFECT_YAML.read_text())
    assert isinstance(data, dict)
    return data


def _deployments() -> list[dict[str, Any]]:
    deployments = _config().get("deployments") or []
    assert deployments, "prefect.yaml declares no deployments"
    return list(deployments)


def _journey_files() -> dict[str, Path]:
    """Journey id -> file, for every journey definition under journeys/."""
    found: dict[str, Path] = {}
    for path in sorted([*JOURNEYS_DIR.glob("*.yaml"), *JOURNEYS_DIR.glob("*.yml")]):
        data = yaml.safe_load(path.read_text())
        journey_id = data.get("id", path.stem) if isinstance(data, dict) else path.stem
        found[str(journey_id)] = path
    return found


def _journey_deployments() -> list[dict[str, Any]]:
    return [d for d in _deployments() if d["entrypoint"] == ENTRYPOINT]


def _by_journey() -> dict[str, dict[str, Any]]:
    return {str(d.get("parameters", {}).get("journey")): d for d in _journey_deployments()}


def test_prefect_accepts_the_file() -> None:
    try:
        from prefect.cli.deploy._models import PrefectYamlModel
    except ImportError as exc:  # private module: only checked while it is where we expect it
        pytest.skip(f"prefect's prefect.yaml model moved ({exc}); structure checked below only")
    model = PrefectYamlModel.model_validate(_config())
    assert len(model.deployments) == len(_deployments())


def test_pull_step_runs_from_the_project_folder() -> None:
    pull = _config()["pull"]
    step = pull[0]["prefect.deployments.steps.set_working_directory"]
    assert step["directory"] == "{{ $PWD }}"


def test_every_journey_file_has_a_scheduled_deployment() -> None:
    journeys = _journey_files()
    if not journeys:
        pytest.skip("journeys/ holds no journey files yet")
    deployments = _by_journey()
    for journey_id, path in journeys.items():
        assert journey_id in deployments, f"{path.name}: no deployment with journey={journey_id!r}"
        assert deployments[journey_id].get("schedules"), f"{journey_id}: deployment has no schedule"


def test_every_deployment_names_an_existing_journey() -> None:
    journeys = _journey_files()
    if not journeys:
        pytest.skip("journeys/ holds no journey files yet")
    for journey_id in _by_journey():
        assert journey_id in journeys, f"deployment for {journey_id!r} but no journeys/ file"


def test_deployments_share_the_flow_pool_and_have_valid_schedules() -> None:
    names = [d["name"] for d in _deployments()]
    assert len(names) == len(set(names))
    for deployment in _journey_deployments():
        name = deployment["name"]
        assert deployment["work_pool"]["name"] == "journeys-local", name
        assert deployment["parameters"]["journey"] == name, name
        assert set(deployment["parameters"]) <= FLOW_PARAMETERS, name
        for schedule in deployment["schedules"]:
            kinds = [k for k in ("cron", "interval", "rrule") if k in schedule]
            assert len(kinds) == 1, f"{name}: exactly one of cron/interval/rrule"
            if "cron" in schedule:
                assert croniter.is_valid(schedule["cron"]), name
            if "interval" in schedule:
                assert float(schedule["interval"]) > 0, name
            ZoneInfo(schedule.get("timezone", "UTC"))


def test_expected_schedules() -> None:
    deployments = _by_journey()
    assert deployments["welcome_series"]["schedules"][0]["interval"] == 15 * 60
    assert deployments["cart_abandonment"]["schedules"][0]["interval"] == 5 * 60
    winback = deployments["winback"]["schedules"][0]
    assert (winback["cron"], winback["timezone"]) == ("0 10 * * 1", "Europe/Berlin")


def test_entrypoint_exists() -> None:
    file_part, function = ENTRYPOINT.split(":")
    path = ROOT / file_part
    assert path.name == "run_journey.py"
    try:
        module = importlib.import_module("prefect_journeys.flows.run_journey")
    except ImportError as exc:
        pytest.skip(f"prefect_journeys.flows.run_journey does not import yet: {exc}")
    assert Path(str(module.__file__)).resolve() == path.resolve()
    flow = getattr(module, function)
    from prefect import Flow

    assert isinstance(flow, Flow), f"{function} is not a Prefect flow"
    assert set(inspect.signature(flow.fn).parameters) >= FLOW_PARAMETERS


def test_the_reconciler_is_deployed_with_valid_parameters() -> None:
    (reconciler,) = [d for d in _deployments() if d["entrypoint"] == RECONCILE]
    from prefect_journeys.definition.durations import parse_duration
    from prefect_journeys.flows.reconcile import reconcile_sends

    accepted = set(inspect.signature(reconcile_sends.fn).parameters)
    assert set(reconciler["parameters"]) <= accepted
    assert parse_duration(reconciler["parameters"]["settle"]) < parse_duration(
        reconciler["parameters"]["abandon_after"]
    )
    assert reconciler["schedules"][0]["interval"] > 0
    assert reconciler["work_pool"]["name"] == "journeys-local"


def test_every_deployment_runs_a_known_flow() -> None:
    for deployment in _deployments():
        assert deployment["entrypoint"] in (ENTRYPOINT, RECONCILE, SYNC, ROLLUP), deployment["name"]


def test_sync_deployments_name_existing_sources_with_valid_parameters() -> None:
    from prefect_journeys.definition.project import Project
    from prefect_journeys.flows.sync import sync_source_flow

    syncs = [d for d in _deployments() if d["entrypoint"] == SYNC]
    assert syncs, "no sync deployment"
    path = ROOT / SYNC.split(":")[0]
    assert path.is_file()
    accepted = set(inspect.signature(sync_source_flow.fn).parameters)
    sources = Project.load(ROOT).sources
    for deployment in syncs:
        assert set(deployment["parameters"]) <= accepted, deployment["name"]
        assert deployment["parameters"]["source"] in sources, deployment["name"]
        assert deployment["schedules"] and deployment["concurrency_limit"] == 1
        assert deployment["work_pool"]["name"] == "journeys-local"


def test_the_rollup_is_scheduled_with_valid_parameters() -> None:
    (deployment,) = [d for d in _deployments() if d["entrypoint"] == ROLLUP]
    from prefect_journeys.flows.rollup import rollup

    assert (ROOT / ROLLUP.split(":")[0]).is_file()
    assert set(deployment["parameters"]) <= set(inspect.signature(rollup.fn).parameters)
    assert deployment["parameters"]["full"] is False
    assert deployment["schedules"][0]["interval"] > 0
    assert deployment["concurrency_limit"] == 1
    assert deployment["work_pool"]["name"] == "journeys-local"
