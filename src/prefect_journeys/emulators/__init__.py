"""Local HTTP emulators of the SendGrid Mail Send API and the Twilio Messages API.

``Emulators`` runs one server answering as both providers (plus a control API under
``/_emulator/``); ``EmulatorControl`` drives one from any process. The SDK helpers are in
:mod:`prefect_journeys.emulators.sdk`. Names are loaded on first use so that importing the SDK
helpers does not start loading the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect_journeys.emulators.control import EmulatorControl
    from prefect_journeys.emulators.runtime import Emulators

__all__ = ["EmulatorControl", "Emulators"]


def __getattr__(name: str) -> Any:
    if name == "Emulators":
        from prefect_journeys.emulators.runtime import Emulators

        return Emulators
    if name == "EmulatorControl":
        from prefect_journeys.emulators.control import EmulatorControl

        return EmulatorControl
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
