"""With DEBUG logging everywhere, no key, token, secret, address or phone number is logged."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tests.connectors.emulated import twilio_block

from prefect_journeys.blocks import SendGridCredentials, WebhookCredentials
from prefect_journeys.connectors.base import OutboundMessage, PendingIntent
from prefect_journeys.connectors.sendgrid import SendGridChannel
from prefect_journeys.connectors.twilio import TwilioChannel
from prefect_journeys.connectors.webhook import WebhookChannel
from prefect_journeys.emulators import Emulators

HOOK_SECRET = "whsec-LOGSCAN-secret-0042"
EMAILS = ["grace.hopper@example.org", "alan.turing@example.net"]
PHONES = ["+14155550142", "+447700900142", "+14155550143"]


@pytest.fixture
def receiver() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(503 if not getattr(self.server, "seen", False) else 200)
            self.server.seen = True  # type: ignore[attr-defined]
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_debug_logs_hold_no_secrets_and_no_recipients(
    emu: Emulators, receiver: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    claimed = datetime.now(UTC).replace(tzinfo=None)

    # SendGrid: a 429 and a retry, a send, and an activity lookup
    emu.control.inject("sendgrid", "rate_limit", retry_after=0)
    sendgrid = SendGridChannel(
        SendGridCredentials(
            api_key=emu.sendgrid_api_key,  # type: ignore[arg-type]
            from_email="news@example.com",
            host=emu.url,
        ),
        sleep=lambda s: None,
    )
    emails = [
        OutboundMessage(i, "email", f"c{i}", to, "Body", "Subject", marketing=False)
        for i, to in enumerate(EMAILS, start=1)
    ]
    assert {o.status for o in sendgrid.send_batch(emails)} == {"sent"}
    sendgrid.lookup([PendingIntent(1, "email", EMAILS[0], None, claimed)])

    # Twilio: sent, opted out, invalid number (its error echoes the number), then lookups
    emu.control.inject("twilio", "opted_out", to=PHONES[1])
    emu.control.inject("twilio", "invalid_number", to=PHONES[2])
    twilio = TwilioChannel(twilio_block(emu))
    texts = [OutboundMessage(10 + i, "sms", "c", p, "Hi there") for i, p in enumerate(PHONES)]
    outcomes = twilio.send_batch(texts)
    assert [o.status for o in outcomes] == ["sent", "suppressed", "failed"]
    logging.getLogger("test.outcomes").debug("outcomes: %r", outcomes)  # outcomes are loggable
    twilio.lookup(
        [PendingIntent(10 + i, "sms", p, "Hi there", claimed) for i, p in enumerate(PHONES)]
    )

    # Webhook: a 503 then a retry
    hook = WebhookChannel(
        WebhookCredentials(url=receiver, secret=HOOK_SECRET),  # type: ignore[arg-type]
        sleep=lambda s: None,
    )
    [delivered] = hook.send_batch([OutboundMessage(20, "webhook", "c20", None, "Body")])
    assert delivered.status == "sent"

    logged = caplog.text
    secrets = [emu.sendgrid_api_key, emu.twilio_auth_token, HOOK_SECRET]
    for value in [*secrets, *EMAILS, *PHONES, *(p.replace("+", "%2B") for p in PHONES)]:
        assert value not in logged, f"{value[:6]}… leaked into the logs"
    # logging really was on down to the HTTP libraries (the Twilio lookup's request line is
    # there, with its query string, i.e. the phone number, replaced)
    assert "Messages.json?<redacted>" in logged
