"""``journeys emulators``: the local SendGrid and Twilio emulators (see ``emulators.command``)."""

from __future__ import annotations

import typer

from prefect_journeys.emulators.command import emulators_command


def register(app: typer.Typer) -> None:
    app.command("emulators")(emulators_command)
