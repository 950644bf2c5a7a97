"""The providers' SDK clients, pointed at a base URL (an emulator) or, with ``None``, at the provider.

SendGrid: ``SendGridAPIClient(api_key, host=url)`` is all it takes.

Twilio: the SDK builds absolute ``https://api.twilio.com/…`` URLs (and ``next_page_uri`` links are
made absolute the same way), so :func:`twilio_client` gives the client an HTTP client that rewrites
any ``https://*.twilio.com`` URL to the base URL, keeping path and query. Region and edge are
cleared for an emulator so ``TWILIO_REGION`` / ``TWILIO_EDGE`` cannot redirect it. The HTTP client
logs nothing (the SDK's own client logs query strings, i.e. phone numbers, at INFO) and keeps each
thread's last response, so a caller can read ``Retry-After`` after a ``TwilioRestException``.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from requests.adapters import HTTPAdapter
from sendgrid import SendGridAPIClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

SENDGRID_API = "https://api.sendgrid.com"
TWILIO_DOMAIN = "twilio.com"
DEFAULT_TIMEOUT = 10.0


def rebase(url: str, base_url: str | None) -> str:
    """``url`` with a ``*.twilio.com`` host moved onto ``base_url`` (unchanged when None)."""
    if base_url is None:
        return url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host != TWILIO_DOMAIN and not host.endswith("." + TWILIO_DOMAIN):
        return url
    base = urlsplit(base_url)
    path = base.path.rstrip("/") + parts.path
    return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))


class RebasedTwilioHttpClient(TwilioHttpClient):
    """A ``TwilioHttpClient`` that sends to ``base_url`` and remembers each thread's last response."""

    def __init__(
        self, base_url: str | None, timeout: float | None = DEFAULT_TIMEOUT, pool_size: int = 32
    ) -> None:
        super().__init__(pool_connections=True, timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None
        if self.session is not None:
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
            self.session.mount("http://", adapter)
            self.session.mount("https://", HTTPAdapter(pool_maxsize=pool_size))
        self._local = threading.local()

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        self._local.last = None
        response = super().request(
            method,
            rebase(url, self.base_url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        self._local.last = response
        return response

    def last_response(self) -> Response | None:
        """This thread's last response (status, text, headers), e.g. after a 429."""
        return getattr(self._local, "last", None)

    def log_request(self, kwargs: dict[str, Any]) -> None:
        """Nothing: request lines carry phone numbers."""

    def log_response(self, status_code: int, response: Any) -> None:
        """Nothing."""


def twilio_client(
    url: str | None,
    sid: str,
    token: str,
    timeout: float | None = DEFAULT_TIMEOUT,
    pool_size: int = 32,
) -> Client:
    """A Twilio REST client for the emulator at ``url``, or for Twilio itself when ``url`` is None."""
    client = Client(sid, token, http_client=RebasedTwilioHttpClient(url, timeout, pool_size))
    if url is not None:
        client.region = None
        client.edge = None
    return client


def sendgrid_client(
    url: str | None, api_key: str, timeout: float | None = DEFAULT_TIMEOUT
) -> SendGridAPIClient:
    """A SendGrid client for the emulator at ``url``, or for SendGrid itself when ``url`` is None."""
    client = SendGridAPIClient(api_key=api_key, host=(url or SENDGRID_API).rstrip("/"))
    client.client.timeout = timeout
    return client
