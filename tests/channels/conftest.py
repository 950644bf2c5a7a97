"""Journeys dispatching through the real SDKs to the local provider emulators."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from prefect_journeys.emulators import Emulators

FROM_NUMBER = "+15005550006"


@pytest.fixture(scope="session")
def emulators() -> Iterator[Emulators]:
    with Emulators(port=0) as emu:
        yield emu


@pytest.fixture
def emu(emulators: Emulators, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulators]:
    """A clean emulator, and the environment the ``sendgrid``/``twilio`` senders read."""
    emulators.control.reset()
    env = {
        "SENDGRID_API_KEY": emulators.sendgrid_api_key,
        "SENDGRID_HOST": emulators.url,
        "SENDGRID_FROM_EMAIL": "news@shop.example",
        "TWILIO_ACCOUNT_SID": emulators.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": emulators.twilio_auth_token,
        "TWILIO_BASE_URL": emulators.url,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_WHATSAPP_FROM": FROM_NUMBER,
        "TWILIO_MESSAGES_PER_SECOND": "500",
        "JOURNEYS_SIGNING_KEY": "test-signing-key",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("SENDGRID_SANDBOX", "TWILIO_MESSAGING_SERVICE_SID", "TWILIO_STATUS_CALLBACK_URL"):
        monkeypatch.delenv(name, raising=False)
    yield emulators
    emulators.control.clear_faults()
