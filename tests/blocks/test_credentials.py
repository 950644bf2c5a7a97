"""Credentials blocks: validation, environment variables, clients, and secrets kept secret."""

from __future__ import annotations

import logging

import httpx
import pytest
from sendgrid import SendGridAPIClient
from twilio.rest import Client

from prefect_journeys.blocks import SendGridCredentials, TwilioCredentials, WebhookCredentials
from prefect_journeys.connectors.base import ChannelConfigError
from prefect_journeys.emulators.sdk import RebasedTwilioHttpClient, rebase

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "tok-SECRET-7f3a9c"
SG_KEY = "SG.SECRET-key-5d1e"
HOOK_SECRET = "whsec-SECRET-99"
SERVICE = "MG" + "fedcba9876543210" * 2


def twilio(**fields: object) -> TwilioCredentials:
    return TwilioCredentials(account_sid=SID, auth_token=TOKEN, **fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------- from_env


def test_sendgrid_from_env_reads_every_variable() -> None:
    block = SendGridCredentials.from_env(
        {
            "SENDGRID_API_KEY": SG_KEY,
            "SENDGRID_FROM_EMAIL": "news@example.com",
            "SENDGRID_FROM_NAME": "Example News",
            "SENDGRID_HOST": "http://127.0.0.1:9/",
            "SENDGRID_SANDBOX": "true",
        }
    )
    assert block.api_key.get_secret_value() == SG_KEY
    assert (block.from_email, block.from_name) == ("news@example.com", "Example News")
    assert block.host == "http://127.0.0.1:9"  # trailing slash dropped: the SDK appends /v3
    assert block.sandbox_mode is True


def test_missing_variables_are_named_in_one_error() -> None:
    with pytest.raises(ChannelConfigError) as err:
        SendGridCredentials.from_env({"SENDGRID_FROM_NAME": "x"})
    assert "SENDGRID_API_KEY" in str(err.value) and "SENDGRID_FROM_EMAIL" in str(err.value)
    with pytest.raises(ChannelConfigError) as err:
        TwilioCredentials.from_env({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "  "})
    assert "TWILIO_AUTH_TOKEN" in str(err.value) and "TWILIO_ACCOUNT_SID" not in str(err.value)
    with pytest.raises(ChannelConfigError) as err:
        WebhookCredentials.from_env({})
    assert "JOURNEYS_WEBHOOK_URL" in str(err.value) and "JOURNEYS_WEBHOOK_SECRET" in str(err.value)


def test_invalid_variables_are_named_without_their_values() -> None:
    bad_service = "MG-not-a-sid-4471"
    bad_number = "0044 7700 900123"
    with pytest.raises(ChannelConfigError) as err:
        TwilioCredentials.from_env(
            {
                "TWILIO_ACCOUNT_SID": SID,
                "TWILIO_AUTH_TOKEN": TOKEN,
                "TWILIO_MESSAGING_SERVICE_SID": bad_service,
                "TWILIO_FROM_NUMBER": bad_number,
                "TWILIO_MESSAGES_PER_SECOND": "-3",
            }
        )
    text = str(err.value)
    assert "TWILIO_MESSAGING_SERVICE_SID" in text and "MG followed by 32 hex digits" in text
    assert "TWILIO_FROM_NUMBER" in text and "E.164" in text
    assert "TWILIO_MESSAGES_PER_SECOND" in text
    for value in (bad_service, bad_number, TOKEN, SID):
        assert value not in text


def test_twilio_from_env_full() -> None:
    block = TwilioCredentials.from_env(
        {
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_FROM_NUMBER": "+14155550100",
            "TWILIO_WHATSAPP_FROM": "whatsapp:+14155550101",
            "TWILIO_BASE_URL": "http://127.0.0.1:9",
            "TWILIO_STATUS_CALLBACK_URL": "https://hooks.example.com/twilio?src=j",
            "TWILIO_MESSAGES_PER_SECOND": "25",
        }
    )
    assert block.whatsapp_from == "+14155550101"  # the whatsapp: prefix is ours to add
    assert block.messages_per_second == 25.0
    assert block.status_callback_url == "https://hooks.example.com/twilio?src=j"


# ---------------------------------------------------------------- Twilio senders


@pytest.mark.parametrize(
    ("fields", "channel", "rate"),
    [
        ({"messaging_service_sid": SERVICE, "from_number": "+14155550100"}, "sms", 10.0),
        ({"from_number": "55555"}, "sms", 100.0),
        ({"from_number": "+18005550199"}, "sms", 3.0),  # US toll-free
        ({"from_number": "+14155550100"}, "sms", 1.0),  # long code
        ({"whatsapp_from": "+14155550100"}, "whatsapp", 80.0),
        ({"from_number": "+14155550100", "messages_per_second": 7.5}, "sms", 7.5),
    ],
)
def test_default_rate_depends_on_the_sender(
    fields: dict[str, object], channel: str, rate: float
) -> None:
    assert twilio(**fields).rate_for(channel) == rate


def test_a_channel_without_its_sender_is_refused_when_opened() -> None:
    sms_only = twilio(from_number="+14155550100")
    sms_only.check_sender("sms")
    with pytest.raises(ChannelConfigError, match=r"WhatsApp needs a sender.*TWILIO_WHATSAPP_FROM"):
        sms_only.check_sender("whatsapp")
    with pytest.raises(ChannelConfigError, match="messaging_service_sid or from_number"):
        twilio(whatsapp_from="+14155550100").check_sender("sms")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("messaging_service_sid", "MG123"),
        ("messaging_service_sid", "PN" + "0" * 32),
        ("from_number", "4155550100"),  # no country code
        ("from_number", "+1 415 555 0100"),  # not E.164 as written
        ("from_number", "+12"),
        ("whatsapp_from", "+99912345"),
    ],
)
def test_invalid_sender_ids_are_rejected(field: str, value: str) -> None:
    with pytest.raises(ValueError):
        twilio(**{field: value})


