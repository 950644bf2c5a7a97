"""``journeys simulate`` / ``journeys demo`` argument handling and output, with a fake tick."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from prefect_journeys.cli import simulate_cmds
from prefect_journeys.simulation import runner

ROOT = Path(__file__).resolve().parents[2]  # the repository: journeys/, templates/, segments/


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    calls: list[tuple[str, datetime]] = []

    def fake_tick(engine: Any, plan: Any, as_of: datetime) -> dict[str, Any]:
        calls.append((plan.journey_id, as_of))
        return {"journey": plan.journey_id, "sent": 1, "moved": {}}

    monkeypatch.setattr(runner, "default_run_tick", fake_tick)
    app = typer.Typer()
    simulate_cmds.register(app)
    return app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--customers", "0"], "customers"),
        (["demo", "--days", "abc"], "days"),
        (["demo", "--start", "yesterday"], "--start"),
        (["simulate", str(ROOT), "--tick", "2d"], "--tick"),
        (["simulate", str(ROOT), "--tick", "soon"], "--tick"),
        (["simulate", "/nonexistent/project"], "does not exist"),
    ],
)
def test_bad_arguments_exit_2_without_traceback(
    app: typer.Typer, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_demo_json_prints_only_json(app: typer.Typer, tmp_path: Path) -> None:
    store = tmp_path / "demo.db"
    store.write_text("not a database")  # the demo starts from a fresh store
    args = ["demo", "--customers", "60", "--days", "1", "--json"]
    args += ["--project", str(ROOT), "--store", str(store)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + result.stderr
    data = json.loads(result.stdout)
    assert set(data["journeys"]) == {"cart_abandonment", "welcome_series", "winback"}
    assert data["store"] == str(store.resolve())
    assert data["simulation"]["ticks"] == 24
    winback = data["simulation"]["journeys"]["winback"]
    # every lapsed buyer who entered got one of the two first emails, except the holdout
    assert winback["sent"] == winback["moved"]["first_email"] + winback["moved"]["first_offer"] > 0
    assert data["providers"]["emails"] >= winback["sent"]  # they went through SendGrid
    report = data["journeys"]["welcome_series"]
    assert {"totals", "funnel", "steps", "variants"} <= set(report)
    assert [s["step_id"] for s in report["steps"]][:3] == ["intro", "wait_1d", "highlights"]
    assert [f["stage"] for f in report["funnel"]] == [
        "awareness",
        "consideration",
        "decision",
        "advocacy",
    ]


def test_demo_tables(app: typer.Typer, tmp_path: Path) -> None:
    args = ["demo", "--customers", "40", "--days", "1", "--project", str(ROOT)]
    args += ["--store", str(tmp_path / "demo.db")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + result.stderr
    for text in ("Stage funnel", "Steps", "welcome_series", "Store:", "Elapsed:"):
        assert text in result.stdout


def test_simulate_one_journey_file(app: typer.Typer, tmp_path: Path) -> None:
    args = ["simulate", str(ROOT / "journeys" / "winback.yaml"), "--customers", "30"]
    args += ["--days", "1", "--tick", "6h", "--store", str(tmp_path / "s.db"), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + result.stderr
    data = json.loads(result.stdout)
    assert list(data["journeys"]) == ["winback"]
    assert data["simulation"]["ticks"] == 4


def test_invalid_project_exits_1(app: typer.Typer, tmp_path: Path) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "bad.yaml").write_text("id: bad\nentry: {event: x}\nsteps: []\n")
    result = CliRunner().invoke(app, ["simulate", str(tmp_path), "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 1
    assert "bad.yaml" in result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr
