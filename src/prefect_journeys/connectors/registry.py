"""Opening a channel from a sender reference: ``outbox``, ``<provider>`` or ``<provider>/<block>``.

``twilio`` alone takes its credentials from environment variables (``TwilioCredentials.from_env``);
``twilio/marketing-sms`` loads the saved Prefect block named ``marketing-sms``. Every problem is a
:class:`ChannelConfigError` with a message that says what to do.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from prefect_journeys.connectors.base import Channel, ChannelConfigError

# provider → the channels it can send
PROVIDERS: dict[str, tuple[str, ...]] = {
    "outbox": ("email", "sms", "whatsapp", "webhook"),
    "sendgrid": ("email",),
    "twilio": ("sms", "whatsapp"),
    "webhook": ("webhook",),
}
BLOCK_SLUGS = {
    "sendgrid": "journeys-sendgrid-credentials",
    "twilio": "journeys-twilio-credentials",
    "webhook": "journeys-webhook-credentials",
}
_BLOCK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def parse_sender_ref(ref: str) -> tuple[str, str | None]:
    """``"twilio/marketing-sms"`` → ``("twilio", "marketing-sms")``; ``"sendgrid"`` →
    ``("sendgrid", None)``. No Prefect needed: usable when validating a journey."""
    text = ref.strip() if isinstance(ref, str) else ""
    if not text:
        raise ChannelConfigError(
            "empty sender reference: use outbox, <provider> or <provider>/<block>"
        )
    provider, _, block = text.partition("/")
    provider = provider.strip().lower()
    if provider not in PROVIDERS:
        raise ChannelConfigError(
            f"unknown sender provider {provider!r} in {text!r}: valid providers are "
            + ", ".join(sorted(PROVIDERS))
        )
    if not _:
        return provider, None
    block = block.strip()
    if provider == "outbox":
        raise ChannelConfigError(f"the outbox takes no block name: use 'outbox', not {text!r}")
    if not _BLOCK_NAME.match(block):
        raise ChannelConfigError(
            f"invalid block name {block!r} in sender {text!r}: Prefect block names are lowercase "
            "letters, digits and dashes"
        )
    return provider, block


def check_channel(provider: str, channel: str) -> None:
    if channel not in PROVIDERS[provider]:
        raise ChannelConfigError(
            f"{provider} cannot send {channel} messages (it sends "
            + ", ".join(PROVIDERS[provider])
            + ")"
        )


def open_channel(
    ref: str,
    channel: str,
    *,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> Channel:
    """The channel that sends ``channel`` messages for sender ``ref``.

    ``options`` go to the connector's constructor (``sleep``, ``max_retries``, ``max_wait``, …);
    ``environ`` replaces ``os.environ`` for ``<provider>`` references.
    """
    provider, block_name = parse_sender_ref(ref)
    check_channel(provider, channel)
    if provider == "outbox":
        from prefect_journeys.connectors.outbox import OutboxChannel

        return OutboxChannel()
    credentials = _credentials(provider, block_name, os.environ if environ is None else environ)
    if provider == "sendgrid":
        from prefect_journeys.connectors.sendgrid import SendGridChannel

        return SendGridChannel(credentials, **options)
    if provider == "twilio":
        from prefect_journeys.connectors.twilio import TwilioChannel

        return TwilioChannel(credentials, channel=channel, **options)
    from prefect_journeys.connectors.webhook import WebhookChannel

    return WebhookChannel(credentials, **options)


def _block_class(provider: str) -> Any:
    from prefect_journeys.blocks import SendGridCredentials, TwilioCredentials, WebhookCredentials

    return {
        "sendgrid": SendGridCredentials,
        "twilio": TwilioCredentials,
        "webhook": WebhookCredentials,
    }[provider]


def _credentials(provider: str, block_name: str | None, environ: Mapping[str, str]) -> Any:
    cls = _block_class(provider)
    if block_name is None:
        return cls.from_env(environ)
    slug = BLOCK_SLUGS[provider]
    try:
        return cls.load(block_name)
    except ValueError as exc:
        if "Unable to find block document" in str(exc) or "not found" in str(exc).lower():
            raise ChannelConfigError(
                f"no {slug} block named {block_name!r}: create it in the Prefect UI (Blocks → "
                f"+, after `prefect block register -m prefect_journeys.blocks`) or in Python "
                f"with {cls.__name__}(...).save({block_name!r})"
            ) from None
        raise ChannelConfigError(
            f"the {slug} block {block_name!r} cannot be used: {_first_line(exc)}"
        ) from None
    except Exception as exc:  # the Prefect API is unreachable, or the block is unreadable
        raise ChannelConfigError(
            f"cannot load the {slug} block {block_name!r} from the Prefect API: "
            f"{type(exc).__name__}: {_first_line(exc)}"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
