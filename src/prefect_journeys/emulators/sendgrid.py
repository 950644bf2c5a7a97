"""The SendGrid v3 emulator: Mail Send, Email Activity and the signed-webhook public key.

- ``POST /v3/mail/send`` (Bearer auth): validated like the real API (every problem listed, 400),
  413 over 30 MB; accepted: 202, empty body, ``X-Message-Id``; sandbox mode: 200, recorded with
  ``sandbox`` and no events. Accepted recipients get events when an events URL is configured.
- ``GET /v3/messages?query=…&limit=N``: see :mod:`prefect_journeys.emulators.sendgrid_activity`.
- ``GET /v3/user/webhooks/event/settings/signed``: ``{"enabled": true, "public_key": …}``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs

from prefect_journeys.emulators.callbacks import CallbackDispatcher
from prefect_journeys.emulators.common import (
    ProviderStats,
    Reply,
    Request,
    after_accept,
    dropped,
    json_reply,
)
from prefect_journeys.emulators.config import EmulatorConfig
from prefect_journeys.emulators.faults import POST_ACCEPT, PRE_ACCEPT, Fault, FaultBook
from prefect_journeys.emulators.sendgrid_activity import (
    ActivityIndex,
    QueryError,
    activity_entry,
    parse_query,
)
from prefect_journeys.emulators.sendgrid_checks import check_mail
from prefect_journeys.emulators.sendgrid_events import event_job, first_link
from prefect_journeys.emulators.sendgrid_records import SgMessage, records_for
from prefect_journeys.emulators.signing import EventSigner

SEND = "/v3/mail/send"
ACTIVITY = "/v3/messages"
PUBLIC_KEY = "/v3/user/webhooks/event/settings/signed"
RATE_LIMIT = 600  # what X-RateLimit-Limit says


def _error(status: int, message: str, *, help_null: bool = False, **extra: Any) -> Reply:
    entry: dict[str, Any] = {"field": None, "message": message}
    if help_null:
        entry["help"] = None
    return json_reply(status, {"errors": [entry]}, **extra)


def _recipients(body: Any) -> set[str]:
    found: set[str] = set()
    items = body.get("personalizations") if isinstance(body, dict) else None
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        for kind in ("to", "cc", "bcc"):
            entries = item.get(kind)
            for entry in entries if isinstance(entries, list) else ():
                if isinstance(entry, dict) and isinstance(entry.get("email"), str):
                    found.add(entry["email"].strip().lower())
    return found


def _sandbox(body: dict[str, Any]) -> bool:
    settings = body.get("mail_settings")
    mode = settings.get("sandbox_mode") if isinstance(settings, dict) else None
    return isinstance(mode, dict) and mode.get("enable") is True


class SendGridEmulator:
    def __init__(
        self,
        api_key: str,
        faults: FaultBook,
        callbacks: CallbackDispatcher,
        config: EmulatorConfig,
        signer: EventSigner,
    ) -> None:
        self.api_key = api_key
        self._auth = f"Bearer {api_key}"
        self._faults = faults
        self._callbacks = callbacks
        self._config = config
        self._signer = signer
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._messages: list[SgMessage] = []
        self._activity = ActivityIndex()
        self.stats = ProviderStats()

    # -- records (for the control API) --------------------------------------------------------
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self._messages)
        return [m.as_dict() for m in records]

    def reset(self) -> None:
        with self._lock:
            self._requests = []
            self._messages = []
            self._activity = ActivityIndex()
        self.stats.reset()

    # -- HTTP ---------------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        route = (request.method, request.path.rstrip("/"))
        if route == ("POST", SEND):
            return self._send(request)
        denied = self._denied(request)
        if route == ("GET", ACTIVITY):
            return denied or self._search(request)
        if route == ("GET", PUBLIC_KEY):
            return denied or json_reply(
                200, {"enabled": True, "public_key": self._signer.public_key}
            )
        return _error(404, "resource not found")

    def _denied(self, request: Request) -> Reply | None:
        header = request.header("Authorization")
        if header == self._auth:
            return None
        if not header:
            return _error(401, "authorization required", help_null=True)
        return _error(
            401,
            "The provided authorization grant is invalid, expired, or revoked",
            help_null=True,
        )

    def _send(self, request: Request) -> Reply:
        denied = self._denied(request)
        if denied:
            self.stats.bump("total", "rejected")
            return denied
        if request.too_large:
            self.stats.bump("total", "rejected")
            return _error(
                413,
                "The JSON payload you have included in your request is too large. "
                "Please limit your request to 30 MB.",
                help_null=True,
            )
        try:
            body = json.loads(request.body)
        except ValueError:
            self.stats.bump("total", "rejected")
            return _error(400, "Bad Request", help_null=True)
        fault = self._faults.take("sendgrid", PRE_ACCEPT, lambda: _recipients(body))
        if fault:
            self.stats.bump("total", "faulted")
            return _fault_reply(fault)
        problems = check_mail(body)
        if problems:
            self.stats.bump("total", "rejected")
            return json_reply(400, {"errors": problems})
        return self._accept(body)

    def _accept(self, body: dict[str, Any]) -> Reply:
        x_message_id = secrets.token_urlsafe(16)
        sandbox = _sandbox(body)
        records = records_for(body, x_message_id, sandbox, time.time())
        body["_message_id"] = x_message_id
        with self._lock:
            self._requests.append(body)
            self._messages.extend(records)
        config = self._config
        if not sandbox and config.sendgrid_events_url:
            job = event_job(
                records,
                config.sendgrid_events_url,
                self._signer,
                config.open_rate,
                config.click_rate,
                first_link(body),
            )
            self._callbacks.submit(job, config.callback_delay)
        reply = Reply(200 if sandbox else 202, headers=[("X-Message-Id", x_message_id)])
        reply.content_type = None
        fault = self._faults.take("sendgrid", POST_ACCEPT, lambda: _recipients(body))
        return after_accept(self.stats, reply, fault)

    def _search(self, request: Request) -> Reply:
        self.stats.bump("lookups")
        params = parse_qs(request.query)
        query = params.get("query", [""])[0]
        if not query:
            return json_reply(400, {"errors": [{"message": "query is required"}]})
        try:
            limit = int(params.get("limit", ["10"])[0])
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            return json_reply(
                400, {"errors": [{"message": "limit must be greater than 0 and at most 1000"}]}
            )
        try:
            terms = parse_query(query)
        except QueryError as exc:
            return json_reply(400, {"errors": [{"message": str(exc)}]})
        with self._lock:
            index, records = self._activity, self._messages
        index.catch_up(records)
        found = index.search(terms, limit)
        rates = self._config.open_rate, self._config.click_rate
        return json_reply(200, {"messages": [activity_entry(m, *rates) for m in found]})


def _fault_reply(fault: Fault) -> Reply:
    if fault.kind == "rate_limit":
        reset = int(time.time() + fault.retry_after + 0.999)
        headers = [
            ("X-RateLimit-Limit", str(RATE_LIMIT)),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", str(reset)),
        ]
        return _error(429, "too many requests", headers=headers)
    if fault.kind == "server_error":
        message = "Service Unavailable" if fault.status == 503 else "Internal Server Error"
        return _error(fault.status, message)
    return dropped()
