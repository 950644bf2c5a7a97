"""Saved blocks on a real (temporary) Prefect server, opened through ``open_channel``."""

from __future__ import annotations

import pytest

from prefect_journeys.blocks import SendGridCredentials, TwilioCredentials, WebhookCredentials
from prefect_journeys.connectors.base import ChannelConfigError
from prefect_journeys.connectors.registry import open_channel
from prefect_journeys.connectors.sendgrid import SendGridChannel
from prefect_journeys.connectors.twilio import TwilioChannel
from prefect_journeys.connectors.webhook import WebhookChannel

pytestmark = pytest.mark.prefect

SID = "AC" + "5" * 32
TOKEN = "tok-SECRET-saved-41"


@pytest.fixture
def prefect_api(prefect_server: None) -> None:
    """The session's temporary Prefect server (see tests/conftest.py)."""


def test_saved_blocks_open_as_channels_with_their_secrets(prefect_api: None) -> None:
    SendGridCredentials(
        api_key="SG.SECRET-saved",
        from_email="news@example.com",
        host="http://127.0.0.1:9",  # type: ignore[arg-type]
    ).save("newsletter")
    TwilioCredentials(
        account_sid=SID,
        auth_token=TOKEN,
        from_number="+14155550100",
        messages_per_second=5,  # type: ignore[arg-type]
    ).save("marketing-sms")
    WebhookCredentials(url="http://127.0.0.1:9/hook", secret="whsec-saved").save("crm")  # type: ignore[arg-type]

    email = open_channel("sendgrid/newsletter", "email")
    sms = open_channel("twilio/marketing-sms", "sms")
    hook = open_channel("webhook/crm", "webhook")
    assert isinstance(email, SendGridChannel) and isinstance(sms, TwilioChannel)
    assert isinstance(hook, WebhookChannel)
    assert email.credentials.api_key.get_secret_value() == "SG.SECRET-saved"
    assert email.client.client.host == "http://127.0.0.1:9"
    assert sms.credentials.auth_token.get_secret_value() == TOKEN
    assert sms.bucket("sms").rate == 5
    assert hook.credentials.secret.get_secret_value() == "whsec-saved"


def test_missing_block_says_how_to_create_it(prefect_api: None) -> None:
    with pytest.raises(ChannelConfigError) as err:
        open_channel("twilio/no-such-block", "sms")
    text = str(err.value)
    assert "no journeys-twilio-credentials block named 'no-such-block'" in text
    assert "prefect block register -m prefect_journeys.blocks" in text
    assert "TwilioCredentials(...).save('no-such-block')" in text


def test_saved_block_without_the_channels_sender_is_refused(prefect_api: None) -> None:
    TwilioCredentials(account_sid=SID, auth_token=TOKEN, from_number="+14155550100").save(  # type: ignore[arg-type]
        "sms-only"
    )
    with pytest.raises(ChannelConfigError, match="WhatsApp needs a sender"):
        open_channel("twilio/sms-only", "whatsapp")
