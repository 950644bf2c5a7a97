"""What can be changed while the emulators run (``EmulatorControl.configure``), and its checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_SENDGRID_API_KEY = "SG.emulator.key"
# Fixed, so a config written against one run works against the next; they unlock nothing real.
DEFAULT_TWILIO_ACCOUNT_SID = "AC" + "e1" * 16
DEFAULT_TWILIO_AUTH_TOKEN = "7e" * 16
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


class ConfigError(ValueError):
    """A setting out of range; the message names the setting."""


@dataclass
class EmulatorConfig:
    sendgrid_events_url: str | None = None  # where SendGrid events are POSTed; None: no events
    open_rate: float = 0.0  # share of delivered emails that get an open event
    click_rate: float = 0.0  # share that get a click (clicks are among the opens)
    callback_delay: float = 0.0  # seconds between acceptance and the first webhook

    def update(self, **changes: Any) -> None:
        """Apply the changes that are not None (an empty events URL turns events off)."""
        checked = {name: check_setting(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            if value is not None:
                setattr(self, name, value)
        if changes.get("sendgrid_events_url") == "":
            self.sendgrid_events_url = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "sendgrid_events_url": self.sendgrid_events_url,
            "open_rate": self.open_rate,
            "click_rate": self.click_rate,
            "callback_delay": self.callback_delay,
        }


def check_url(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http(s) URL with a host, e.g. http://127.0.0.1:9000/")
    return value


def check_rate(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"{name} must be a number from 0 to 1")
    return float(value)


def check_setting(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "sendgrid_events_url":
        return None if value == "" else check_url(value, name)
    if name in ("open_rate", "click_rate"):
        return check_rate(value, name)
    if name == "callback_delay":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError("callback_delay must be a number of seconds, 0 or more")
        return float(value)
    raise ConfigError(f"unknown setting {name!r}")
