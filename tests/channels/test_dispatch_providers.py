"""A journey's sends through SendGrid and Twilio (real SDKs, local emulators): what the providers
receive, and how every provider answer lands in the store."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import Engine
from tests.engine.helpers import customers, event, events, intents, plan_of, tick, when

from prefect_journeys.compliance import suppressions
from prefect_journeys.compliance.addresses import address_hash
from prefect_journeys.compliance.tokens import read_token
from prefect_journeys.connectors.base import ChannelConfigError
from prefect_journeys.emulators import Emulators
from prefect_journeys.engine.reconcile import reconcile

TEMPLATES = {
    "promo": (
        "channel: email\nsubject: 'Hi {{ customer.first_name }}'\n"
        "body: 'Hello {{ customer.first_name }}'\n"
        "sendgrid_template_id: d-0123456789abcdef0123456789abcdef\n"
    ),
    "plain": "channel: email\nsubject: 'News'\nbody: 'Same words for everyone'\n",
    "text": "channel: sms\nbody: 'Hi {{ customer.first_name }}, 10% off today'\n",
}
HEADER = """
id: j
entry: {event: signed_up}
settings:
  channels: {email: sendgrid, sms: twilio}
  compliance: {postal_address: "Shop GmbH, Hauptstr. 1, 10115 Berlin", unsubscribe_url: "https://shop.example/u"}
"""
JOURNEY = (
    HEADER
    + """steps:
  - id: mail
    stage: awareness
    send: {channel: email, template: promo}
    next: sms
  - id: sms
    send: {channel: sms, template: text}
