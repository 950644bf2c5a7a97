"""Helpers for connector tests: credentials for the emulator, validated block copies, fake sleep."""

from __future__ import annotations

import time
from typing import Any, TypeVar

from prefect.blocks.core import Block

from prefect_journeys.blocks import TwilioCredentials
from prefect_journeys.emulators import Emulators

SERVICE_SID = "MG" + "a1" * 16
B = TypeVar("B", bound=Block)


def changed(block: B, **changes: Any) -> B:
    """A validated copy of ``block`` with ``changes`` (``model_copy`` would skip validation)."""
    return type(block)(**{**block.model_dump(exclude={"block_type_slug"}), **changes})


def twilio_block(emu: Emulators, **fields: Any) -> TwilioCredentials:
    values: dict[str, Any] = {
        "account_sid": emu.twilio_account_sid,
        "auth_token": emu.twilio_auth_token,
        "from_number": "+14155550100",
        "whatsapp_from": "+14155550199",
        "base_url": emu.url,
        "messages_per_second": 1000.0,
        "timeout_seconds": 2.0,
    }
    values.update(fields)
    return TwilioCredentials(**values)


class Sleeps:
    """A fake sleep recording (wall time at the call, seconds)."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append((time.time(), seconds))

    @property
    def waits(self) -> list[float]:
        return [seconds for _, seconds in self.calls]