def test_account_sid_is_checked() -> None:
    with pytest.raises(ValueError, match="account SID"):
        TwilioCredentials(account_sid="AC123", auth_token=TOKEN)  # type: ignore[arg-type]


# ---------------------------------------------------------------- clients


def test_sendgrid_client_honours_host_and_timeout() -> None:
    block = SendGridCredentials(
        api_key=SG_KEY,  # type: ignore[arg-type]
        from_email="news@example.com",
        host="http://127.0.0.1:9",
        timeout_seconds=3,
    )
    client = block.get_client()
    assert isinstance(client, SendGridAPIClient)
    assert client.client.host == "http://127.0.0.1:9"
    assert client.client.mail.send._build_url(None) == "http://127.0.0.1:9/v3/mail/send"
    assert client.client.mail.send.timeout == 3
    default = SendGridCredentials(api_key=SG_KEY, from_email="a@example.com")  # type: ignore[arg-type]
    assert default.get_client().client.host == "https://api.sendgrid.com"


def test_twilio_client_points_at_base_url() -> None:
    block = twilio(from_number="+14155550100", base_url="http://127.0.0.1:9/tw", concurrency=6)
    client = block.get_client()
    assert isinstance(client, Client)
    assert isinstance(client.http_client, RebasedTwilioHttpClient)
    assert client.http_client.base_url == "http://127.0.0.1:9/tw"
    assert client.http_client.timeout == 10.0
    assert client.account_sid == SID
    url = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json?PageSize=5"
    assert rebase(url, client.http_client.base_url) == (
        f"http://127.0.0.1:9/tw/2010-04-01/Accounts/{SID}/Messages.json?PageSize=5"
    )
    real = twilio(from_number="+14155550100").get_client()
    assert real.http_client.base_url is None  # type: ignore[attr-defined]


def test_webhook_client_is_httpx_with_the_timeout() -> None:
    block = WebhookCredentials(
        url="http://127.0.0.1:9/hook", secret=HOOK_SECRET, timeout_seconds=2.5
    )  # type: ignore[arg-type]
    with block.get_client() as client:
        assert isinstance(client, httpx.Client)
        assert client.timeout.read == 2.5
        assert client.follow_redirects is False
    with pytest.raises(ValueError, match="http"):
        WebhookCredentials(url="ftp://example.com", secret=HOOK_SECRET)  # type: ignore[arg-type]


# ---------------------------------------------------------------- secrets stay secret


def test_secrets_never_appear_in_repr_str_dump_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    blocks = [
        SendGridCredentials(api_key=SG_KEY, from_email="news@example.com"),  # type: ignore[arg-type]
        twilio(from_number="+14155550100"),
        WebhookCredentials(url="http://127.0.0.1:9/hook", secret=HOOK_SECRET),  # type: ignore[arg-type]
    ]
    for block in blocks:
        logging.getLogger("test.blocks").debug("block %s / %r", block, block)
        block.get_client()
        texts = [
            repr(block),
            str(block),
            block.model_dump_json(),
            str(block.model_dump()),
            caplog.text,
        ]
        for text in texts:
            for secret in (SG_KEY, TOKEN, HOOK_SECRET):
                assert secret not in text
    # the values are still there for the SDKs
    assert blocks[0].api_key.get_secret_value() == SG_KEY  # type: ignore[attr-defined]
    assert "**********" in repr(blocks[1])


def test_base_urls_lose_trailing_slashes_callback_urls_keep_them() -> None:
    block = twilio(
        base_url="http://127.0.0.1:9/tw/", status_callback_url=" https://x.example.com/cb/ "
    )
    assert block.base_url == "http://127.0.0.1:9/tw"  # the SDK appends /2010-04-01/…
    assert block.status_callback_url == "https://x.example.com/cb/"  # the receiver's route
    hook = WebhookCredentials(url="https://x.example.com/in/", secret=HOOK_SECRET)  # type: ignore[arg-type]
    assert hook.url == "https://x.example.com/in/"
