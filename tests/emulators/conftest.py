"""Fixtures: a started emulator per test, SDK clients pointed at it, a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sendgrid import SendGridAPIClient
from twilio.rest import Client

from prefect_journeys.emulators import EmulatorControl, Emulators
from prefect_journeys.emulators.sdk import sendgrid_client, twilio_client

from .openapi import specs
from .receiver import Receiver


@pytest.fixture
def emu() -> Iterator[Emulators]:
    """A running emulator; afterwards every request it accepted must fit the providers' OpenAPI."""
    with Emulators() as running:
        yield running
        described = specs()
        if described is not None:
            problems = described.accepted_request_errors(
                running.sendgrid.requests(), running.twilio.requests()
            )
            assert not problems, (
                "accepted requests outside the OpenAPI descriptions:\n" + "\n".join(problems[:20])
            )


@pytest.fixture
def ctl(emu: Emulators) -> EmulatorControl:
    return emu.control


@pytest.fixture
def sg(emu: Emulators) -> SendGridAPIClient:
    return sendgrid_client(emu.url, emu.sendgrid_api_key, timeout=5)


@pytest.fixture
def tw(emu: Emulators) -> Client:
    return twilio_client(emu.url, emu.twilio_account_sid, emu.twilio_auth_token, timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()
