"""``journeys emulators``: starts, answers, stops on SIGTERM; bad options are one clear line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from prefect_journeys.cli import emulator_cmds
from prefect_journeys.emulators.config import (
    DEFAULT_SENDGRID_API_KEY,
    DEFAULT_TWILIO_ACCOUNT_SID,
    DEFAULT_TWILIO_AUTH_TOKEN,
)
from prefect_journeys.emulators.sdk import twilio_client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    emulator_cmds.register(app)

    @app.command("other")
    def other() -> None:  # a second command, so "emulators" stays a subcommand as in journeys
        """Unused."""

    return app


@pytest.fixture
def running() -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect_journeys.emulators",
            "--port",
            str(port),
            "--open-rate",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, port
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(5)


def _info(port: int, timeout: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/info", timeout=1) as r:
                return dict(json.load(r))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_command_serves_until_terminated(running: tuple[subprocess.Popen[str], int]) -> None:
    process, port = running
    info = _info(port)
    url = f"http://127.0.0.1:{port}"
    assert info["url"] == url
    assert info["twilio_account_sid"] == DEFAULT_TWILIO_ACCOUNT_SID
    assert info["config"] == {
        "sendgrid_events_url": None,
        "open_rate": 0.5,
        "click_rate": 0.0,
        "callback_delay": 0.0,
    }
    client = twilio_client(url, DEFAULT_TWILIO_ACCOUNT_SID, DEFAULT_TWILIO_AUTH_TOKEN)
    assert client.messages.create(to="+447700900123", from_="+12025550100", body="hi").sid
    os.kill(process.pid, signal.SIGTERM)
    out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert f"listening on {url}" in out
    for secret in (DEFAULT_SENDGRID_API_KEY, DEFAULT_TWILIO_ACCOUNT_SID, DEFAULT_TWILIO_AUTH_TOKEN):
        assert secret in out
    assert out.rstrip().endswith("emulators stopped")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--port", "70000"], "--port '70000' is not a port number"),
        (["--port", "http"], "--port 'http' is not a port number"),
        (["--open-rate", "2"], "--open-rate '2' is not a share"),
        (["--sendgrid-events-url", "ftp://x"], "--sendgrid-events-url must be an http(s) URL"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    app: typer.Typer, args: list[str], fragment: str
) -> None:
    result = CliRunner().invoke(app, ["emulators", *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"error: {result.stderr.strip()[7:]}"]
    assert fragment in result.stderr


def test_a_port_in_use_is_one_line_and_exit_1(app: typer.Typer) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["emulators", "--port", str(port)])
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert "in use" in line.lower()
    assert "Traceback" not in result.output
