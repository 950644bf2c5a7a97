"""Connector-test fixtures. The emulator (``emulators``, session) and a clean one per test
(``emu``) come from ``tests/conftest.py``."""

from __future__ import annotations

import pytest

from prefect_journeys.blocks import SendGridCredentials
from prefect_journeys.emulators import Emulators


@pytest.fixture
def sendgrid_block(emu: Emulators) -> SendGridCredentials:
    return SendGridCredentials(
        api_key=emu.sendgrid_api_key,  # type: ignore[arg-type]
        from_email="news@example.com",
        from_name="Example News",
        host=emu.url,
        timeout_seconds=2.0,
    )
