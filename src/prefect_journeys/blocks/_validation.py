"""Field checks shared by the credentials blocks."""

from __future__ import annotations

import re

_URL = re.compile(r"^https?://[^/\s]+")


def check_url(value: str | None, *, base: bool = False) -> str | None:
    """``value`` without surrounding blanks; ValueError unless http(s). ``base``: an API base URL
    the SDK appends paths to, so trailing slashes go."""
    if value is None:
        return None
    value = value.strip()
    if base:
        value = value.rstrip("/")
    if not _URL.match(value):
        raise ValueError("must be an http:// or https:// URL")
    return value