"""
)


def _people(engine: Engine, n: int, prefix: str = "c") -> list[str]:
    ids = [f"{prefix}{i:03d}" for i in range(n)]
    for i, cid in enumerate(ids):
        customers(engine, cid, email=f"{cid}@example.com", phone=f"+1415555{i:04d}")
        event(engine, cid, "signed_up", when(2, 12))
    return ids


def test_sends_reach_the_providers_with_only_opaque_ids(
    engine: Engine, tmp_path: Path, emu: Emulators
) -> None:
    plan = plan_of(tmp_path, JOURNEY, templates=TEMPLATES)
    ids = _people(engine, 30)
    report = tick(engine, plan, when(2, 12))
    assert report.sent == 60 and report.failed == report.unknown == 0
    ctl = emu.control
    requests = ctl.sendgrid_requests()
    assert len(requests) == 1  # one dynamic template: 30 personalizations in one request
    mails = ctl.sendgrid_messages()
    by_intent = {str(i["id"]): i for i in intents(engine, step_id="mail")}
    assert len(mails) == 30 and {m["custom_args"]["intent_id"] for m in mails} == set(by_intent)
    for mail in mails:
        assert set(mail["custom_args"]) == {"intent_id"}  # nothing personal rides along
        intent = by_intent[mail["custom_args"]["intent_id"]]
        assert intent["status"] == "sent" and intent["provider_id"] == mail["message_id"]
        headers = {k.lower(): v for k, v in mail["headers"].items()}
        assert headers["list-unsubscribe-post"] == "List-Unsubscribe=One-Click"
        url = headers["list-unsubscribe"].strip("<>")
        token = parse_qs(urlparse(url).query)["token"][0]
        assert read_token(b"test-signing-key", token) == intent["id"]
        assert intent["customer_id"] not in url
        assert set(mail["categories"]) == {"j", "j:mail"}
    texts = ctl.twilio_messages()
    assert sorted(t["to"] for t in texts) == sorted(f"+1415555{i:04d}" for i in range(30))
    sids = {i["provider_id"] for i in intents(engine, step_id="sms")}
    assert sids == {t["sid"] for t in texts}
    assert len(events(engine, "message.sent")) == 60 and len(ids) == 30


def test_provider_answers_map_to_intent_states(
    engine: Engine, tmp_path: Path, emu: Emulators
) -> None:
    plan = plan_of(tmp_path, JOURNEY, templates=TEMPLATES)
    _people(engine, 6)
    ctl = emu.control
    ctl.inject("twilio", "opted_out", to="+14155550001")
    ctl.inject("twilio", "invalid_number", to="+14155550002")
    ctl.inject("twilio", "drop_after_accept", to="+14155550003")
    ctl.inject("twilio", "drop_before_accept", to="+14155550004")
    ctl.inject("twilio", "rate_limit", to="+14155550005", count=10, retry_after=1)
    report = tick(engine, plan, when(2, 12))
    sms = {i["customer_id"]: i for i in intents(engine, step_id="sms")}
    assert sms["c000"]["status"] == "sent"
    assert sms["c001"]["status"] == "suppressed" and "21610" in sms["c001"]["error"]
    assert sms["c002"]["status"] == "failed" and "21211" in sms["c002"]["error"]
    assert sms["c003"]["status"] == sms["c004"]["status"] == "unknown"
    assert sms["c005"]["status"] == "planned" and sms["c005"]["due_at"] > when(2, 12)
    assert report.unknown == 2 and report.retried == 1
    assert not any("+1415555" in p for p in report.problems)
    with engine.connect() as conn:  # the opted-out number is on the suppression list
        assert suppressions.scopes_of(conn, [address_hash("phone", "+14155550001")])
    # reconcile: c003 was accepted (found: sent), c004 never arrived (conclusively absent: planned)
    ctl.clear_faults()
    settled = reconcile(engine, settle=timedelta(0), signing_key=b"test-signing-key")
    assert (settled.sent, settled.requeued) == (1, 1)
    sms = {i["customer_id"]: i for i in intents(engine, step_id="sms")}
    assert sms["c003"]["status"] == "sent" and sms["c004"]["status"] == "planned"
    tick(engine, plan, when(2, 13))
    sent_to = [t["to"] for t in ctl.twilio_messages()]
    for number in ("+14155550000", "+14155550003", "+14155550004", "+14155550005"):
        assert sent_to.count(number) == 1, number  # never doubled
    assert "+14155550001" not in sent_to and "+14155550002" not in sent_to
    assert {i["status"] for i in intents(engine, step_id="sms")} == {"sent", "failed", "suppressed"}


def test_a_5xx_is_unknown_and_abandoned_without_evidence(
    engine: Engine, tmp_path: Path, emu: Emulators
) -> None:
    plan = plan_of(tmp_path, JOURNEY, templates=TEMPLATES)
    _people(engine, 3)
    emu.control.inject("sendgrid", "server_error", status=503)
    tick(engine, plan, when(2, 12))
    assert {i["status"] for i in intents(engine, step_id="mail")} == {"unknown"}
    waiting = reconcile(engine, settle=timedelta(0), signing_key=b"test-signing-key")
    assert waiting.waiting == 3  # SendGrid's activity feed lags: "not found" proves nothing yet
    gone = reconcile(engine, abandon_after=timedelta(0), signing_key=b"test-signing-key")
    assert gone.abandoned == 3
    assert {i["status"] for i in intents(engine, step_id="mail")} == {"abandoned"}
    assert len(events(engine, "message.abandoned")) == 3
    assert emu.control.sendgrid_messages() == []


def test_unknown_sender_keeps_messages_planned(
    engine: Engine, tmp_path: Path, emu: Emulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = JOURNEY.replace("sms: twilio}", "sms: twilio/no-such-block}")
    plan = plan_of(tmp_path, broken, templates=TEMPLATES)
    _people(engine, 4)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # no server: block not found
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", "0")
    with pytest.raises(ChannelConfigError) as caught:
        tick(engine, plan, when(2, 12))
    message = str(caught.value)
    assert "journey j" in message and "no-such-block" in message and "stay planned" in message
    assert {i["status"] for i in intents(engine, step_id="sms")} == {"planned"}
    assert {i["status"] for i in intents(engine, step_id="mail")} == {"sent"}  # email unaffected
    assert emu.control.twilio_messages() == []
    fixed = plan_of(tmp_path, JOURNEY, templates=TEMPLATES)
    tick(engine, fixed, when(2, 12, 5))
    assert {i["status"] for i in intents(engine, step_id="sms")} == {"sent"}


SPLIT = (
    HEADER
    + """steps:
  - id: pick
    split:
      - {variant: mail, weight: 50, next: mail}
      - {variant: text, weight: 50, next: sms}
  - id: mail
    send: {channel: email, template: promo}
  - id: sms
    send: {channel: sms, template: text}
