"""The ``emulators`` command: run the local SendGrid and Twilio emulators until Ctrl-C.

Prints the URL, the credentials to give the SDKs and the control API; bad options are one line on
stderr (exit 2), a port that cannot be bound too (exit 1). ``journeys emulators`` registers it
(``prefect_journeys.cli.emulator_cmds``); ``python -m prefect_journeys.emulators`` runs it alone,
without loading the rest of the command line.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from prefect_journeys.emulators.runtime import Emulators

DEFAULT_PORT = 8025
EXIT_USAGE = 2
EXIT_CANNOT_LISTEN = 1


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """One plain line on stderr (never wrapped), then the exit code."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise fail(f"--port {text!r} is not a port number; use 0 to 65535 (0: any free port)")
    return port


def _rate(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise fail(f"{option} {text!r} is not a share; use a number from 0 to 1, e.g. 0.25")
    return value


def _seconds(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 86400:
        raise fail(f"{option} {text!r} is not a number of seconds (0 or more)")
    return value


def _wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def emulators_command(
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="Interface to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        str, typer.Option("--port", metavar="PORT", help="Port to listen on (0: any free port).")
    ] = str(DEFAULT_PORT),
    sendgrid_events_url: Annotated[
        str | None,
        typer.Option(
            "--sendgrid-events-url", metavar="URL", help="POST signed SendGrid events to this URL."
        ),
    ] = None,
    open_rate: Annotated[
        str,
        typer.Option("--open-rate", metavar="F", help="Share of delivered emails that are opened."),
    ] = "0",
    click_rate: Annotated[
        str,
        typer.Option(
            "--click-rate", metavar="F", help="Share of delivered emails that are clicked."
        ),
    ] = "0",
    callback_delay: Annotated[
        str,
        typer.Option(
            "--callback-delay",
            metavar="SECONDS",
            help="Seconds before events and status callbacks.",
        ),
    ] = "0",
) -> None:
    """Run local SendGrid and Twilio API emulators (one server) until Ctrl-C."""
    from prefect_journeys.emulators.config import ConfigError, check_url
    from prefect_journeys.emulators.runtime import Emulators

    number = _port(port)
    rates = _rate(open_rate, "--open-rate"), _rate(click_rate, "--click-rate")
    delay = _seconds(callback_delay, "--callback-delay")
    if sendgrid_events_url is not None:
        try:
            check_url(sendgrid_events_url, "--sendgrid-events-url")
        except ConfigError as exc:
            raise fail(str(exc)) from None
    emu = Emulators(
        host,
        number,
        *rates,
        sendgrid_events_url=sendgrid_events_url,
        callback_delay=delay,
    )
    try:
        emu.start()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise fail(f"cannot listen on {host}:{number}: {reason}", EXIT_CANNOT_LISTEN) from None
    try:
        _announce(emu, sendgrid_events_url)
        _wait_for_stop()
    finally:
        emu.stop()
    typer.echo("emulators stopped")


def _announce(emu: Emulators, events_url: str | None) -> None:
    lines = [
        f"Emulators listening on {emu.url}  (Ctrl-C to stop)",
        "",
        f"SendGrid  SendGridAPIClient(api_key, host={emu.url!r})",
        f"          api key      {emu.sendgrid_api_key}",
        f"          events       {events_url or 'off (--sendgrid-events-url URL)'}",
        f"          public key   {emu.sendgrid_public_key}",
        "Twilio    prefect_journeys.emulators.sdk.twilio_client(url, sid, token)",
        f"          account SID  {emu.twilio_account_sid}",
        f"          auth token   {emu.twilio_auth_token}",
        f"Control   EmulatorControl({emu.url!r})  (HTTP: {emu.url}/_emulator/info)",
        "",
        "Point the journeys' `sendgrid` and `twilio` senders at these emulators (then run",
        "`journeys run JOURNEY` in another shell):",
        f"  export SENDGRID_API_KEY={emu.sendgrid_api_key} SENDGRID_HOST={emu.url}"
        " SENDGRID_FROM_EMAIL=news@shop.example",
        f"  export TWILIO_ACCOUNT_SID={emu.twilio_account_sid}"
        f" TWILIO_AUTH_TOKEN={emu.twilio_auth_token}",
        f"  export TWILIO_BASE_URL={emu.url} TWILIO_FROM_NUMBER=+15005550006"
        " TWILIO_WHATSAPP_FROM=+15005550006",
    ]
    for line in lines:
        typer.echo(line)
