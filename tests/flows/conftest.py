"""Flow tests: the example journeys send through the local provider emulators."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _providers(emu: object) -> None:
    """The example journeys send through SendGrid and Twilio: here, the local emulators."""
