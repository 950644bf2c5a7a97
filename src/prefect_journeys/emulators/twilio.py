"""The Twilio Messages API emulator (2010-04-01), Basic auth ``AccountSid:AuthToken``.

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form): checked as in
  :mod:`~prefect_journeys.emulators.twilio_checks`; 201 with the message resource.
- ``GET …/Messages.json``: list (:mod:`~prefect_journeys.emulators.twilio_listing`).
- ``GET …/Messages/{Sid}.json``: fetch.

Errors: 401 code 20003 without valid credentials; 404 code 20404 for another account's path or
an unknown resource. Each accepted message with a ``StatusCallback`` gets signed POSTs ``sent``
then ``delivered`` (or ``undelivered``, ErrorCode 30003, for numbers ending in ``0000``).
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

from prefect_journeys.emulators.callbacks import Builder, CallbackDispatcher, Delivery
from prefect_journeys.emulators.common import (
    ProviderStats,
    Reply,
    Request,
    after_accept,
    dropped,
    hex_sid,
    json_reply,
    utc_now,
)
from prefect_journeys.emulators.config import EmulatorConfig
from prefect_journeys.emulators.faults import (
    AFTER_VALIDATION,
    PRE_ACCEPT,
    Fault,
    FaultBook,
    normalize_recipient,
)
from prefect_journeys.emulators.signing import TWILIO_SIGNATURE_HEADER, TwilioSigner
from prefect_journeys.emulators.twilio_checks import (
    WHATSAPP,
    TwilioError,
    check_create,
    num_segments,
)
from prefect_journeys.emulators.twilio_listing import ListError, MessageStore, list_page
from prefect_journeys.emulators.twilio_records import (
    API_VERSION,
    POOL_NUMBER,
    UNREACHABLE_CODE,
    TwilioMessage,
)

_SERVER_ERRORS = {
    500: (20500, "An internal server error has occurred"),
    502: (20502, "Bad Gateway"),
    503: (20503, "Service is unavailable. Please try connecting again"),
    504: (20504, "Gateway Timeout"),
}


def _error(error: TwilioError, headers: list[tuple[str, str]] | None = None) -> Reply:
    return json_reply(error.status, error.payload(), headers)


class TwilioEmulator:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        faults: FaultBook,
        callbacks: CallbackDispatcher,
        config: EmulatorConfig,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._auth = f"Basic {credentials}"
        self._faults = faults
        self._callbacks = callbacks
        self._config = config
        self.signer = TwilioSigner(auth_token)
        self._store = MessageStore()
        self.stats = ProviderStats()

    # -- records (for the control API) --------------------------------------------------------
    def messages(self) -> list[dict[str, Any]]:
        store = self._store
        with store.lock:
            records = list(store.messages)
        return [m.as_record() for m in records]

    def requests(self) -> list[dict[str, str | list[str]]]:
        """The form of every accepted create request (a field sent twice is a list)."""
        store = self._store
        with store.lock:
            forms = list(store.forms)
        return [{k: v[0] if len(v) == 1 else v for k, v in form.items()} for form in forms]

    def reset(self) -> None:
        self._store = MessageStore()
        self.stats.reset()

    # -- HTTP ---------------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        parts = request.path.split("/")  # "", "2010-04-01", "Accounts", sid, …
        is_create = request.method == "POST" and parts[4:] == ["Messages.json"]
        denied = self._denied(request)
        if denied:
            if is_create:
                self.stats.bump("total", "rejected")
            return denied
        if len(parts) < 5 or parts[2] != "Accounts" or parts[3] != self.account_sid:
            return self._not_found(request)
        if is_create:
            return self._create(request)
        if request.method == "GET" and parts[4:] == ["Messages.json"]:
            return self._list(request)
        if request.method == "GET" and len(parts) == 6 and parts[4] == "Messages":
            return self._fetch(request, parts[5].removesuffix(".json"))
        return self._not_found(request)

    def _denied(self, request: Request) -> Reply | None:
        header = request.header("Authorization")
        if header == self._auth:
            return None
        error = TwilioError(20003, "Authenticate", 401)
        return _error(error, [("WWW-Authenticate", 'Basic realm="Twilio API"')])

    def _not_found(self, request: Request) -> Reply:
        message = f"The requested resource {request.path} was not found"
        return _error(TwilioError(20404, message, 404))

    def _create(self, request: Request) -> Reply:
        if request.too_large:
            self.stats.bump("total", "rejected")
            return _error(TwilioError(20001, "Request body too large", 413))
        try:
            form = parse_qs(request.body.decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            form = {}
        to = (form.get("To") or [""])[0]

        def recipients() -> set[str]:
            return {normalize_recipient(to)}

        fault = self._faults.take("twilio", PRE_ACCEPT, recipients)
        if fault:
            self.stats.bump("total", "faulted")
            return _fault_reply(fault)
        error = check_create(form)
        if error:
            self.stats.bump("total", "rejected")
            return _error(error)
        fault = self._faults.take("twilio", AFTER_VALIDATION, recipients)
        if fault and fault.kind in ("opted_out", "invalid_number"):
            self.stats.bump("total", "rejected", "faulted")
            return _fault_reply(fault, to)
        message = self._record(form, to)
        reply = json_reply(201, message.resource(just_created=True))
        return after_accept(self.stats, reply, fault)

    def _record(self, form: dict[str, list[str]], to: str) -> TwilioMessage:
        sender = _first(form, "From")
        service = _first(form, "MessagingServiceSid")
        body = _first(form, "Body") or ""
        callback = _first(form, "StatusCallback")
        pool = (WHATSAPP + POOL_NUMBER) if to.startswith(WHATSAPP) else POOL_NUMBER
        delay = self._config.callback_delay
        store = self._store
        with store.lock:
            created = utc_now()
            message = TwilioMessage(
                sid=hex_sid("SM"),
                account_sid=self.account_sid,
                to=to,
                from_=sender or pool,
                from_given=sender,
                messaging_service_sid=service,
                body=body,
                media_urls=form.get("MediaUrl") or [],
                status_callback=callback,
                created=created,
                created_epoch=int(created.timestamp()),
                final_at=time.monotonic() + delay,
                num_segments=num_segments(body),
            )
            store.add(message, form)
        if callback:
            self._callbacks.submit(self._status_job(message, callback), delay)
        return message

    def _status_job(self, message: TwilioMessage, url: str) -> Builder:
        def build() -> list[Delivery]:
            out = []
            for status in ("sent", message.final_status):
                params = {
                    "MessageSid": message.sid,
                    "SmsSid": message.sid,
                    "AccountSid": message.account_sid,
                    "From": message.from_,
                    "To": message.to,
                    "MessageStatus": status,
                    "SmsStatus": status,
                    "ApiVersion": API_VERSION,
                }
                if message.messaging_service_sid:
                    params["MessagingServiceSid"] = message.messaging_service_sid
                if status == "undelivered":
                    params["ErrorCode"] = str(UNREACHABLE_CODE)
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "User-Agent": "TwilioProxy/1.1",
                    TWILIO_SIGNATURE_HEADER: self.signer.sign(url, params),
                }
                out.append(Delivery(url, urlencode(params).encode(), headers))
            return out

        return build

    def _list(self, request: Request) -> Reply:
        self.stats.bump("lookups")
        params = {k: v[0] for k, v in parse_qs(request.query, keep_blank_values=True).items()}
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        try:
            return json_reply(200, list_page(self._store, params, base))
        except ListError as exc:
            return _error(TwilioError(20001, str(exc)))

    def _fetch(self, request: Request, sid: str) -> Reply:
        self.stats.bump("lookups")
        message = self._store.get(sid)
        if message is None:
            return self._not_found(request)
        return json_reply(200, message.resource())

    # -- inbound ------------------------------------------------------------------------------
    def inbound_params(self, sender: str, to: str, body: str) -> dict[str, str]:
        """The form Twilio POSTs to a number's incoming-message webhook."""
        sid = hex_sid("SM")
        return {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": self.account_sid,
            "From": sender,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": str(num_segments(body)),
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        }


def _first(form: dict[str, list[str]], name: str) -> str | None:
    """The first value of a form field; None when absent or empty."""
    values = form.get(name)
    return values[0] or None if values else None


def _fault_reply(fault: Fault, to: str = "") -> Reply:
    if fault.kind == "rate_limit":
        error = TwilioError(20429, "Too Many Requests", 429)
        wait = fault.retry_after
        shown = str(int(wait)) if wait == int(wait) else str(wait)
        return _error(error, [("Retry-After", shown)])
    if fault.kind == "server_error":
        code, text = _SERVER_ERRORS[fault.status]
        return _error(TwilioError(code, text, fault.status))
    if fault.kind == "opted_out":
        return _error(TwilioError(21610, "Attempt to send to unsubscribed recipient"))
    if fault.kind == "invalid_number":
        return _error(TwilioError(21211, f"The 'To' number {to} is not a valid phone number."))
    return dropped()
