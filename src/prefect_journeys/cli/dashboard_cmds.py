"""``journeys dashboard``: the Streamlit dashboard on the configured store, on loopback only.

Runs ``streamlit run`` on the dashboard's entry file in a subprocess (headless: it prints the
address instead of opening a browser). The store is ``--store`` (a URL or a SQLite file), else
``$JOURNEYS_DATABASE_URL``, else ``.journeys/journeys.db`` in the project; it is passed to the
Streamlit process in ``$JOURNEYS_DATABASE_URL`` and only read.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import typer

from prefect_journeys.cli.common import console, err, fail, project_root

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def streamlit_command(*, host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line for the dashboard's entry file."""
    from prefect_journeys.dashboards import app_path

    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path()),
        "--server.headless=true",
        f"--server.address={host}",
        f"--server.port={port}",
        "--server.fileWatcherType=none",
        "--browser.gatherUsageStats=false",
        "--client.toolbarMode=minimal",
    ]


def dashboard_env(*, store: str | None, project: Path, locale: str) -> dict[str, str]:
    """The environment of the Streamlit process: store URL, project folder and locale."""
    from prefect_journeys.dashboards.i18n import LOCALE_ENV
    from prefect_journeys.dashboards.store import PROJECT_ENV, as_url
    from prefect_journeys.store.database import DEFAULT_PATH, DEFAULT_URL_ENV

    env = dict(os.environ)
    url = as_url(store) if store else env.get(DEFAULT_URL_ENV) or as_url(project / DEFAULT_PATH)
    env[DEFAULT_URL_ENV] = url
    env[PROJECT_ENV] = str(project)
    env[LOCALE_ENV] = locale
    return env


def serve(command: list[str], env: dict[str, str]) -> int:
    """Run Streamlit until it ends; Ctrl+C or SIGTERM stop it too (never left running alone)."""
    process = subprocess.Popen(command, env=env)
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: process.terminate())
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if process.poll() is None:
            process.kill()


def register(app: typer.Typer) -> None:
    @app.command("dashboard")
    def dashboard(
        store: str | None = typer.Option(
            None,
            "--store",
            help="store URL or SQLite file (default: $JOURNEYS_DATABASE_URL, else"
            " .journeys/journeys.db in the project)",
        ),
        port: int = typer.Option(8501, "--port", min=1, max=65535, help="port to serve on"),
        host: str = typer.Option("127.0.0.1", "--host", help="loopback address to serve on"),
        locale: str = typer.Option("en", "--locale", help="labels: en or zh-CN"),
        project: Path | None = typer.Option(None, "--project", help="project folder"),
    ) -> None:
        """Open the analytics dashboard (Streamlit) on the store."""
        from prefect_journeys.dashboards.i18n import LOCALES
        from prefect_journeys.dashboards.store import display_url, sqlite_file, store_state
        from prefect_journeys.store.database import DEFAULT_URL_ENV

        if host not in LOOPBACK:
            raise fail(
                f"--host {host!r}: the dashboard serves on loopback only ({', '.join(LOOPBACK)})"
            )
        if locale not in LOCALES:
            raise fail(f"--locale {locale!r}: choose one of {', '.join(LOCALES)}")
        root = project_root(project)
        env = dashboard_env(store=store, project=root, locale=locale)
        url = env[DEFAULT_URL_ENV]
        state = store_state(url)
        if not state.ready:
            file = sqlite_file(url)
            what = "no store at" if state.state == "missing" else "no events yet in"
            err.print(
                f"[yellow]warning:[/] {what} {display_url(url)}"
                + (" (fill it with ./dev demo or journeys sync)" if file is not None else "")
            )
        shown = f"[{host}]" if ":" in host else host
        console.print(
            f"dashboard on http://{shown}:{port} · store {display_url(url)} (Ctrl+C stops)"
        )
        raise typer.Exit(serve(streamlit_command(host=host, port=port), env))


__all__ = ["LOOPBACK", "dashboard_env", "register", "serve", "streamlit_command"]