"""
)


def test_a_slow_provider_does_not_hold_up_another(
    engine: Engine, tmp_path: Path, emu: Emulators
) -> None:
    plan = plan_of(tmp_path, SPLIT, templates=TEMPLATES)
    _people(engine, 12)
    emu.control.inject("sendgrid", "delay", delay=3.0, count=100)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            tick(engine, plan, when(2, 12))
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    worker = threading.Thread(target=run)
    started = time.monotonic()
    worker.start()
    try:
        while time.monotonic() - started < 10.0:
            states = {(i["step_id"], i["status"]) for i in intents(engine)}
            if ("sms", "sent") in states and ("sms", "sending") not in states:
                break
            time.sleep(0.05)
        states = {(i["step_id"], i["status"]) for i in intents(engine)}
        # every SMS is recorded as sent while the (slow) email request is still in flight
        assert ("sms", "sent") in states and ("mail", "sending") in states, states
    finally:
        worker.join(timeout=60)
    assert not worker.is_alive() and not failures, failures
    assert {i["status"] for i in intents(engine)} == {"sent"}


OTHER_CHANNELS = """
id: j
entry: {event: signed_up}
settings:
  channels: {whatsapp: twilio, webhook: webhook}
  sms_quiet_hours: null
steps:
  - id: chat
    send: {channel: whatsapp, template: chat}
    next: crm
  - id: crm
    send: {channel: webhook, template: crm, data: {list: vip}}
"""
OTHER_TEMPLATES = {
    "chat": "channel: whatsapp\nbody: 'Hi {{ customer.first_name }}, your order shipped'\n",
    "crm": "channel: webhook\nbody: 'tag {{ customer.id }} as {{ data.list }}'\n",
}


def test_whatsapp_and_signed_webhooks_through_a_journey(
    engine: Engine, tmp_path: Path, emu: Emulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from prefect_journeys.connectors.webhook import verify_signature

    received: list[tuple[dict[str, str], bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("JOURNEYS_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
    monkeypatch.setenv("JOURNEYS_WEBHOOK_SECRET", "whsec-test")
    try:
        plan = plan_of(tmp_path, OTHER_CHANNELS, templates=OTHER_TEMPLATES)
        customers(engine, "w1", phone="+4915112345678", whatsapp_consent=True)
        customers(engine, "w2", phone="+4915112345679", whatsapp_consent=False)
        for c in ("w1", "w2"):
            event(engine, c, "signed_up", when(2, 12))
        tick(engine, plan, when(2, 12))
    finally:
        server.shutdown()
    chats = emu.control.twilio_messages()
    assert [(m["to"], m["from"]) for m in chats] == [
        ("whatsapp:+4915112345678", "whatsapp:+15005550006")
    ]
    by = {(i["customer_id"], i["step_id"]): i["status"] for i in intents(engine)}
    assert by[("w2", "chat")] == "suppressed"  # no WhatsApp consent
    assert by[("w1", "crm")] == by[("w2", "crm")] == "sent"
    assert len(received) == 2
    for headers, body in received:
        assert verify_signature(
            "whsec-test", headers["X-Journeys-Timestamp"], body, headers["X-Journeys-Signature"]
        )
        assert not verify_signature(
            "other", headers["X-Journeys-Timestamp"], body, headers["X-Journeys-Signature"]
        )
        doc = json.loads(body)
        assert doc["step"] == "crm" and doc["data"]["data"] == {"list": "vip"}
        assert "+49" not in body.decode()  # the CRM gets ids, not addresses
        assert headers["Idempotency-Key"] == str(doc["intent_id"])
