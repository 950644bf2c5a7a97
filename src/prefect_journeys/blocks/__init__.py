"""Prefect Blocks holding provider credentials for the journey channels.

Registered through the ``prefect.collections`` entry point, so the three block types appear in
the Prefect UI once the package is installed (``prefect block register -m
prefect_journeys.blocks`` registers them with a server explicitly). Importing this module stays
cheap: the provider SDKs are imported only by ``get_client()``.
"""

from prefect_journeys.blocks.sendgrid import SendGridCredentials
from prefect_journeys.blocks.twilio import TwilioCredentials
from prefect_journeys.blocks.webhook import WebhookCredentials

__all__ = ["SendGridCredentials", "TwilioCredentials", "WebhookCredentials"]
