"""SendGrid credentials (email channel)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from prefect.blocks.core import Block
from pydantic import Field, HttpUrl, SecretStr, field_validator

from prefect_journeys.blocks._env import from_environ
from prefect_journeys.blocks._validation import check_url

if TYPE_CHECKING:
    from sendgrid import SendGridAPIClient

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class SendGridCredentials(Block):
    """Credentials and sender identity for sending journey emails with SendGrid.

    The API key needs the "Mail Send" permission (and "Email Activity" read access for
    reconciliation). Leave ``host`` empty for the real API; set it to a local emulator's URL to
    run journeys without sending anything.

    Example:
        Load a saved block and open the email channel:
        ```python
        from prefect_journeys.blocks import SendGridCredentials
        from prefect_journeys.connectors.sendgrid import SendGridChannel

        credentials = SendGridCredentials.load("BLOCK_NAME")
        channel = SendGridChannel(credentials)
        ```
    """

    _block_type_name = "Journeys SendGrid Credentials"
    _block_type_slug = "journeys-sendgrid-credentials"
    _logo_url = HttpUrl(
        "https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/email.png"
    )
    _documentation_url = HttpUrl(
        "https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send"
    )
    _description = "SendGrid API key and sender identity for the email channel of prefect-journeys."
    _code_example: ClassVar[str] = """
        from prefect_journeys.blocks import SendGridCredentials

        credentials = SendGridCredentials.load("BLOCK_NAME")
        client = credentials.get_client()  # sendgrid.SendGridAPIClient
    """

    api_key: SecretStr = Field(
        default=...,
        title="API Key",
        description="A SendGrid API key with the Mail Send permission.",
    )
    from_email: str = Field(
        default=...,
        description="The verified sender address emails are sent from.",
        examples=["news@example.com"],
    )
    from_name: str | None = Field(
        default=None, description="The display name shown with the sender address."
    )
    host: str | None = Field(
        default=None,
        description=(
            "Base URL of the SendGrid API; empty means https://api.sendgrid.com. "
            "Set it to a local emulator's URL for local runs."
        ),
    )
    sandbox_mode: bool = Field(
        default=False,
        description="Ask SendGrid to validate requests without delivering any email.",
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Seconds to wait for each API response."
    )

    @field_validator("from_email")
    @classmethod
    def _check_email(cls, value: str) -> str:
        value = value.strip()
        if not _EMAIL.match(value):
            raise ValueError("not an email address")
        return value

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str | None) -> str | None:
        return check_url(value, base=True)

    def get_client(self) -> SendGridAPIClient:
        """A ``sendgrid.SendGridAPIClient`` for ``host`` with this block's timeout."""
        from prefect_journeys.emulators.sdk import sendgrid_client

        return sendgrid_client(
            self.host, self.api_key.get_secret_value(), timeout=self.timeout_seconds
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SendGridCredentials:
        """From SENDGRID_API_KEY, SENDGRID_FROM_EMAIL (required), SENDGRID_FROM_NAME,
        SENDGRID_HOST and SENDGRID_SANDBOX (1/true/yes)."""
        return from_environ(
            cls,
            environ,
            {
                "api_key": "SENDGRID_API_KEY",
                "from_email": "SENDGRID_FROM_EMAIL",
                "from_name": "SENDGRID_FROM_NAME",
                "host": "SENDGRID_HOST",
                "sandbox_mode": "SENDGRID_SANDBOX",
            },
            ("api_key", "from_email"),
            what="SendGrid",
        )
