"""The Twilio channel through the real SDK against the emulator: outcomes, pacing, lookups."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.connectors.emulated import SERVICE_SID, Sleeps, twilio_block

from prefect_journeys.connectors.base import (
    Channel,
    ChannelConfigError,
    OutboundMessage,
    PendingIntent,
    Reconcilable,
)
from prefect_journeys.connectors.twilio import TwilioChannel
from prefect_journeys.emulators import Emulators


def sms(intent: int, **fields: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "intent_id": intent,
        "channel": "sms",
        "customer_id": f"c{intent}",
        "to": f"+1415555{intent % 10000:04d}",
        "body": f"Hi! Your code is {intent}. Reply STOP to opt out.",
        "tags": {"journey": "cart", "version": 1, "step": "nudge"},
    }
    values.update(fields)
    return OutboundMessage(**values)


def open_channel(
    emu: Emulators, channel: str = "sms", **options: Any
) -> tuple[TwilioChannel, Sleeps]:
    block_fields = options.pop("block", {})
    sleeps = Sleeps()
    options.setdefault("sleep", sleeps)
    return TwilioChannel(twilio_block(emu, **block_fields), channel=channel, **options), sleeps


def now_naive() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def test_sms_is_sent_with_its_sid_from_the_number_and_an_intent_callback(emu: Emulators) -> None:
    channel, _ = open_channel(
        emu, block={"status_callback_url": "http://127.0.0.1:9/twilio?src=journeys"}
    )
    assert isinstance(channel, Channel) and isinstance(channel, Reconcilable)
    outcomes = channel.send_batch([sms(1), sms(2)])
    records = {m["to"]: m for m in emu.control.twilio_messages()}
    assert [o.status for o in outcomes] == ["sent", "sent"]
    for outcome in outcomes:
        record = records[f"+1415555{outcome.intent_id:04d}"]
        assert outcome.provider_id == record["sid"]
        assert record["from"] == "+14155550100" and record["messaging_service_sid"] is None
        query = parse_qs(urlsplit(record["status_callback"]).query)
        assert query == {"src": ["journeys"], "intent_id": [str(outcome.intent_id)]}


def test_messaging_service_is_preferred_over_the_number(emu: Emulators) -> None:
    channel, _ = open_channel(emu, block={"messaging_service_sid": SERVICE_SID})
    [outcome] = channel.send_batch([sms(1)])
    [record] = emu.control.twilio_messages()
    assert outcome.status == "sent"
    assert record["messaging_service_sid"] == SERVICE_SID and record["status_callback"] is None


def test_whatsapp_prefixes_both_addresses(emu: Emulators) -> None:
    channel, _ = open_channel(emu, "whatsapp")
    [outcome] = channel.send_batch([sms(1, channel="whatsapp")])
    [record] = emu.control.twilio_messages()
    assert outcome.status == "sent" and outcome.provider_id == record["sid"]
    assert (record["to"], record["from"]) == ("whatsapp:+14155550001", "whatsapp:+14155550199")


def test_opening_a_channel_without_its_sender_fails_clearly(emu: Emulators) -> None:
    with pytest.raises(ChannelConfigError, match="WhatsApp needs a sender"):
        open_channel(emu, "whatsapp", block={"whatsapp_from": None})
    with pytest.raises(ChannelConfigError, match="SMS needs a sender"):
        open_channel(emu, "sms", block={"from_number": None})


def test_unsendable_messages_fail_without_a_request(emu: Emulators) -> None:
    channel, _ = open_channel(emu)
    outcomes = channel.send_batch(
        [
            sms(1, to="4155550101"),  # no country code
            sms(2, to="+1 415 555 0102"),  # not E.164 as written
            sms(3, body="x" * 1601),
            sms(4, channel="email"),
            sms(5, body="x" * 1600),  # exactly the limit: fine
        ]
    )
    assert [(o.status, o.error) for o in outcomes[:4]] == [
        ("failed", "invalid phone number"),
        ("failed", "invalid phone number"),
        ("failed", "message body longer than 1,600 characters"),
        ("failed", "Twilio sends sms and whatsapp, not email"),
    ]
    assert outcomes[4].status == "sent"
    assert emu.control.requests_seen()["twilio"]["total"] == 1


def test_opted_out_is_suppressed_and_invalid_number_failed(emu: Emulators) -> None:
    emu.control.inject("twilio", "opted_out", to="+14155550001")
    emu.control.inject("twilio", "invalid_number", to="+14155550002")
    channel, _ = open_channel(emu)
    outcomes = channel.send_batch([sms(1), sms(2), sms(3)])
    assert [o.status for o in outcomes] == ["suppressed", "failed", "sent"]
    assert outcomes[0].error is not None and outcomes[0].error.startswith("twilio 21610:")
    assert outcomes[1].error is not None and outcomes[1].error.startswith("twilio 21211:")
    assert "555" not in outcomes[1].error  # the provider echoes the number: redacted
    assert len(emu.control.twilio_messages()) == 1


def test_429_waits_at_least_retry_after_then_sends_once(emu: Emulators) -> None:
    emu.control.inject("twilio", "rate_limit", retry_after=3)
    channel, sleeps = open_channel(emu)
    [outcome] = channel.send_batch([sms(1)])
    assert outcome.status == "sent"
    assert len(sleeps.waits) >= 1 and sleeps.waits[-1] >= 3  # the backoff, after any pacing
    assert channel.stats.retries == 1 and channel.stats.requests == 2
    assert len(emu.control.twilio_messages()) == 1


def test_429_forever_is_retry_and_stops_the_batch(emu: Emulators) -> None:
    emu.control.inject("twilio", "rate_limit", count=100, retry_after=2)
    channel, _ = open_channel(emu, max_retries=2, concurrency=1)
    outcomes = channel.send_batch([sms(1), sms(2), sms(3)])
    assert [o.status for o in outcomes] == ["retry"] * 3
    assert all(o.retry_after is not None and o.retry_after >= 2 for o in outcomes)
    assert channel.stats.requests == 3  # the first message's 1 + 2 retries; then the batch stopped
    assert emu.control.twilio_messages() == []


def test_max_wait_bounds_the_waiting(emu: Emulators) -> None:
    emu.control.inject("twilio", "rate_limit", count=100, retry_after=4)
    channel, sleeps = open_channel(emu, max_retries=10, max_wait=10, concurrency=1)
    [outcome] = channel.send_batch([sms(1)])
    assert outcome.status == "retry"
    assert sum(w for w in sleeps.waits if w >= 1) <= 10 and channel.stats.retries == 2


def test_server_error_is_unknown_and_not_repeated(emu: Emulators) -> None:
    emu.control.inject("twilio", "server_error", status=500)
    channel, _ = open_channel(emu)
    [outcome] = channel.send_batch([sms(1)])
    assert outcome.status == "unknown" and channel.stats.requests == 1
    assert outcome.error is not None and "20500" in outcome.error


def test_timeout_and_drop_after_accept_are_unknown_and_lookup_finds_them(emu: Emulators) -> None:
    emu.control.inject("twilio", "delay", delay=1.0, to="+14155550001")
    emu.control.inject("twilio", "drop_after_accept", to="+14155550002")
    channel, _ = open_channel(emu, block={"timeout_seconds": 0.3})
    claimed = now_naive()
    outcomes = channel.send_batch([sms(1), sms(2)])
    assert [o.status for o in outcomes] == ["unknown", "unknown"]
    records = {m["to"]: m for m in emu.control.twilio_messages()}
    assert set(records) == {"+14155550001", "+14155550002"}  # Twilio has both

    evidence = channel.lookup(
        [PendingIntent(m.intent_id, "sms", m.to, m.body, claimed) for m in (sms(1), sms(2))]
    )
    assert [(e.intent_id, e.found, e.provider_id) for e in evidence] == [
        (1, True, records["+14155550001"]["sid"]),
        (2, True, records["+14155550002"]["sid"]),
    ]
    assert all(e.status for e in evidence)


def test_drop_before_accept_is_unknown_and_lookup_proves_it_absent(emu: Emulators) -> None:
    # The request was written in full before the connection closed: as far as the client can
    # tell Twilio may have created it, so it is unknown, not retried. The authoritative lookup
    # then proves it absent, and the reconciler can plan it again.
    emu.control.inject("twilio", "drop_before_accept")
    channel, sleeps = open_channel(emu)
    claimed = now_naive()
    [outcome] = channel.send_batch([sms(1)])
    assert outcome.status == "unknown" and sleeps.waits == []
    [evidence] = channel.lookup([PendingIntent(1, "sms", sms(1).to, sms(1).body, claimed)])
    assert evidence.found is False and channel.authoritative is True


def test_refused_connection_is_retried_then_retry(emu: Emulators) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel, _ = open_channel(emu, max_retries=2, block={"base_url": f"http://127.0.0.1:{port}"})
    [outcome] = channel.send_batch([sms(1)])
    assert outcome.status == "retry" and outcome.error == "twilio unreachable: ConnectionError"
    assert channel.stats.retries == 2


def test_rejected_credentials_fail_the_whole_batch(emu: Emulators) -> None:
    channel, _ = open_channel(emu, concurrency=2, block={"auth_token": "wrong"})
    outcomes = channel.send_batch([sms(i) for i in range(1, 21)])
    assert {o.status for o in outcomes} == {"failed"}
    assert all(
        o.error and o.error.startswith("credentials rejected by Twilio (HTTP 401") for o in outcomes
    )
    assert channel.stats.requests <= 2  # the threads in flight; the rest never tried


def test_large_audience_is_paced_not_rejected(emu: Emulators) -> None:
    channel = TwilioChannel(twilio_block(emu, messages_per_second=50.0, concurrency=4))
    started = time.monotonic()
    outcomes = channel.send_batch([sms(i) for i in range(1, 31)])
    elapsed = time.monotonic() - started
    assert {o.status for o in outcomes} == {"sent"}
    assert elapsed >= 0.55  # 30 at 50/s: 29 intervals of 20 ms
    seen = emu.control.requests_seen()["twilio"]
    assert (seen["accepted"], seen["rejected"], seen["faulted"]) == (30, 0, 0)
    assert channel.stats.throttled_seconds > 0.4


def test_lookup_matches_each_message_once_and_respects_time_and_body(emu: Emulators) -> None:
    channel, _ = open_channel(emu)
    before = now_naive()
    channel.send_batch([sms(1), sms(11, to="+14155550001", body=sms(1).body)])  # same twice
    later = now_naive() + timedelta(minutes=5)
    evidence = channel.lookup(
        [
            PendingIntent(1, "sms", "+14155550001", sms(1).body, before),
            PendingIntent(11, "sms", "+14155550001", sms(1).body, before),
            PendingIntent(12, "sms", "+14155550001", sms(1).body, before),  # a third: none left
            PendingIntent(13, "sms", "+14155550001", "another body", before),
            PendingIntent(14, "sms", "+14155550001", sms(1).body, later),  # claimed after them
            PendingIntent(15, "whatsapp", "+14155550001", sms(1).body, before),
        ]
    )
    found = {e.intent_id: e for e in evidence}
    assert found[1].found and found[11].found and found[1].provider_id != found[11].provider_id
    assert [found[i].found for i in (12, 13, 14, 15)] == [False] * 4


def test_lookup_errors_are_not_evidence(emu: Emulators) -> None:
    channel, _ = open_channel(emu, block={"auth_token": "wrong"})
    [evidence] = channel.lookup([PendingIntent(1, "sms", "+14155550001", "x", now_naive())])
    assert evidence.found is None


def test_full_sender_queue_is_retry_later(emu: Emulators) -> None:
    # 21611 (the sender's queue at Twilio is full) cannot be injected in the emulator: a client
    # whose create() raises what the SDK raises for it.
    from twilio.base.exceptions import TwilioRestException

    class Messages:
        def create(self, **kwargs: Any) -> None:
            raise TwilioRestException(400, "uri", "Queue is full", code=21611, method="POST")

    class FullQueue:
        messages = Messages()

    block = twilio_block(emu)
    channel = TwilioChannel(block, client=FullQueue(), sleep=lambda s: None)  # type: ignore[arg-type]
    [outcome] = channel.send_batch([sms(1)])
    assert (outcome.status, outcome.retry_after) == ("retry", 600.0)
    assert outcome.error == "twilio 21611: Queue is full"


def test_channels_of_one_sender_share_its_pace(emu: Emulators) -> None:
    first = TwilioChannel(twilio_block(emu, messages_per_second=7.0))
    second = TwilioChannel(twilio_block(emu, messages_per_second=7.0))
    other_sender = TwilioChannel(
        twilio_block(emu, messages_per_second=7.0, from_number="+14155550111")
    )
    assert first.bucket("sms") is second.bucket("sms")
    assert first.bucket("sms") is not other_sender.bucket("sms")
    assert first.bucket("sms") is not first.bucket("whatsapp")
    paced_by_test = TwilioChannel(twilio_block(emu, messages_per_second=7.0), sleep=lambda s: None)
    assert paced_by_test.bucket("sms") is not first.bucket("sms")  # an injected clock: private
