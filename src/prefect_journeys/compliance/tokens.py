"""Opaque signed unsubscribe tokens: ``<intent id, base64url>.<HMAC-SHA256, 16 bytes>``.

The token names an intent (so the intake service knows the customer, channel and topic) and
carries no personal data. The key comes from ``JOURNEYS_SIGNING_KEY`` or, for local use, from
``.journeys/signing.key`` in the project, created on first use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from urllib.parse import quote

KEY_ENV = "JOURNEYS_SIGNING_KEY"


def signing_key(project_dir: Path | None = None) -> bytes:
    value = os.environ.get(KEY_ENV)
    if value:
        return value.encode()
    path = (project_dir or Path.cwd()) / ".journeys" / "signing.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip().encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, f"unsubscribe:{body}".encode(), hashlib.sha256).digest()[:16])


def make_token(key: bytes, intent_id: int) -> str:
    body = _b64(intent_id.to_bytes(8, "big"))
    return f"{body}.{_mac(key, body)}"


def read_token(key: bytes, token: str) -> int | None:
    """The intent id of a valid token, else None (tampered, truncated, another key)."""
    body, _, mac = token.strip().partition(".")
    if not body or not mac or not hmac.compare_digest(mac, _mac(key, body)):
        return None
    try:
        raw = _unb64(body)
    except ValueError:
        return None
    return int.from_bytes(raw, "big") if len(raw) == 8 else None


def unsubscribe_url(base: str, key: bytes, intent_id: int) -> str:
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}token={quote(make_token(key, intent_id))}"
