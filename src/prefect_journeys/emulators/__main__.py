"""``python -m prefect_journeys.emulators [--host H] [--port P] …``: the same as ``journeys emulators``."""

from __future__ import annotations

import sys

import typer

from prefect_journeys.emulators.command import emulators_command


def main() -> None:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(emulators_command)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # never a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
