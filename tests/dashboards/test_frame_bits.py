"""Labels, colours, the period arithmetic, the store checks and the ``journeys dashboard`` command."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefect_journeys.cli import app
from prefect_journeys.cli.dashboard_cmds import dashboard_env, streamlit_command
from prefect_journeys.dashboards import app_path
from prefect_journeys.dashboards.filters import Filters, default_period
from prefect_journeys.dashboards.i18n import LABELS, LOCALES, env_locale, tr
from prefect_journeys.dashboards.store import as_url, display_url, store_state
from prefect_journeys.dashboards.theme import (
    CHANNEL_COLORS,
    STAGE_COLORS,
    channel_color,
    stage_color,
)
from prefect_journeys.definition.model import DEFAULT_STAGES


def test_every_label_exists_in_every_locale() -> None:
    for key, entry in LABELS.items():
        assert set(entry) == set(LOCALES), key
        english = entry["en"]
        assert all(entry[loc].count("{") == english.count("{") for loc in LOCALES), key
    assert tr("kpi.sent", "zh-CN") == "已发送消息"
    assert tr("overview.vs_previous", "en", days=7) == "Deltas compare with the previous 7 day(s)."
    with pytest.raises(KeyError):
        tr("no.such.label")


def test_locale_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYS_LOCALE", "zh-CN")
    assert env_locale() == "zh-CN"
    monkeypatch.setenv("JOURNEYS_LOCALE", "fr")
    assert env_locale() == "en"


def test_each_stage_and_channel_has_its_own_stable_colour() -> None:
    assert set(STAGE_COLORS) == set(DEFAULT_STAGES)
    assert set(CHANNEL_COLORS) == {"email", "sms", "whatsapp", "webhook"}
    assert len(set(STAGE_COLORS.values())) == 5 and len(set(CHANNEL_COLORS.values())) == 4
    assert stage_color("loyalty") == stage_color("loyalty") != stage_color(None)
    assert channel_color("push").startswith("#")


def test_the_period_and_the_previous_one() -> None:
    f = Filters(date(2026, 1, 5), date(2026, 1, 11))
    assert (f.since, f.until, f.days) == (datetime(2026, 1, 5), datetime(2026, 1, 12), 7)
    assert f.previous_since == datetime(2025, 12, 29) and not f.narrowed
    assert Filters(date(2026, 1, 5), date(2026, 1, 5), channel="sms").narrowed
    assert default_period(date(2026, 1, 14)) == (date(2026, 1, 1), date(2026, 1, 14))
    with pytest.raises(ValueError, match="before it starts"):
        Filters(date(2026, 1, 5), date(2026, 1, 4))


def test_store_states(tmp_path: Path, empty_store: Path) -> None:
    missing = as_url(tmp_path / "none.db")
    assert store_state(missing).state == "missing" and not (tmp_path / "none.db").exists()
    assert store_state(as_url(empty_store)).state == "empty"
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a database")
    assert store_state(as_url(garbage)).state == "missing"
    assert display_url("postgresql+psycopg://u:secret@127.0.0.1/db").count("secret") == 0


def test_the_streamlit_command_and_environment(tmp_path: Path) -> None:
    command = streamlit_command(host="127.0.0.1", port=8600)
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(app_path())]
    assert "--server.address=127.0.0.1" in command and "--server.port=8600" in command
    assert "--server.headless=true" in command
    env = dashboard_env(store=str(tmp_path / "x.db"), project=tmp_path, locale="zh-CN")
    assert env["JOURNEYS_DATABASE_URL"] == f"sqlite:///{(tmp_path / 'x.db').resolve()}"
    assert env["JOURNEYS_LOCALE"] == "zh-CN" and env["JOURNEYS_PROJECT"] == str(tmp_path)


def test_serve_stops_streamlit_when_terminated(tmp_path: Path) -> None:
    """SIGTERM to ``journeys dashboard`` ends its child too (no orphaned server)."""
    import os
    import signal
    import subprocess
    import time

    marker = tmp_path / "child.pid"
    child = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    script = (
        "import sys; from prefect_journeys.cli.dashboard_cmds import serve; "
        f"sys.exit(serve([sys.executable, '-c', {child!r}], dict(__import__('os').environ)))"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.1)
    pid = int(marker.read_text())
    parent.send_signal(signal.SIGTERM)
    parent.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError("the child outlived serve()")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "loopback only"),
        (["--locale", "fr"], "choose one of en, zh-CN"),
    ],
)
def test_the_command_refuses_bad_options(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["dashboard", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_the_command_runs_streamlit_on_the_store(
    monkeypatch: pytest.MonkeyPatch, empty_store: Path
) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []

    def fake_serve(command: list[str], env: dict[str, str]) -> int:
        calls.append((command, env))
        return 0

    monkeypatch.setattr("prefect_journeys.cli.dashboard_cmds.serve", fake_serve)
    result = CliRunner().invoke(app, ["dashboard", "--store", str(empty_store), "--port", "8555"])
    assert result.exit_code == 0, result.output
    command, env = calls[0]
    assert "--server.port=8555" in command
    assert env["JOURNEYS_DATABASE_URL"] == f"sqlite:///{empty_store.resolve()}"
    assert "no events yet" in result.output
