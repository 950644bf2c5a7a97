"""Outgoing webhook credentials (webhook channel)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from prefect.blocks.core import Block
from pydantic import Field, HttpUrl, SecretStr, field_validator

from prefect_journeys.blocks._env import from_environ
from prefect_journeys.blocks._validation import check_url

if TYPE_CHECKING:
    import httpx


class WebhookCredentials(Block):
    """Where journey webhook messages are POSTed, and the secret that signs them.

    Every request carries ``X-Journeys-Timestamp``, ``X-Journeys-Signature: v1=<hex
    HMAC-SHA256(secret, "<timestamp>.<body>")>`` and ``Idempotency-Key: <intent id>``; receivers
    check it with ``prefect_journeys.connectors.webhook.verify_signature``.

    Example:
        Load a saved block and open the webhook channel:
        ```python
        from prefect_journeys.blocks import WebhookCredentials
        from prefect_journeys.connectors.webhook import WebhookChannel

        credentials = WebhookCredentials.load("BLOCK_NAME")
        channel = WebhookChannel(credentials)
        ```
    """

    _block_type_name = "Journeys Webhook Credentials"
    _block_type_slug = "journeys-webhook-credentials"
    _logo_url = HttpUrl(
        "https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/webhook.png"
    )
    _documentation_url = HttpUrl("https://en.wikipedia.org/wiki/HMAC")
    _description = (
        "Target URL and signing secret for the outgoing webhook channel of prefect-journeys."
    )
    _code_example: ClassVar[str] = """
        from prefect_journeys.blocks import WebhookCredentials

        credentials = WebhookCredentials.load("BLOCK_NAME")
        client = credentials.get_client()  # httpx.Client
    """

    url: str = Field(
        default=...,
        title="URL",
        description="The URL journey messages are POSTed to.",
        examples=["https://hooks.example.com/journeys"],
    )
    secret: SecretStr = Field(
        default=..., description="Shared secret used to HMAC-sign every request body."
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Seconds to wait for each response."
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        checked = check_url(value)
        assert checked is not None
        return checked

    def get_client(self) -> httpx.Client:
        """An ``httpx.Client`` with this block's timeout that never follows redirects."""
        import httpx

        return httpx.Client(timeout=self.timeout_seconds, follow_redirects=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> WebhookCredentials:
        """From JOURNEYS_WEBHOOK_URL and JOURNEYS_WEBHOOK_SECRET (both required)."""
        return from_environ(
            cls,
            environ,
            {"url": "JOURNEYS_WEBHOOK_URL", "secret": "JOURNEYS_WEBHOOK_SECRET"},
            ("url", "secret"),
            what="Webhook",
        )
