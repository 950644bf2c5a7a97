"""KPI targets in a journey file: valid blocks load; bad stages, step ids and rates are named
with the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

from prefect_journeys.definition import model as m
from prefect_journeys.definition.errors import Problem
from prefect_journeys.definition.project import Project

from .helpers import make_project

J = "journeys/trial.yaml"

JOURNEY = """\
id: trial
entry: {{event: signed_up}}
goal: {{event: purchase, within: 7d}}
steps:
  - id: hello
    stage: awareness
    send: {{channel: email, template: welcome_intro}}
    next: pause
  - id: pause
    stage: consideration
    wait: 1d
{targets}
"""


def load(tmp_path: Path, targets: str) -> Project:
    return Project.load(make_project(tmp_path, {"trial": JOURNEY.format(targets=targets)}))


def problems(tmp_path: Path, targets: str) -> list[str]:
    found: list[Problem] = load(tmp_path, targets).problems
    return [str(p) for p in found]


def test_a_valid_targets_block_loads(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        "targets:\n"
        "  conversion: 0.05\n"
        "  stages: {awareness: 1, consideration: 0.6}\n"
        "  steps: {hello: {open_rate: 0.35, click_rate: 0.05}}\n",
    )
    assert project.problems == []
    targets = project.journeys["trial"].journey.targets
    assert isinstance(targets, m.Targets)
    assert targets.conversion == 0.05
    assert targets.stages == {"awareness": 1.0, "consideration": 0.6}
    assert targets.steps["hello"].open_rate == 0.35
    assert targets.steps["hello"].conversion_rate is None


def test_no_targets_is_fine(tmp_path: Path) -> None:
    project = load(tmp_path, "")
    assert project.problems == []
    assert project.journeys["trial"].journey.targets is None


def test_unknown_stage(tmp_path: Path) -> None:
    found = problems(tmp_path, "targets:\n  stages: {desicion: 0.3}\n")
    assert len(found) == 1, found
    assert found[0].startswith(f"{J}:13: targets.stages names unknown stage 'desicion'")
    assert "decision" in found[0]  # the suggestion


def test_unknown_step(tmp_path: Path) -> None:
    found = problems(tmp_path, "targets:\n  steps:\n    helo: {open_rate: 0.3}\n")
    assert len(found) == 1, found
    assert found[0].startswith(f"{J}:14: targets.steps names 'helo', which is not a step")
    assert "hello" in found[0]


def test_rates_outside_0_1(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "targets:\n  conversion: 5\n  steps:\n    hello: {open_rate: -0.1}\n",
    )
    assert len(found) == 2, found
    assert found[0].startswith(f"{J}:13:") and "conversion" in found[0]
    assert found[1].startswith(f"{J}:15:") and "open_rate" in found[1]


def test_unknown_rate_name(tmp_path: Path) -> None:
    found = problems(tmp_path, "targets:\n  steps:\n    hello: {open_rat: 0.3}\n")
    assert len(found) == 1, found
    assert f"{J}:14" in found[0] and "open_rat" in found[0]


def test_editing_targets_does_not_start_a_new_version(tmp_path: Path) -> None:
    def plan_hash(folder: str, targets: str) -> str:
        project = load(tmp_path / folder, targets)
        return project.plan("trial").content_hash

    without = plan_hash("a", "")
    assert plan_hash("b", "targets:\n  conversion: 0.05\n") == without
    assert plan_hash("c", "targets:\n  conversion: 0.2\n") == without
