"""The Twilio SMS and WhatsApp channel: one Messages API request per message, paced.

A small thread pool (``concurrency``) shares one token bucket per channel at the sender's
messages-per-second, so a large audience is paced instead of rejected with 429s. Outcome mapping
in :meth:`TwilioChannel._send_one`.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from twilio.base.exceptions import TwilioRestException, TwilioServiceException

from prefect_journeys.blocks.twilio import e164
from prefect_journeys.connectors._privacy import quiet_sdk_logs, redact
from prefect_journeys.connectors.base import (
    ChannelConfigError,
    ChannelStats,
    Evidence,
    OutboundMessage,
    PendingIntent,
    SendOutcome,
)
from prefect_journeys.connectors.retry import (
    Backoff,
    Clock,
    Retrier,
    Sleep,
    TokenBucket,
    WaitBudget,
    classify_transport_error,
    retry_after_seconds,
)

if TYPE_CHECKING:
    from twilio.rest import Client

    from prefect_journeys.blocks.twilio import TwilioCredentials

MAX_BODY = 1600
SUPPRESS_CODES = {21610}  # the recipient replied STOP: never contact again on this sender
# invalid / unreachable numbers (21211 invalid To, 21614 not mobile, 21408 region not enabled,
# 21612 unreachable route): refused, not sent; like every other 4xx they end ``failed``
FAILED_CODES = {21211, 21614, 21408, 21612}
# 21611: the sender's queue is full (Twilio keeps ~4 h of messages per sender): refused, not queued
QUEUE_FULL_CODES = {21611}
QUEUE_FULL_WAIT = 600.0
CLOCK_SKEW = timedelta(seconds=60)
MAX_LISTED = 1000  # messages read per recipient in one lookup


@dataclass
class _Batch:
    """What the threads of one ``send_batch`` share."""

    budget: WaitBudget
    auth_error: str | None = None  # set by the first 401/403: the rest fail without a request


_shared_buckets: dict[tuple[str, str, str, float], TokenBucket] = {}
_shared_lock = threading.Lock()


def _sender_id(credentials: TwilioCredentials, channel: str) -> str:
    if channel == "whatsapp":
        return f"whatsapp:{credentials.whatsapp_from}"
    return credentials.messaging_service_sid or credentials.from_number or ""


def with_intent(url: str, intent_id: int) -> str:
    """``url`` with ``intent_id=<id>`` added to its query string."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("intent_id", str(intent_id))]
    return urlunsplit(parts._replace(query=urlencode(query)))


