"""Twilio credentials (SMS and WhatsApp channels)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, Literal

from prefect.blocks.core import Block
from pydantic import Field, HttpUrl, SecretStr, field_validator

from prefect_journeys.blocks._env import from_environ
from prefect_journeys.blocks._validation import check_url
from prefect_journeys.connectors.base import ChannelConfigError

if TYPE_CHECKING:
    from twilio.rest import Client

SenderKind = Literal["messaging_service", "short_code", "toll_free", "long_code", "whatsapp"]

# Messages per second Twilio accepts for one sender before it queues or rejects (US defaults).
DEFAULT_RATES: dict[SenderKind, float] = {
    "short_code": 100.0,
    "toll_free": 3.0,
    "long_code": 1.0,
    "messaging_service": 10.0,
    "whatsapp": 80.0,
}

_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
_SHORT_CODE = re.compile(r"^\d{5,6}$")


def e164(value: str) -> str:
    """``value`` if it is a possible phone number written in E.164 (``+`` and digits), else
    ValueError. Possible, not valid: numbers from ranges reserved for fiction pass."""
    import phonenumbers

    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError("not an E.164 phone number (+ country code and digits)") from None
    formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if formatted != value or not phonenumbers.is_possible_number(parsed):
        raise ValueError("not an E.164 phone number (+ country code and digits)")
    return value


def _is_toll_free(number: str) -> bool:
    import phonenumbers

    parsed = phonenumbers.parse(number, None)
    return phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.TOLL_FREE


class TwilioCredentials(Block):
    """Credentials and senders for journey SMS and WhatsApp messages through Twilio.

    SMS goes from the messaging service when ``messaging_service_sid`` is set, else from
    ``from_number`` (E.164 long code or toll-free number, or a 5–6 digit short code); WhatsApp
    goes from ``whatsapp_from``. Messages are paced client-side at ``messages_per_second``; when
    it is empty, the default depends on the sender: short code 100/s, toll-free 3/s, long code
    1/s, messaging service 10/s, WhatsApp 80/s (Twilio's default account limits; raise them if
    your account has more).

    Example:
        Load a saved block and open the SMS channel:
        ```python
        from prefect_journeys.blocks import TwilioCredentials
        from prefect_journeys.connectors.twilio import TwilioChannel

        credentials = TwilioCredentials.load("BLOCK_NAME")
        channel = TwilioChannel(credentials, channel="sms")
        ```
    """

    _block_type_name = "Journeys Twilio Credentials"
    _block_type_slug = "journeys-twilio-credentials"
    _logo_url = HttpUrl(
        "https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/twilio.png"
    )
    _documentation_url = HttpUrl("https://www.twilio.com/docs/messaging/api/message-resource")
    _description = (
        "Twilio account credentials and senders for the SMS and WhatsApp channels of "
        "prefect-journeys."
    )
    _code_example: ClassVar[str] = """
        from prefect_journeys.blocks import TwilioCredentials

        credentials = TwilioCredentials.load("BLOCK_NAME")
        client = credentials.get_client()  # twilio.rest.Client
    """

    account_sid: str = Field(
        default=...,
        title="Account SID",
        description="The Twilio account SID (AC followed by 32 hex digits).",
    )
    auth_token: SecretStr = Field(
        default=..., description="The auth token of the account (or an API key secret)."
    )
    messaging_service_sid: str | None = Field(
        default=None,
        title="Messaging Service SID",
        description="SMS sender: a messaging service SID (MG followed by 32 hex digits).",
    )
    from_number: str | None = Field(
        default=None,
        description="SMS sender when there is no messaging service: E.164 number or short code.",
        examples=["+14155550100", "55555"],
    )
    whatsapp_from: str | None = Field(
        default=None,
        title="WhatsApp From",
        description="WhatsApp sender: the E.164 number of the WhatsApp sender.",
    )
    base_url: str | None = Field(
        default=None,
        description=(
            "Base URL of the Twilio API; empty means Twilio itself. "
            "Set it to a local emulator's URL for local runs."
        ),
    )
    status_callback_url: str | None = Field(
        default=None,
        description="URL Twilio posts delivery status to; intent_id=<id> is appended to it.",
    )
    messages_per_second: float | None = Field(
        default=None,
        gt=0,
        description="Client-side pacing; empty means the default of the sender type.",
    )
    concurrency: int = Field(
        default=4, ge=1, le=64, description="Requests in flight at once (threads)."
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Seconds to wait for each API response."
    )

    @field_validator("account_sid")
    @classmethod
    def _check_account_sid(cls, value: str) -> str:
        value = value.strip()
        if not _ACCOUNT_SID.match(value):
            raise ValueError("not a Twilio account SID (AC followed by 32 hex digits)")
        return value

    @field_validator("messaging_service_sid")
    @classmethod
    def _check_service_sid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not _SERVICE_SID.match(value):
            raise ValueError("not a messaging service SID (MG followed by 32 hex digits)")
        return value

    @field_validator("from_number")
    @classmethod
    def _check_from_number(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        return value if _SHORT_CODE.match(value) else e164(value)

    @field_validator("whatsapp_from")
    @classmethod
    def _check_whatsapp_from(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return e164(value.strip().removeprefix("whatsapp:"))

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        return check_url(value, base=True)

    @field_validator("status_callback_url")
    @classmethod
    def _check_callback_url(cls, value: str | None) -> str | None:
        return check_url(value)

    # ------------------------------------------------------------------ senders

    def check_sender(self, channel: str) -> None:
        """Raise :class:`ChannelConfigError` unless a sender for ``channel`` is configured."""
        if channel == "sms":
            if not (self.messaging_service_sid or self.from_number):
                raise ChannelConfigError(
                    "Twilio SMS needs a sender: set messaging_service_sid or from_number on the "
                    "block (TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER in the environment)"
                )
        elif channel == "whatsapp":
            if not self.whatsapp_from:
                raise ChannelConfigError(
                    "Twilio WhatsApp needs a sender: set whatsapp_from on the block "
                    "(TWILIO_WHATSAPP_FROM in the environment)"
                )
        else:
            raise ChannelConfigError(f"Twilio sends sms and whatsapp, not {channel!r}")

    def sender_kind(self, channel: str) -> SenderKind:
        self.check_sender(channel)
        if channel == "whatsapp":
            return "whatsapp"
        if self.messaging_service_sid:
            return "messaging_service"
        assert self.from_number is not None
        if _SHORT_CODE.match(self.from_number):
            return "short_code"
        return "toll_free" if _is_toll_free(self.from_number) else "long_code"

    def rate_for(self, channel: str) -> float:
        """Messages per second for ``channel``: the configured value or the sender default."""
        if self.messages_per_second is not None:
            return self.messages_per_second
        return DEFAULT_RATES[self.sender_kind(channel)]

    # ------------------------------------------------------------------ client

    def get_client(self) -> Client:
        """A ``twilio.rest.Client`` (pointed at ``base_url`` when set) that logs nothing and
        keeps each thread's last response (for ``Retry-After`` after a 429)."""
        from prefect_journeys.emulators.sdk import twilio_client

        return twilio_client(
            self.base_url,
            self.account_sid,
            self.auth_token.get_secret_value(),
            timeout=self.timeout_seconds,
            pool_size=self.concurrency,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TwilioCredentials:
        """From TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN (required), TWILIO_MESSAGING_SERVICE_SID,
        TWILIO_FROM_NUMBER, TWILIO_WHATSAPP_FROM, TWILIO_BASE_URL, TWILIO_STATUS_CALLBACK_URL
        and TWILIO_MESSAGES_PER_SECOND."""
        return from_environ(
            cls,
            environ,
            {
                "account_sid": "TWILIO_ACCOUNT_SID",
                "auth_token": "TWILIO_AUTH_TOKEN",
                "messaging_service_sid": "TWILIO_MESSAGING_SERVICE_SID",
                "from_number": "TWILIO_FROM_NUMBER",
                "whatsapp_from": "TWILIO_WHATSAPP_FROM",
                "base_url": "TWILIO_BASE_URL",
                "status_callback_url": "TWILIO_STATUS_CALLBACK_URL",
                "messages_per_second": "TWILIO_MESSAGES_PER_SECOND",
            },
            ("account_sid", "auth_token"),
            what="Twilio",
        )
