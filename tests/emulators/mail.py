"""Mail Send bodies for the tests."""

from __future__ import annotations

from typing import Any

TEMPLATE = "d-" + "0123456789abcdef" * 2


def mail(recipients: int = 1, **top: Any) -> dict[str, Any]:
    """A valid body with one personalization per recipient, each with an ``intent_id``."""
    body: dict[str, Any] = {
        "personalizations": [
            {"to": [{"email": f"user{i}@example.com"}], "custom_args": {"intent_id": str(i)}}
            for i in range(recipients)
        ],
        "from": {"email": "news@example.com", "name": "News"},
        "subject": "Welcome",
        "content": [
            {"type": "text/plain", "value": "Hello https://example.com/welcome"},
            {"type": "text/html", "value": "<p>Hello <a href='https://example.com/w'>x</a></p>"},
        ],
    }
    body.update(top)
    return body
