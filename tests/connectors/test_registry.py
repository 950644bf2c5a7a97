"""Opening channels from sender references: outbox, environment credentials, errors."""

from __future__ import annotations

import pytest

from prefect_journeys.connectors.base import ChannelConfigError, OutboundMessage
from prefect_journeys.connectors.outbox import OutboxChannel
from prefect_journeys.connectors.registry import open_channel, parse_sender_ref
from prefect_journeys.connectors.sendgrid import SendGridChannel
from prefect_journeys.connectors.twilio import TwilioChannel
from prefect_journeys.connectors.webhook import WebhookChannel
from prefect_journeys.emulators import Emulators


def test_parse_sender_ref() -> None:
    assert parse_sender_ref("outbox") == ("outbox", None)
    assert parse_sender_ref(" SendGrid ") == ("sendgrid", None)
    assert parse_sender_ref("twilio/marketing-sms") == ("twilio", "marketing-sms")
    assert parse_sender_ref("webhook/crm-hook") == ("webhook", "crm-hook")


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "empty sender reference"),
        (
            "mailgun",
            "unknown sender provider 'mailgun' in 'mailgun': valid providers are "
            "outbox, sendgrid, twilio, webhook",
        ),
        ("mailgun/x", "valid providers are outbox, sendgrid, twilio, webhook"),
        ("outbox/main", "the outbox takes no block name"),
        ("twilio/", "invalid block name ''"),
        ("twilio/Marketing SMS", "Prefect block names are lowercase letters, digits and dashes"),
    ],
)
def test_bad_references_say_what_is_wrong(ref: str, message: str) -> None:
    with pytest.raises(ChannelConfigError) as err:
        parse_sender_ref(ref)
    assert message in str(err.value)


@pytest.mark.parametrize("channel", ["email", "sms", "whatsapp", "webhook"])
def test_outbox_takes_every_channel(channel: str) -> None:
    assert isinstance(open_channel("outbox", channel), OutboxChannel)


@pytest.mark.parametrize(
    ("ref", "channel", "message"),
    [
        ("sendgrid", "sms", "sendgrid cannot send sms messages (it sends email)"),
        ("twilio", "email", "twilio cannot send email messages (it sends sms, whatsapp)"),
        ("webhook/crm", "email", "webhook cannot send email messages (it sends webhook)"),
    ],
)
def test_provider_must_fit_the_channel(ref: str, channel: str, message: str) -> None:
    with pytest.raises(ChannelConfigError) as err:
        open_channel(ref, channel, environ={})
    assert str(err.value) == message


def test_missing_environment_is_named() -> None:
    with pytest.raises(ChannelConfigError) as err:
        open_channel("twilio", "sms", environ={"TWILIO_FROM_NUMBER": "+14155550100"})
    assert "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN" in str(err.value)
    with pytest.raises(ChannelConfigError, match="JOURNEYS_WEBHOOK_SECRET"):
        open_channel("webhook", "webhook", environ={"JOURNEYS_WEBHOOK_URL": "http://127.0.0.1:9"})


def test_invalid_sender_and_missing_whatsapp_sender(emulators: Emulators) -> None:
    base = {
        "TWILIO_ACCOUNT_SID": emulators.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": emulators.twilio_auth_token,
    }
    with pytest.raises(ChannelConfigError) as err:
        open_channel("twilio", "sms", environ={**base, "TWILIO_MESSAGING_SERVICE_SID": "MG42"})
    assert "TWILIO_MESSAGING_SERVICE_SID: not a messaging service SID" in str(err.value)
    assert "MG42" not in str(err.value)
    with pytest.raises(ChannelConfigError, match="WhatsApp needs a sender"):
        open_channel("twilio", "whatsapp", environ={**base, "TWILIO_FROM_NUMBER": "+14155550100"})


def test_environment_channels_send_to_the_emulator(emu: Emulators) -> None:
    environ = {
        "SENDGRID_API_KEY": emu.sendgrid_api_key,
        "SENDGRID_FROM_EMAIL": "news@example.com",
        "SENDGRID_HOST": emu.url,
        "TWILIO_ACCOUNT_SID": emu.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": emu.twilio_auth_token,
        "TWILIO_WHATSAPP_FROM": "+14155550199",
        "TWILIO_BASE_URL": emu.url,
        "JOURNEYS_WEBHOOK_URL": "http://127.0.0.1:9/hook",
        "JOURNEYS_WEBHOOK_SECRET": "s3cret",
    }
    email = open_channel("sendgrid", "email", environ=environ, sleep=lambda s: None)
    whatsapp = open_channel("twilio", "whatsapp", environ=environ)
    assert isinstance(email, SendGridChannel) and isinstance(whatsapp, TwilioChannel)
    assert isinstance(open_channel("webhook", "webhook", environ=environ), WebhookChannel)
    [sent] = email.send_batch(
        [OutboundMessage(1, "email", "c1", "a@example.com", "Hi", "Hello", marketing=False)]
    )
    [chat] = whatsapp.send_batch([OutboundMessage(2, "whatsapp", "c2", "+14155550123", "Hi")])
    assert (sent.status, chat.status) == ("sent", "sent")
    assert [m["to"] for m in emu.control.twilio_messages()] == ["whatsapp:+14155550123"]
    assert whatsapp.bucket("whatsapp").rate == 80.0  # the WhatsApp default pace
