"""`validate` and `plan` through Typer's test runner."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from prefect_journeys.cli.definition_cmds import register

from .helpers import FIXTURE, HEADER, make_project


def run(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_validate_valid_project() -> None:
    code, out = run("validate", str(FIXTURE))
    assert code == 0
    assert "ok: 1 journey checked, no problems" in out


def test_validate_lists_every_problem(tmp_path: Path) -> None:
    bad = (
        HEADER
        + """\
  - id: a
    send: {channel: email, template: nope}
    next: b
  - id: b
    wait: 3x
"""
    )
    worse = "id: other\nentry: {event: x}\nsteps:\n  - id: a\n    wait: [1d\n"
    root = make_project(tmp_path, {"bad": bad, "worse": worse})
    code, out = run("validate", str(root))
    assert code == 1
    assert "Traceback" not in out
    assert "journeys/bad.yaml:5: step 'a': unknown template 'nope'" in out
    assert "journeys/bad.yaml:8: step 'b': wait: invalid duration '3x'" in out
    assert "journeys/worse.yaml:6: YAML syntax error" in out
    assert "failed: 3 problems in 2 files (2 journeys checked)" in out


def test_validate_one_file_and_missing_path(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"ok": HEADER + "  - id: a\n    wait: 1d\n"})
    code, out = run("validate", str(root / "journeys" / "ok.yaml"))
    assert (code, "ok: 1 journey checked" in out) == (0, True)
    code, out = run("validate", str(root / "nope.yaml"))
    assert code == 1 and "no such file or folder" in out


def test_plan_table_and_json() -> None:
    path = FIXTURE / "journeys" / "welcome_series.yaml"
    code, out = run("plan", str(path))
    assert code == 0 and "clicked_offer" in out
    code, out = run("plan", str(path), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["journey"]["id"] == "welcome_series"
    assert data["order"][0] == "intro"


def test_plan_of_invalid_journey(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"bad": HEADER + "  - id: a\n    wait: 3x\n"})
    code, out = run("plan", str(root / "journeys" / "bad.yaml"))
    assert code == 1
    assert "Traceback" not in out
    assert "journeys/bad.yaml:5: step 'a'" in out
