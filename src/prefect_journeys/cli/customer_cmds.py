"""``journeys customer ID``: the single customer view (profile, keys, consents, events, journeys,
messages, merges, quarantine) as Rich tables or JSON. Exit 1 when no profile has that key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from prefect_journeys.cli.common import EXIT_PROBLEMS, console, fail, project_root

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from prefect_journeys.identity.profile import CustomerView

STORE_HELP = (
    "database URL (default: $JOURNEYS_DATABASE_URL, else .journeys/journeys.db in the project)"
)


def _engine(url: str | None, project: Path | None) -> Engine:
    """The store to read: an existing one only (a read never creates an empty store)."""
    import os

    from sqlalchemy.engine import make_url

    from prefect_journeys.store.database import DEFAULT_PATH, DEFAULT_URL_ENV, cached_engine
    from prefect_journeys.store.migrate import ensure_schema

    if url is None:
        url = os.environ.get(DEFAULT_URL_ENV) or (
            f"sqlite:///{project_root(project) / DEFAULT_PATH}"
        )
    parsed = make_url(url)
    path = parsed.database
    missing = bool(path) and path != ":memory:" and not Path(str(path)).exists()
    if parsed.get_backend_name() == "sqlite" and missing:
        raise fail(f"no store at {path}; run a sync or pass --database-url", EXIT_PROBLEMS)
    engine = cached_engine(url)
    ensure_schema(engine)
    return engine


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return escape(json.dumps(value, sort_keys=True, default=str))
    return escape(str(value))


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, expand=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_when(v) if hasattr(v, "strftime") else _text(v) for v in row))
    return table


def print_view(view: CustomerView) -> None:
    """The view as a header and one table per section (empty sections are named, not drawn)."""
    p = view.profile
    name = " ".join(x for x in (p.get("first_name"), p.get("last_name")) if x) or "(no name)"
    console.print(f"[bold]{escape(view.id)}[/]  {escape(name)}  (found by {view.matched_by})")
    profile_rows = [[k, v] for k, v in p.items() if not k.endswith("_consent")]
    profile_rows += [["created", view.created_at], ["updated", view.updated_at]]
    profile_rows += [["tags", ", ".join(view.tags)]] if view.tags else []
    profile_rows += [[f"attribute {k}", v] for k, v in sorted(view.attributes.items())]
    console.print(_table("Profile", ["field", "value"], profile_rows))
    sections: list[tuple[str, list[str], list[list[Any]]]] = [
        (
            "Identities",
            ["kind", "value", "verified", "source", "since"],
            [
                [i.kind, i.value, "yes" if i.verified else "no", i.source, i.created_at]
                for i in view.identities
            ],
        ),
        (
            "Consent",
            ["channel", "topic", "granted", "source", "recorded"],
            [
                [c.channel, c.topic, "yes" if c.granted else "no", c.source, c.recorded_at]
                for c in view.consents
            ],
        ),
        (
            "Consent history",
            ["#", "channel", "topic", "granted", "source", "recorded", "text"],
            [
                [
                    c.id,
                    c.channel,
                    c.topic,
                    "yes" if c.granted else "no",
                    c.source,
                    c.recorded_at,
                    c.text,
                ]
                for c in view.consent_history
            ],
        ),
        (
            "Journeys",
            [
                "journey",
                "entry",
                "state",
                "step",
                "stage",
                "variant",
                "entered",
                "due",
                "ended",
                "reason",
                "converted",
            ],
            [
                [
                    j.journey_id,
                    j.entry_seq,
                    j.state,
                    j.step_id,
                    j.stage,
                    j.variant,
                    j.entered_at,
                    j.due_at,
                    j.completed_at,
                    j.exit_reason,
                    j.converted_at,
                ]
                for j in view.journeys
            ],
        ),
        (
            "Messages",
            ["intent", "journey", "step", "channel", "status", "sent", "provider id", "error"],
            [
                [
                    m.intent_id,
                    m.journey_id,
                    m.step_id,
                    m.channel,
                    m.status,
                    m.sent_at,
                    m.provider_id,
                    m.error,
                ]
                for m in view.messages
            ],
        ),
        (
            "Recent events",
            ["seq", "event", "at", "journey", "step", "channel", "properties"],
            [
                [
                    e.seq,
                    e.name,
                    e.occurred_at,
                    e.journey_id,
                    e.step_id,
                    e.channel,
                    e.properties or None,
                ]
                for e in view.events
            ],
        ),
        (
            "Merges",
            ["from", "into", "reason", "source", "at", "moved"],
            [[m.from_id, m.into_id, m.reason, m.source, m.merged_at, m.moved] for m in view.merges],
        ),
        (
            "Quarantine",
            ["#", "kind", "target", "step", "reasons", "at"],
            [[q.id, q.kind, q.target, q.step_id, q.reasons, q.created_at] for q in view.quarantine],
        ),
    ]
    for title, columns, rows in sections:
        if rows:
            console.print(_table(title, columns, rows))
        else:
            console.print(f"[dim]{title}: none[/]")


def register(app: typer.Typer) -> None:
    @app.command("customer")
    def customer(
        key: str = typer.Argument(
            ..., help="customer id, a merged-away id, an email, a phone or an anonymous id"
        ),
        project: Path | None = typer.Option(None, "--project", help="project folder"),
        database_url: str | None = typer.Option(None, "--database-url", "--store", help=STORE_HELP),
        as_json: bool = typer.Option(False, "--json", help="print the view as JSON"),
        limit: int = typer.Option(20, "--limit", min=1, help="rows per list (events, messages …)"),
    ) -> None:
        """Show one customer: profile, identities, consents, events, journeys and messages."""
        from prefect_journeys.identity.profile import customer_view

        engine = _engine(database_url, project)
        with engine.connect() as conn:
            view = customer_view(conn, key, limit=limit)
        if view is None:
            raise fail(
                f"no customer {key!r} in the store (tried id, identities, email, phone)",
                EXIT_PROBLEMS,
            )
        if as_json:
            print(json.dumps(view.to_dict(), sort_keys=True))
            return
        print_view(view)
