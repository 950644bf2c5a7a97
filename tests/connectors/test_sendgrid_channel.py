"""The SendGrid channel through the real SDK against the emulator: batching and every outcome."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from typing import Any

from tests.connectors.emulated import Sleeps, changed

from prefect_journeys.blocks import SendGridCredentials
from prefect_journeys.connectors.base import Channel, OutboundMessage, PendingIntent, Reconcilable
from prefect_journeys.connectors.sendgrid import SendGridChannel
from prefect_journeys.emulators import Emulators

TEMPLATE = "d-" + "0123456789abcdef" * 2


def email(intent: int, **fields: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "intent_id": intent,
        "channel": "email",
        "customer_id": f"c{intent}",
        "to": f"user{intent}@example.com",
        "subject": "Welcome aboard",
        "body": "Hello <friend>,\n\nthanks & welcome.",
        "preheader": "Your first steps",
        "categories": ("welcome_series", "welcome_series:intro"),
        "unsubscribe_url": f"https://u.example.com/unsub/tok{intent}",
        "tags": {"journey": "welcome_series", "version": 1, "step": "intro"},
    }
    values.update(fields)
    return OutboundMessage(**values)


def templated(intent: int) -> OutboundMessage:
    return email(intent, template_id=TEMPLATE, template_data={"first_name": f"N{intent}"})


def open_channel(block: SendGridCredentials, **options: Any) -> tuple[SendGridChannel, Sleeps]:
    sleeps = Sleeps()
    options.setdefault("sleep", sleeps)
    return SendGridChannel(block, **options), sleeps


def test_template_audience_goes_as_requests_of_1000_personalizations(
    emu: Emulators, sendgrid_block: SendGridCredentials
) -> None:
    channel, _ = open_channel(sendgrid_block)
    assert isinstance(channel, Channel) and isinstance(channel, Reconcilable)
    messages = [templated(i) for i in range(1, 2501)]
    outcomes = channel.send_batch(messages)

    requests = emu.control.sendgrid_requests()
    assert sorted(len(r["personalizations"]) for r in requests) == [500, 1000, 1000]
    assert channel.stats.requests == 3
    for request in requests:
        assert request["template_id"] == TEMPLATE and "content" not in request
        assert request["from"] == {"email": "news@example.com", "name": "Example News"}
        assert request["categories"] == ["welcome_series", "welcome_series:intro"]
        for p in request["personalizations"]:
            intent = p["custom_args"]["intent_id"]
            assert p["custom_args"] == {"intent_id": intent}  # our opaque id, nothing else
            assert p["to"] == [{"email": f"user{intent}@example.com"}]
            assert p["dynamic_template_data"] == {"first_name": f"N{intent}"}
            assert p["headers"] == {
                "List-Unsubscribe": f"<https://u.example.com/unsub/tok{intent}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }

    # one outcome per message, each naming the emulator's id for that very recipient
    assert [o.intent_id for o in outcomes] == list(range(1, 2501))
    assert {o.status for o in outcomes} == {"sent"}
    recorded = {m["to"]: m["message_id"] for m in emu.control.sendgrid_messages()}
    assert len(recorded) == 2500
    assert all(o.provider_id == recorded[f"user{o.intent_id}@example.com"] for o in outcomes)


def test_identical_content_shares_a_request_different_content_does_not(
    emu: Emulators, sendgrid_block: SendGridCredentials
) -> None:
    channel, _ = open_channel(sendgrid_block)
    same = [email(i) for i in (1, 2, 3)]
    other = [email(4, body="Something else"), email(5, subject="Another subject")]
    outcomes = channel.send_batch([same[0], other[0], same[1], other[1], same[2]])
    assert [o.intent_id for o in outcomes] == [1, 4, 2, 5, 3]
    assert all(o.status == "sent" for o in outcomes)

    requests = emu.control.sendgrid_requests()
    sizes = sorted(len(r["personalizations"]) for r in requests)
    assert sizes == [1, 1, 3]
    shared = next(r for r in requests if len(r["personalizations"]) == 3)
    assert shared["subject"] == "Welcome aboard"
    plain, html = shared["content"]
    assert plain == {"type": "text/plain", "value": "Hello <friend>,\n\nthanks & welcome."}
    assert html["type"] == "text/html"
    assert "Hello &lt;friend&gt;," in html["value"] and "<friend>" not in html["value"]
    assert "display:none" in html["value"] and "Your first steps" in html["value"]
    assert shared["mail_settings"] == {"sandbox_mode": {"enable": False}}
    # messages of one request share an X-Message-Id, each with its own suffix
    ids = {o.intent_id: o.provider_id for o in outcomes}
    assert ids[1] is not None and ids[2] is not None
    assert ids[1].rsplit(".", 1)[0] == ids[2].rsplit(".", 1)[0] and ids[1] != ids[2]


def test_unsendable_messages_fail_without_any_request(
    emu: Emulators, sendgrid_block: SendGridCredentials
) -> None:
    channel, _ = open_channel(sendgrid_block)
    outcomes = channel.send_batch(
        [
            email(1, unsubscribe_url=None),  # marketing without List-Unsubscribe
            email(2, to="not an address"),
            email(3, channel="sms"),
            email(4, unsubscribe_url=None, marketing=False),  # transactional: fine
        ]
    )
    assert [(o.status, o.error) for o in outcomes[:3]] == [
        ("failed", "marketing email without List-Unsubscribe"),
        ("failed", "invalid email address"),
        ("failed", "SendGrid sends email, not sms"),
    ]
    assert outcomes[3].status == "sent"
    [request] = emu.control.sendgrid_requests()
    assert [p["custom_args"]["intent_id"] for p in request["personalizations"]] == ["4"]
    assert "headers" not in request["personalizations"][0]


def test_429_waits_for_the_reset_then_sends_once(
    emu: Emulators, sendgrid_block: SendGridCredentials
) -> None:
    emu.control.inject("sendgrid", "rate_limit", retry_after=2)
    channel, sleeps = open_channel(sendgrid_block)
    before = time.time()
    outcomes = channel.send_batch([email(1), email(2)])
    assert [o.status for o in outcomes] == ["sent", "sent"]
    [(called_at, wait)] = sleeps.calls
    # X-RateLimit-Reset is a Unix second ≥ the fault time + 2 s: we slept until at least then
    assert called_at + wait >= before + 2 - 0.01
    assert channel.stats.requests == 2 and channel.stats.retries == 1
    assert len(emu.control.sendgrid_messages()) == 2  # sent once, not twice


def test_429_that_outlasts_the_retries_is_retry(
    emu: Emulators, sendgrid_block: SendGridCredentials
) -> None:
    emu.control.inject("sendgrid", "rate_limit", count=50, retry_after=1)
    channel, sleeps = open_channel(sendgrid_block, max_retries=2, concurrency=1)
    outcomes = channel.send_batch([email(1), email(2, body="other")])
    assert [o.status for o in outcomes] == ["retry", "retry"]
    assert all(o.retry_after is not None and o.retry_after >= 0.9 for o in outcomes)
    assert len(sleeps.calls) == 2
    # the second request was never tried: the batch gave up once the first one did
    assert channel.stats.requests == 3
    assert emu.control.sendgrid_messages() == []


def test_server_error_is_unknown_and_never_repeated(
    emu: Emulators, sendgrid_block: SendGridCredentials
) -> None:
    emu.control.inject("sendgrid", "server_error", status=503)
    channel, sleeps = open_channel(sendgrid_block)
    outcomes = channel.send_batch([email(1), email(2)])
    assert [o.status for o in outcomes] == ["unknown", "unknown"]
    assert outcomes[0].error == "sendgrid 503: outcome unknown"
    assert channel.stats.requests == 1 and sleeps.calls == []


def test_slow_answer_is_unknown_and_reconciliation_finds_it(
    emu: Emulators, sendgrid_block: SendGridCredentials
) -> None:
    block = changed(sendgrid_block, timeout_seconds=0.3)
    emu.control.inject("sendgrid", "delay", delay=1.0)
    channel, _ = open_channel(block)
    claimed = datetime.now(UTC).replace(tzinfo=None)
    [outcome] = channel.send_batch([email(1)])
    assert outcome.status == "unknown" and outcome.provider_id is None
    [recorded] = emu.control.sendgrid_messages()  # yet SendGrid has it
    assert recorded["custom_args"] == {"intent_id": "1"}

    pending = [
        PendingIntent(1, "email", "user1@example.com", None, claimed),
        PendingIntent(2, "email", "user2@example.com", None, claimed),  # never sent
    ]
    found, missing = channel.lookup(pending)
    assert (found.found, found.provider_id, found.status) == (
        True,
        recorded["message_id"],
        "delivered",
    )
    assert missing.found is None  # SendGrid's feed lags: absence proves nothing
    assert channel.authoritative is False


def test_connection_dropped_after_accepting_is_unknown(
    emu: Emulators, sendgrid_block: SendGridCredentials
) -> None:
    emu.control.inject("sendgrid", "drop_after_accept")
    channel, _ = open_channel(sendgrid_block)
    [outcome] = channel.send_batch([email(1)])
    assert outcome.status == "unknown"
    assert len(emu.control.sendgrid_messages()) == 1


def test_connection_dropped_before_accepting_is_also_unknown(
    emu: Emulators, sendgrid_block: SendGridCredentials
) -> None:
    # The whole request was written before the connection closed: from the client's side this is
    # indistinguishable from a drop after accepting, so it must not be repeated blindly.
    emu.control.inject("sendgrid", "drop_before_accept")
    channel, sleeps = open_channel(sendgrid_block)
    [outcome] = channel.send_batch([email(1)])
    assert outcome.status == "unknown" and sleeps.calls == []
    assert emu.control.sendgrid_messages() == []


def test_refused_connection_is_retried_then_retry(sendgrid_block: SendGridCredentials) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    block = changed(sendgrid_block, host=f"http://127.0.0.1:{port}")
    channel, sleeps = open_channel(block, max_retries=3, concurrency=1)
    outcomes = channel.send_batch([email(1), email(2, body="other")])
    assert [o.status for o in outcomes] == ["retry", "retry"]
    assert outcomes[0].error == "sendgrid unreachable: URLError"
    assert len(sleeps.calls) == 3 and channel.stats.retries == 3


def test_rejected_key_fails_every_message_after_one_request(
    emu: Emulators, sendgrid_block: SendGridCredentials
) -> None:
    block = changed(sendgrid_block, api_key="SG.wrong")
    channel, _ = open_channel(block, concurrency=1)
    outcomes = channel.send_batch([email(1), email(2, body="other"), templated(3)])
    assert [o.status for o in outcomes] == ["failed"] * 3
    assert all(
        o.error and o.error.startswith("credentials rejected by SendGrid (HTTP 401)")
        for o in outcomes
    )
    assert channel.stats.requests == 1


def test_bad_request_fails_the_request_with_the_providers_reason(
    emu: Emulators, sendgrid_block: SendGridCredentials
) -> None:
    channel, _ = open_channel(sendgrid_block)
    outcomes = channel.send_batch(
        [email(1, template_id="not-a-guid"), email(2, template_id="not-a-guid")]
    )
    assert [o.status for o in outcomes] == ["failed", "failed"]
    assert outcomes[0].error is not None
    assert outcomes[0].error.startswith(
        "sendgrid 400: template_id: The template_id must be a valid GUID"
    )
    assert "user1@example.com" not in outcomes[0].error


def test_sandbox_mode_is_sent_with_an_id(
    emu: Emulators, sendgrid_block: SendGridCredentials
) -> None:
    block = changed(sendgrid_block, sandbox_mode=True)
    channel, _ = open_channel(block)
    [outcome] = channel.send_batch([email(1)])
    assert outcome.status == "sent" and outcome.provider_id
    [recorded] = emu.control.sendgrid_messages()
    assert recorded["sandbox"] is True and recorded["message_id"] == outcome.provider_id


def test_separate_requests_overlap(emu: Emulators, sendgrid_block: SendGridCredentials) -> None:
    emu.control.inject("sendgrid", "delay", delay=0.4, count=4)
    channel, _ = open_channel(sendgrid_block, concurrency=4)
    started = time.monotonic()
    outcomes = channel.send_batch([email(i, body=f"Body {i}") for i in range(1, 5)])
    elapsed = time.monotonic() - started
    assert [o.status for o in outcomes] == ["sent"] * 4
    assert len({o.provider_id for o in outcomes}) == 4
    assert elapsed < 1.2  # one after the other would take 1.6 s
    assert channel.stats.requests == 4
