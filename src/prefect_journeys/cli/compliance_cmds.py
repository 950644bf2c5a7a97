"""``journeys forget``, ``journeys consent``, ``journeys suppress`` and ``journeys reconcile``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from prefect_journeys.cli.common import console, fail, project_root

if TYPE_CHECKING:
    from sqlalchemy import Engine

CONSENT_CHANNELS = ("email", "sms", "whatsapp")
STORE_HELP = "database URL (default: $JOURNEYS_DATABASE_URL or .journeys/journeys.db)"


def _engine(store: str | None) -> Engine:
    from prefect_journeys.store.database import cached_engine
    from prefect_journeys.store.migrate import ensure_schema

    engine = cached_engine(store)
    ensure_schema(engine)
    return engine


def register(app: typer.Typer) -> None:
    @app.command("forget")
    def forget(
        customer: str = typer.Argument(..., help="the customer id to erase"),
        project: Path | None = typer.Option(None, "--project", help="project folder"),
        store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    ) -> None:
        """Erase a customer's personal data everywhere we keep it (suppressions stay, hashed)."""
        from prefect_journeys.compliance.erasure import forget as erase

        root = project_root(project)
        report = erase(_engine(store), customer, [root / ".journeys" / "outbox.jsonl"])
        if not report.found and not report.rows:
            raise fail(f"no customer {customer!r} in the store; nothing to erase", 1)
        changed = ", ".join(f"{t} {n}" for t, n in sorted(report.rows.items())) or "none"
        console.print(f"erased customer {customer} (now {report.pseudonym}); rows: {changed}")
        for path, lines in report.files.items():
            console.print(f"  {path}: removed {lines} line(s)")

    @app.command("consent")
    def consent_cmd(
        customer: str = typer.Argument(..., help="customer id"),
        channel: str = typer.Option(..., "--channel", help="email, sms or whatsapp"),
        grant: bool = typer.Option(..., "--grant/--revoke", help="agreed, or withdrew"),
        topic: str = typer.Option("*", "--topic", help="consent topic (default: every topic)"),
        source: str = typer.Option("cli", "--source", help="how it was given"),
        text: str | None = typer.Option(None, "--text", help="the wording agreed to"),
        actor: str | None = typer.Option(None, "--actor", help="who records it"),
        store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    ) -> None:
        """Record a consent decision (who, when, how, the text)."""
        from prefect_journeys.compliance import consent

        if channel not in CONSENT_CHANNELS:
            raise fail(f"--channel {channel!r}: use one of {', '.join(CONSENT_CHANNELS)}")
        engine = _engine(store)
        with engine.begin() as conn:
            consent.record(
                conn, customer, channel, grant, source=source, topic=topic, actor=actor, text=text
            )
        console.print(f"{'granted' if grant else 'revoked'}: {customer} {channel}/{topic}")

    @app.command("suppress")
    def suppress_cmd(
        address: str = typer.Argument(..., help="email address or E.164 phone number"),
        reason: str = typer.Option("manual", "--reason", help="why (manual, bounce, …)"),
        store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    ) -> None:
        """Never contact an address (stored as a hash)."""
        from prefect_journeys.compliance import suppressions
        from prefect_journeys.compliance.addresses import normalize_email, normalize_phone

        kind: Literal["email", "phone"] = "email" if "@" in address else "phone"
        valid = normalize_email(address) if kind == "email" else normalize_phone(address)
        if valid is None:
            raise fail("that is neither an email address nor an E.164 phone number (+…)")
        with _engine(store).begin() as conn:
            added = suppressions.suppress(conn, kind, valid, reason, source="cli")
        console.print("suppressed" if added else "already suppressed")

    @app.command("reconcile")
    def reconcile_cmd(
        project: Path | None = typer.Option(None, "--project", help="project folder"),
        settle: str = typer.Option("10m", "--settle", help="wait before trusting 'not found'"),
        abandon_after: str = typer.Option("24h", "--abandon-after", help="give up after"),
        journey: str | None = typer.Option(None, "--journey", help="only this journey"),
        store: str | None = typer.Option(None, "--store", help=STORE_HELP),
        as_json: bool = typer.Option(False, "--json", help="print the figures as JSON"),
    ) -> None:
        """Settle sends whose outcome is unknown from provider evidence (no blind re-sends)."""
        from prefect_journeys.compliance.tokens import signing_key
        from prefect_journeys.definition.durations import parse_duration
        from prefect_journeys.engine.reconcile import reconcile

        root = project_root(project)
        try:
            windows = parse_duration(settle), parse_duration(abandon_after)
        except ValueError as exc:
            raise fail(str(exc)) from None
        report = reconcile(
            _engine(store),
            settle=windows[0],
            abandon_after=windows[1],
            signing_key=signing_key(root),
            journey_id=journey,
        )
        if as_json:
            print(json.dumps(report.to_dict()))
            return
        console.print(
            f"unknown sends: {report.checked} — sent {report.sent}, requeued {report.requeued},"
            f" abandoned {report.abandoned}, still waiting {report.waiting}"
        )
        for problem in report.problems:
            console.print(f"  [yellow]{problem}[/]")
