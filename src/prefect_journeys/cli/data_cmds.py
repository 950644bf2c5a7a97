"""``journeys check-data``: validate the store's customers and events with the project's suites."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from prefect_journeys.cli.common import EXIT_PROBLEMS, console, fail, project_root

STORE_HELP = "database URL (default: $JOURNEYS_DATABASE_URL or .journeys/journeys.db)"


def register(app: typer.Typer) -> None:
    @app.command("check-data")
    def check_data(
        project: Path | None = typer.Option(None, "--project", help="project folder"),
        database_url: str | None = typer.Option(None, "--database-url", "--store", help=STORE_HELP),
        threshold: float = typer.Option(
            0.05,
            "--threshold",
            min=0.0,
            max=1.0,
            help="largest fraction of failing rows per suite that still passes",
        ),
    ) -> None:
        """Validate the store's customers and customer events with the Great Expectations suites
        (expectations/customers.json, expectations/events.json). Records the results and the
        failing rows (quarantine, kind check); changes nothing else. Exit 1 above the threshold."""
        from prefect_journeys.expectations.check import check_store
        from prefect_journeys.expectations.suites import SuiteError
        from prefect_journeys.store.database import cached_engine
        from prefect_journeys.store.migrate import ensure_schema

        root = project_root(project)
        engine = cached_engine(database_url)
        ensure_schema(engine)
        try:
            results = check_store(engine, project_root=root, threshold=threshold)
        except SuiteError as exc:
            raise fail(str(exc), EXIT_PROBLEMS) from None
        for result in results:
            verdict = "[green]passed[/]" if result.passed else "[bold red]above the threshold[/]"
            console.print(
                f"[bold]{result.suite}[/] ({result.target}): {result.rows} rows,"
                f" {result.failed_rows} failing ({result.fraction:.1%} counted, threshold"
                f" {result.threshold:.1%}): {verdict}  [dim]validation {result.validation_id}[/]"
            )
            if result.failed:
                table = Table(show_edge=False, pad_edge=False)
                table.add_column("failed expectation")
                table.add_column("rows", justify="right")
                table.add_column("e.g. customers")
                for label, count in result.failed.most_common():
                    note = " [dim](not counted)[/]" if label in result.uncounted else ""
                    examples = ", ".join(result.examples[label])
                    table.add_row(escape(label) + note, str(count), escape(examples))
                console.print(table)
        if not all(r.passed for r in results):
            raise typer.Exit(EXIT_PROBLEMS)