class TwilioChannel:
    """Sends ``sms`` and ``whatsapp`` messages through Twilio; looks intents up authoritatively.

    ``channel`` is the channel this sender was opened for: its sender must be configured
    (:class:`ChannelConfigError` otherwise). Messages of the other Twilio channel are sent too
    when the block has a sender for it, else they fail. Options: ``sleep`` (backoff and pacing),
    ``clock`` (pacing), ``max_retries``, ``max_wait`` (seconds of 429/refused waiting per batch),
    ``messages_per_second`` and ``concurrency`` (override the block), ``client``, ``rng``.
    """

    name = "twilio"
    transactional = False
    # The Messages list shows every accepted message at once: "not found" is conclusive.
    authoritative = True

    def __init__(
        self,
        credentials: TwilioCredentials,
        *,
        channel: str = "sms",
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        max_retries: int = 4,
        max_wait: float = 60.0,
        messages_per_second: float | None = None,
        concurrency: int | None = None,
        client: Client | None = None,
        rng: random.Random | None = None,
    ) -> None:
        credentials.check_sender(channel)
        quiet_sdk_logs()
        self.credentials = credentials
        self.channel = channel
        self.client = client or credentials.get_client()
        self.backoff = Backoff(
            max_retries=max_retries, max_wait=max_wait, sleep=sleep, rng=rng or random.Random()
        )
        self.concurrency = concurrency or credentials.concurrency
        self.messages_per_second = messages_per_second
        self.stats = ChannelStats()
        self._sleep = sleep
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, channel: str) -> TokenBucket:
        """The pacing bucket of ``channel``'s sender, shared by threads and batches.

        With the real clock it is also shared by every channel of this process sending from the
        same sender (two journey versions dispatching at once must not each get the full rate).
        """
        with self._lock:
            if channel not in self._buckets:
                rate = self.messages_per_second or self.credentials.rate_for(channel)
                if self._sleep is time.sleep and self._clock is time.monotonic:
                    key = (
                        self.credentials.base_url or "",
                        self.credentials.account_sid,
                        _sender_id(self.credentials, channel),
                        rate,
                    )
                    with _shared_lock:
                        shared = _shared_buckets.setdefault(key, TokenBucket(rate))
                    self._buckets[channel] = shared
                else:
                    self._buckets[channel] = TokenBucket(rate, clock=self._clock, sleep=self._sleep)
            return self._buckets[channel]

    # ------------------------------------------------------------------ sending

    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[SendOutcome]:
        batch = _Batch(self.backoff.budget())
        outcomes: list[SendOutcome | None] = [None] * len(messages)
        todo: list[tuple[int, OutboundMessage, dict[str, Any]]] = []
        for position, message in enumerate(messages):
            request = self._request(message)
            if isinstance(request, str):
                outcomes[position] = SendOutcome(message.intent_id, "failed", error=request)
            else:
                todo.append((position, message, request))
        if todo:
            workers = max(1, min(self.concurrency, len(todo)))
            with ThreadPoolExecutor(workers, thread_name_prefix="journeys-twilio") as pool:
                sent = pool.map(lambda t: self._send_one(t[1], t[2], batch), todo)
                for (position, _, _), outcome in zip(todo, sent, strict=True):
                    outcomes[position] = outcome
        return [o for o in outcomes if o is not None]

    def _request(self, message: OutboundMessage) -> dict[str, Any] | str:
        """The ``messages.create`` arguments, or why the message cannot be sent (no request)."""
        if message.channel not in ("sms", "whatsapp"):
            return f"Twilio sends sms and whatsapp, not {message.channel}"
        try:
            self.credentials.check_sender(message.channel)
        except ChannelConfigError as exc:
            return str(exc)
        try:
            to = e164(message.to or "")
        except ValueError:
            return "invalid phone number"
        if not message.body:
            return "empty message body"
        if len(message.body) > MAX_BODY:
            return f"message body longer than {MAX_BODY:,} characters"
        request: dict[str, Any] = {"to": to, "body": message.body}
        if message.channel == "whatsapp":
            request["to"] = f"whatsapp:{to}"
            request["from_"] = f"whatsapp:{self.credentials.whatsapp_from}"
        elif self.credentials.messaging_service_sid:
            request["messaging_service_sid"] = self.credentials.messaging_service_sid
        else:
            request["from_"] = self.credentials.from_number
        if self.credentials.status_callback_url:
            request["status_callback"] = with_intent(
                self.credentials.status_callback_url, message.intent_id
            )
        return request

    def _count(self, *, requests: int = 0, retries: int = 0, throttled: float = 0.0) -> None:
        with self._lock:
            self.stats.requests += requests
            self.stats.retries += retries
            self.stats.throttled_seconds += throttled

    def _send_one(
        self, message: OutboundMessage, request: dict[str, Any], batch: _Batch
    ) -> SendOutcome:
        intent = message.intent_id
        bucket = self.bucket(message.channel)
        budget = batch.budget
        retrier = Retrier(self.backoff, budget)
        while True:
            if batch.auth_error is not None:  # another thread's request was refused: stop
                return SendOutcome(intent, "failed", error=batch.auth_error)
            if budget.stopped:  # the batch gave up waiting: certainly not sent
                return SendOutcome(intent, "retry", retry_after=budget.stopped_retry_after)
            self._count(requests=1, throttled=bucket.acquire())
            try:
                created = self.client.messages.create(**request)
            except (TwilioRestException, TwilioServiceException) as exc:
                status, code = int(exc.status), exc.code
                if status == 429:
                    # Twilio's queue is full / over the limit: refused, nothing queued; wait.
                    if retrier.wait(retry_after_seconds(self._last_headers())):
                        self._count(retries=1)
                        continue
                    return SendOutcome(intent, "retry", retry_after=retrier.last_delay)
                if status in (401, 403):
                    batch.auth_error = (
                        f"credentials rejected by Twilio (HTTP {status}, code {code}): check the "
                        "account SID and auth token"
                    )
                    return SendOutcome(intent, "failed", error=batch.auth_error)
                error = f"twilio {code}: {redact(_exception_text(exc))}"
                if code in SUPPRESS_CODES:  # opted out (STOP): not sent, never again
                    return SendOutcome(intent, "suppressed", error=error)
                if code in QUEUE_FULL_CODES:  # refused, not queued: try again later
                    return SendOutcome(intent, "retry", error=error, retry_after=QUEUE_FULL_WAIT)
                if 400 <= status < 500:  # refused (21211, 21614, 21408, 21612, …): not sent
                    return SendOutcome(intent, "failed", error=error)
                # 5xx: Twilio may have created the message before failing; never repeated here.
                return SendOutcome(intent, "unknown", error=f"twilio HTTP {status}: {error}")
            except Exception as exc:
                if classify_transport_error(exc) == "not_sent":
                    # No connection was made: Twilio has not seen the request, repeat it.
                    if retrier.wait(None):
                        self._count(retries=1)
                        continue
                    return SendOutcome(
                        intent,
                        "retry",
                        error=f"twilio unreachable: {type(exc).__name__}",
                        retry_after=retrier.last_delay,
                    )
                # Read timeout, reset or closed after the request went out: it may exist.
                return SendOutcome(
                    intent,
                    "unknown",
                    error=f"twilio: no answer ({type(exc).__name__}), outcome unknown",
                )
            return SendOutcome(intent, "sent", provider_id=str(created.sid))

    def _last_headers(self) -> Any:
        """Headers of this thread's last response: ``TwilioRestException`` does not keep them;
        the block's HTTP client (``emulators.sdk.RebasedTwilioHttpClient``) does."""
        getter = getattr(getattr(self.client, "http_client", None), "last_response", None)
        response = getter() if callable(getter) else None
        return getattr(response, "headers", None)

    # ------------------------------------------------------------------ reconciliation

    def lookup(self, intents: Sequence[PendingIntent]) -> list[Evidence]:
        """Settle intents from the Messages list: by recipient, body and creation time.

        A message to the same recipient with the same body, created no earlier than
        ``claimed_at`` − 60 s (clock skew), is the intent's (each message matches one intent,
        oldest first). None → ``found=False`` (conclusive). A failed listing → ``found=None``.
        """
        results: dict[int, Evidence] = {}
        by_address: dict[str, list[PendingIntent]] = {}
        for intent in intents:
            if intent.channel not in ("sms", "whatsapp") or not intent.to:
                results[intent.intent_id] = Evidence(intent.intent_id, None)
                continue
            prefix = "whatsapp:" if intent.channel == "whatsapp" else ""
            by_address.setdefault(prefix + intent.to, []).append(intent)
        for address, group in by_address.items():
            for item in self._lookup_address(address, group):
                results[item.intent_id] = item
        return [results[i.intent_id] for i in intents]

    def _lookup_address(self, address: str, group: list[PendingIntent]) -> list[Evidence]:
        group = sorted(group, key=lambda i: i.claimed_at)
        since = _aware(group[0].claimed_at) - CLOCK_SKEW
        # Messages to ``address``, newest first, down to ``since``. Filtered by creation time here
        # rather than with DateSent>: a message still queued at Twilio has no date_sent yet, and
        # leaving it out would make an authoritative "not found" wrong (and the intent re-sent).
        candidates: list[tuple[datetime, Any]] = []
        self._count(requests=1)
        try:
            for listed in self.client.messages.stream(to=address, page_size=100):
                created = _created(listed)
                if created is None:
                    continue
                if created < since or len(candidates) >= MAX_LISTED:
                    break
                candidates.append((created, listed))
        except Exception:
            return [Evidence(i.intent_id, None) for i in group]
        candidates.sort(key=lambda pair: pair[0])
        used: set[str] = set()
        evidence = []
        for intent in group:
            earliest = _aware(intent.claimed_at) - CLOCK_SKEW
            match = next(
                (
                    m
                    for created, m in candidates
                    if m.sid not in used
                    and created >= earliest
                    and (intent.body is None or _same_text(m.body, intent.body))
                ),
                None,
            )
            if match is None:
                evidence.append(Evidence(intent.intent_id, False))
            else:
                used.add(match.sid)
                evidence.append(Evidence(intent.intent_id, True, match.sid, _status(match)))
        return evidence


def _exception_text(exc: TwilioRestException | TwilioServiceException) -> str:
    if isinstance(exc, TwilioRestException):
        return str(exc.msg)
    return str(exc.detail or exc.title)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _created(message: Any) -> datetime | None:
    value = getattr(message, "date_created", None)
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, str):
        try:
            return _aware(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def _same_text(listed: Any, expected: str) -> bool:
    return isinstance(listed, str) and " ".join(listed.split()) == " ".join(expected.split())


def _status(message: Any) -> str | None:
    status = getattr(message, "status", None)
    return None if status is None else str(getattr(status, "value", status))
