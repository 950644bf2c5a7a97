"""The ``journeys`` command line (Typer). Each command group lives in its own module."""

from __future__ import annotations

import sys

import typer

from prefect_journeys.cli import (
    compliance_cmds,
    customer_cmds,
    dashboard_cmds,
    data_cmds,
    definition_cmds,
    emulator_cmds,
    rollup_cmds,
    run_cmds,
    sync_cmds,
)
from prefect_journeys.cli.common import err

app = typer.Typer(
    name="journeys",
    help="Customer journeys as code, compiled to Prefect flows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

definition_cmds.register(app)
run_cmds.register(app)
compliance_cmds.register(app)
emulator_cmds.register(app)
sync_cmds.register(app)
customer_cmds.register(app)
data_cmds.register(app)
rollup_cmds.register(app)
dashboard_cmds.register(app)
try:
    from prefect_journeys.cli import simulate_cmds

    simulate_cmds.register(app)
except ImportError:  # pragma: no cover - only while the module is being written
    pass


def main() -> None:
    """Entry point: unexpected errors become one clear line, never a traceback."""
    try:
        app(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # last resort: name the error, hide the stack
        err.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}")
        err.print("run with JOURNEYS_DEBUG=1 for the full traceback")
        if __import__("os").environ.get("JOURNEYS_DEBUG"):
            raise
        sys.exit(1)
