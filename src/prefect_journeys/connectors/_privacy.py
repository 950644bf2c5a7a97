"""Keeping personal data and secrets out of errors and logs.

Provider error messages echo what they were sent ("The 'To' number +14155550100 is not a valid
phone number"), and the SDKs log request payloads, headers and query strings at DEBUG/INFO.
:func:`redact` scrubs addresses and phone numbers from any text we keep; :func:`quiet_sdk_logs`
installs filters on the two SDK loggers that would otherwise print them.
"""

from __future__ import annotations

import logging
import re
import threading

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
# "+" and digits (maybe with separators, maybe with whatsapp:), or a bare run of 7–15 digits
_PHONE = re.compile(r"(?:whatsapp:)?\+\d[\d\s().-]{5,}\d|\b\d{7,15}\b")
_MAX_ERROR = 300


def redact(text: str) -> str:
    """``text`` with email addresses and phone numbers replaced, shortened to 300 characters."""
    text = _EMAIL.sub("<address>", text)
    text = _PHONE.sub("<number>", text)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"


class _DropFilter(logging.Filter):
    """Drops every record of a logger that only ever logs request/response dumps."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


class _RedactQueryFilter(logging.Filter):
    """urllib3 logs ``"GET /path?To=%2B1415… HTTP/1.1" 200``: drop the query string of those."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(
                a.split("?", 1)[0] + "?<redacted>" if isinstance(a, str) and "?" in a else a
                for a in record.args
            )
        return True


_installed = False
_install_lock = threading.Lock()


def quiet_sdk_logs() -> None:
    """Install (once) the log filters that keep keys and recipients out of SDK logs.

    - ``python_http_client.client`` (SendGrid SDK) logs every request's headers (with the
      ``Authorization: Bearer`` API key), payload (addresses) and response body at DEBUG:
      its records are dropped.
    - ``urllib3.connectionpool`` (under Twilio's ``requests``) logs request lines at DEBUG,
      including query strings such as ``To=+14155550100`` of a message lookup: the query string
      is replaced.
    - Twilio's own request logger is replaced per client (see ``blocks._twilio_http``).
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        logging.getLogger("python_http_client.client").addFilter(_DropFilter())
        logging.getLogger("python_http_client").addFilter(_DropFilter())
        logging.getLogger("urllib3.connectionpool").addFilter(_RedactQueryFilter())
        _installed = True
