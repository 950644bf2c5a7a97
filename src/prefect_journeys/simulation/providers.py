"""Simulations and the demo send through the local provider emulators, never a real provider.

Whatever sender a journey names (``sendgrid``, ``twilio/prod``, …), a simulated tick opens the
same connector with the emulator's credentials: real SDKs, real HTTP, no account, and no way for a
simulated audience to reach a real inbox or phone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from prefect_journeys.connectors.base import Channel
from prefect_journeys.definition.model import parse_sender

if TYPE_CHECKING:
    from prefect_journeys.emulators import Emulators

SIM_FROM_EMAIL = "journeys@shop.example"
SIM_FROM_NUMBER = "+15005550006"  # Twilio's magic "valid sender" test number


def emulated_senders(
    emu: Emulators, messages_per_second: float = 500.0
) -> Callable[[str, str], Channel]:
    """A sender opener (see ``engine.dispatch.SenderOpener``) aimed at ``emu``."""
    from prefect_journeys.blocks import SendGridCredentials, TwilioCredentials
    from prefect_journeys.connectors.registry import open_channel
    from prefect_journeys.connectors.sendgrid import SendGridChannel
    from prefect_journeys.connectors.twilio import TwilioChannel

    sendgrid = SendGridCredentials(
        api_key=emu.sendgrid_api_key,
        from_email=SIM_FROM_EMAIL,
        from_name="Journeys demo",
        host=emu.url,
    )
    twilio = TwilioCredentials(
        account_sid=emu.twilio_account_sid,
        auth_token=emu.twilio_auth_token,
        from_number=SIM_FROM_NUMBER,
        whatsapp_from=SIM_FROM_NUMBER,
        base_url=emu.url,
        messages_per_second=messages_per_second,
    )
    cache: dict[str, Channel] = {}

    def open_emulated(ref: str, channel: str) -> Channel:
        provider, _ = parse_sender(ref)
        key = f"{provider}:{channel}"
        if key not in cache:
            if provider == "sendgrid":
                cache[key] = SendGridChannel(sendgrid)
            elif provider == "twilio":
                cache[key] = TwilioChannel(twilio, channel=channel)
            else:  # outbox, webhook: the local outbox (a simulated CRM has no endpoint)
                cache[key] = open_channel("outbox", channel)
        return cache[key]

    return open_emulated


@contextmanager
def emulated_providers() -> Iterator[tuple[Emulators, Callable[[str, str], Channel]]]:
    from prefect_journeys.emulators import Emulators

    with Emulators(port=0) as emu:
        yield emu, emulated_senders(emu)


def traffic(emu: Emulators) -> dict[str, Any]:
    """What the emulated providers received (for the demo's closing lines)."""
    seen = emu.control.requests_seen()
    return {
        "url": emu.url,
        "sendgrid_requests": seen.get("sendgrid", {}).get("accepted", 0),
        "emails": len(emu.control.sendgrid_messages()),
        "twilio_requests": seen.get("twilio", {}).get("accepted", 0),
        "texts": len(emu.control.twilio_messages()),
    }
