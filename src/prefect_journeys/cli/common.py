"""What every command shares: Rich consoles, argument parsing with clear errors, exit codes."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)

EXIT_PROBLEMS = 1  # the input has problems (journey invalid, data rejected)
EXIT_USAGE = 2  # the command line is wrong


class UsageError(Exception):
    """A wrong argument: printed as one line, exit code 2."""


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def parse_as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail(
            f"--as-of {text!r} is not an ISO time; write e.g. 2026-03-02T09:00 or 2026-03-02T09:00+01:00"
        ) from None


def project_root(project: Path | None) -> Path:
    from prefect_journeys.definition.project import Project

    start = project or Path.cwd()
    if not start.exists():
        raise fail(f"--project {start} does not exist")
    return Project.find_root(start)


def quiet_prefect() -> None:
    """Sensible defaults for running flows from the shell (the user's settings win)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # The first start of the temporary server runs its migrations: give it time.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
