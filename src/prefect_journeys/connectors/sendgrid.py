"""The SendGrid email channel: v3 Mail Send with many personalizations per request.

Batching: messages with the same dynamic template (and categories) share requests of up to
1,000 personalizations; messages without a template share a request when their rendered subject,
body, preheader and categories are identical; anything else is one request per message. Each
personalization carries its own recipient, template data, ``custom_args`` (only our opaque
``intent_id``) and ``List-Unsubscribe`` headers.

One request is one fate: when SendGrid rejects, throttles or fails a request, every message in it
gets the same outcome (see :meth:`SendGridChannel._post` for the mapping).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from python_http_client.exceptions import HTTPError as SendGridHTTPError

from prefect_journeys.connectors._privacy import quiet_sdk_logs, redact
from prefect_journeys.connectors.base import (
    ChannelStats,
    Evidence,
    OutboundMessage,
    PendingIntent,
    SendOutcome,
)
from prefect_journeys.connectors.retry import (
    Backoff,
    Retrier,
    Sleep,
    WaitBudget,
    classify_transport_error,
    retry_after_seconds,
)

if TYPE_CHECKING:
    from sendgrid import SendGridAPIClient

    from prefect_journeys.blocks.sendgrid import SendGridCredentials

MAX_PERSONALIZATIONS = 1000
MAX_CATEGORIES = 10
# local part without spaces, quotes, brackets or separators; a dotted domain of LDH labels
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[^@\s\"<>(),;:\\\[\]]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")
_DYNAMIC_TEMPLATE = re.compile(r"^d-[0-9a-fA-F]{32}$")


def personalization_message_id(x_message_id: str, index: int) -> str:
    """The id of the ``index``-th personalization of an accepted request.

    SendGrid answers one ``X-Message-Id`` per request; the Email Activity API lists one
    ``msg_id`` per recipient, which starts with it. We add the personalization index, as the
    emulator does for its ``message_id``s, so both sides name a recipient's message the same way.
    """
    return f"{x_message_id}.{index}"


def html_version(body: str, preheader: str | None) -> str:
    """A minimal HTML part: the escaped text in paragraphs, the preheader as hidden text."""
    hidden = (
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">'
        f"{escape(preheader)}</div>"
        if preheader
        else ""
    )
    paragraphs = "".join(
        "<p>" + escape(part.strip()).replace("\n", "<br>") + "</p>"
        for part in re.split(r"\n\s*\n", body)
        if part.strip()
    )
    return f"<!doctype html><html><body>{hidden}{paragraphs}</body></html>"


@dataclass
class _Batch:
    """What the requests of one ``send_batch`` share (possibly across threads)."""

    budget: WaitBudget
    auth_error: str | None = None  # set by the first 401/403: the rest fail without a request


class _CredentialsRejected(Exception):
    """401/403: every message of the batch fails with this error, no further request is made."""


@dataclass(frozen=True)
class _Item:
    position: int
    message: OutboundMessage


class SendGridChannel:
    """Sends ``email`` messages through SendGrid; also looks intents up (not authoritatively).

    Options: ``sleep`` (injectable, for backoff), ``max_retries`` (repeats of one request after a
    429 or a refused connection), ``max_wait`` (seconds one ``send_batch`` may wait in total
    before giving up with ``retry``), ``client`` (a ready ``SendGridAPIClient``),
    ``lookup_chunk`` (intents per Email Activity query), ``concurrency`` (requests in flight
    at once when a batch needs several), ``rng`` (jitter, for tests).
    """

    name = "sendgrid"
    transactional = False
    # The Email Activity API is eventually consistent: "not found" proves nothing.
    authoritative = False

    def __init__(
        self,
        credentials: SendGridCredentials,
        *,
        sleep: Sleep = time.sleep,
        max_retries: int = 4,
        max_wait: float = 60.0,
        client: SendGridAPIClient | None = None,
        lookup_chunk: int = 50,
        concurrency: int = 4,
        rng: random.Random | None = None,
    ) -> None:
        quiet_sdk_logs()
        self.credentials = credentials
        self.client = client or credentials.get_client()
        self.backoff = Backoff(
            max_retries=max_retries, max_wait=max_wait, sleep=sleep, rng=rng or random.Random()
        )
        self.lookup_chunk = max(1, lookup_chunk)
        self.concurrency = max(1, concurrency)
        self.stats = ChannelStats()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ sending

    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[SendOutcome]:
        outcomes: list[SendOutcome | None] = [None] * len(messages)
        groups: dict[tuple[Any, ...], list[_Item]] = {}
        for position, message in enumerate(messages):
            problem = self._check(message)
            if problem is not None:
                outcomes[position] = SendOutcome(message.intent_id, "failed", error=problem)
            else:
                groups.setdefault(_group_key(message), []).append(_Item(position, message))

        chunks = [
            items[start : start + MAX_PERSONALIZATIONS]
            for items in groups.values()
            for start in range(0, len(items), MAX_PERSONALIZATIONS)
        ]
        batch = _Batch(self.backoff.budget())
        workers = max(1, min(self.concurrency, len(chunks)))
        if workers == 1:
            results = [self._send_chunk(chunk, batch) for chunk in chunks]
        else:  # distinct content (e.g. per-recipient footers) means many requests: overlap them
            with ThreadPoolExecutor(workers, thread_name_prefix="journeys-sendgrid") as pool:
                results = list(pool.map(lambda chunk: self._send_chunk(chunk, batch), chunks))
        for chunk, chunk_results in zip(chunks, results, strict=True):
            for item, outcome in zip(chunk, chunk_results, strict=True):
                outcomes[item.position] = outcome
        assert all(o is not None for o in outcomes)
        return [o for o in outcomes if o is not None]

    def _send_chunk(self, chunk: list[_Item], batch: _Batch) -> list[SendOutcome]:
        if batch.auth_error is not None:  # the key was rejected: don't try it again
            return [_outcome(i, "failed", error=batch.auth_error) for i in chunk]
        if batch.budget.stopped:  # an outage/limit outlasted the budget: certainly not sent
            after = batch.budget.stopped_retry_after
            return [_outcome(i, "retry", retry_after=after) for i in chunk]
        try:
            return self._post(chunk, batch.budget)
        except _CredentialsRejected as exc:
            batch.auth_error = str(exc)
            return [_outcome(i, "failed", error=batch.auth_error) for i in chunk]

    def _count(self, *, requests: int = 0, retries: int = 0) -> None:
        with self._lock:
            self.stats.requests += requests
            self.stats.retries += retries

    def _check(self, message: OutboundMessage) -> str | None:
        """Why ``message`` cannot be sent at all (no request is made), or None."""
        if message.channel != "email":
            return f"SendGrid sends email, not {message.channel}"
        # checked here because one bad address would fail the whole request it shares (400)
        if not message.to or len(message.to) > 254 or not _EMAIL.match(message.to):
            return "invalid email address"
        if message.marketing and not message.unsubscribe_url:
            return "marketing email without List-Unsubscribe"
        if message.template_id is None and not message.subject:
            return "email without subject"
        try:
            json.dumps(message.template_data)
        except (TypeError, ValueError):
            return "template data is not JSON-serialisable"
        return None

    def _request_body(self, chunk: Sequence[_Item]) -> dict[str, Any]:
        first = chunk[0].message
        sender: dict[str, str] = {"email": self.credentials.from_email}
        if self.credentials.from_name:
            sender["name"] = self.credentials.from_name
        body: dict[str, Any] = {
            "personalizations": [_personalization(item.message) for item in chunk],
            "from": sender,
            "mail_settings": {"sandbox_mode": {"enable": self.credentials.sandbox_mode}},
        }
        if first.template_id is not None:
            body["template_id"] = first.template_id
        else:
            body["subject"] = first.subject
            body["content"] = [
                {"type": "text/plain", "value": first.body},
                {"type": "text/html", "value": html_version(first.body, first.preheader)},
            ]
        categories = _categories(first)
        if categories:
            body["categories"] = categories
        return body

    def _post(self, chunk: Sequence[_Item], budget: WaitBudget) -> list[SendOutcome]:
        """One Mail Send request for ``chunk``, retried only while certainly not sent."""
        body = self._request_body(chunk)
        retrier = Retrier(self.backoff, budget)
        while True:
            self._count(requests=1)
            try:
                response = self.client.client.mail.send.post(
                    request_body=body, timeout=self.credentials.timeout_seconds
                )
            except SendGridHTTPError as exc:
                status = int(exc.status_code)
                if status == 429:
                    # Refused by the rate limiter, nothing queued: wait for the reset and repeat.
                    if retrier.wait(retry_after_seconds(exc.headers)):
                        self._count(retries=1)
                        continue
                    return [_outcome(i, "retry", retry_after=retrier.last_delay) for i in chunk]
                if status in (401, 403):  # refused before anything was queued
                    raise _CredentialsRejected(
                        f"credentials rejected by SendGrid (HTTP {status}): check the API key "
                        "and its Mail Send permission"
                    ) from None
                if 400 <= status < 500:
                    # Validated and refused: certainly not sent, and sending again won't help.
                    error = f"sendgrid {status}: {_error_text(exc.body)}"
                    return [_outcome(i, "failed", error=error) for i in chunk]
                # 5xx: SendGrid may have queued the mail before failing. Never repeated here;
                # the reconciler settles it from evidence.
                error = f"sendgrid {status}: outcome unknown"
                return [_outcome(i, "unknown", error=error) for i in chunk]
            except Exception as exc:
                if classify_transport_error(exc) == "not_sent":
                    # No connection was made, so SendGrid has not seen the request.
                    if retrier.wait(None):
                        self._count(retries=1)
                        continue
                    error = f"sendgrid unreachable: {type(exc).__name__}"
                    return [
                        _outcome(i, "retry", error=error, retry_after=retrier.last_delay)
                        for i in chunk
                    ]
                # Timeout or dropped connection after the request went out: it may be queued.
                error = f"sendgrid: no answer ({type(exc).__name__}), outcome unknown"
                return [_outcome(i, "unknown", error=error) for i in chunk]
            status = int(response.status_code)
            if 200 <= status < 300:  # 202 Accepted (200 in sandbox mode)
                x_id = _header(response.headers, "X-Message-Id")
                return [
                    _outcome(
                        item,
                        "sent",
                        provider_id=personalization_message_id(x_id, index)
                        if x_id
                        else f"sandbox-{item.message.intent_id}",
                    )
                    for index, item in enumerate(chunk)
                ]
            # An answer that is neither success nor an HTTP error (3xx): don't guess.
            error = f"sendgrid {status}: outcome unknown"
            return [_outcome(i, "unknown", error=error) for i in chunk]

    # ------------------------------------------------------------------ reconciliation

    def lookup(self, intents: Sequence[PendingIntent]) -> list[Evidence]:
        """Ask the Email Activity API for our intent ids (``unique_args['intent_id']``).

        Found → ``found=True`` with SendGrid's ``msg_id`` and status. Not found → ``found=None``:
        the activity feed lags, so absence proves nothing. Errors → ``found=None``.
        """
        evidence: dict[int, Evidence] = {}
        for chunk in _chunks(list(intents), self.lookup_chunk):
            for item in self._lookup_chunk(chunk):
                evidence[item.intent_id] = item
        return [evidence.get(i.intent_id, Evidence(i.intent_id, None)) for i in intents]

    def _lookup_chunk(self, chunk: Sequence[PendingIntent]) -> list[Evidence]:
        query = " OR ".join(f"unique_args['intent_id']=\"{i.intent_id}\"" for i in chunk)
        self._count(requests=1)
        try:
            response = self.client.client.messages.get(
                query_params={"query": query, "limit": min(1000, 10 * len(chunk))},
                timeout=self.credentials.timeout_seconds,
            )
            found = json.loads(response.body or b"{}").get("messages") or []
        except Exception:  # throttled (6/min on SendGrid), down, or garbled: ask again later
            return []
        by_id = {str(i.intent_id): i for i in chunk}
        by_address: dict[str, list[PendingIntent]] = {}
        for intent in chunk:
            if intent.to:
                by_address.setdefault(intent.to.lower(), []).append(intent)
        result: dict[int, Evidence] = {}
        for record in found:
            if not isinstance(record, dict) or not record.get("msg_id"):
                continue
            match = _intent_of(record, by_id, by_address)
            if match is not None and match.intent_id not in result:
                result[match.intent_id] = Evidence(
                    match.intent_id, True, str(record["msg_id"]), record.get("status")
                )
        return list(result.values())


# ---------------------------------------------------------------------- helpers


def _group_key(message: OutboundMessage) -> tuple[Any, ...]:
    categories = tuple(_categories(message))
    if message.template_id is not None:
        return ("template", message.template_id, categories)
    return ("content", message.subject, message.body, message.preheader, categories)


def _categories(message: OutboundMessage) -> list[str]:
    unique = list(dict.fromkeys(c[:255] for c in message.categories if c))
    return unique[:MAX_CATEGORIES]


def _personalization(message: OutboundMessage) -> dict[str, Any]:
    assert message.to is not None
    item: dict[str, Any] = {
        "to": [{"email": message.to}],
        # Only our opaque id: custom_args travel with every event SendGrid reports.
        "custom_args": {"intent_id": str(message.intent_id)},
    }
    if message.unsubscribe_url:  # RFC 2369 + RFC 8058 one-click, per recipient
        item["headers"] = {
            "List-Unsubscribe": f"<{message.unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    if message.template_id is not None and _DYNAMIC_TEMPLATE.match(message.template_id):
        item["dynamic_template_data"] = message.template_data or {}
    return item


def _outcome(
    item: _Item,
    status: Any,
    *,
    provider_id: str | None = None,
    error: str | None = None,
    retry_after: float | None = None,
) -> SendOutcome:
    return SendOutcome(
        item.message.intent_id,
        status,
        provider_id=provider_id,
        error=error,
        retry_after=retry_after,
    )


def _header(headers: Any, name: str) -> str | None:
    value = headers.get(name) if headers is not None else None
    return str(value) if value else None


def _error_text(body: Any) -> str:
    """SendGrid's ``{"errors": [{"field", "message"}]}`` as one line, without addresses."""
    try:
        errors = json.loads(body).get("errors") or []
        text = "; ".join(
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in errors
            if isinstance(e, dict)
        )
    except Exception:
        text = ""
    return redact(text) if text else "request rejected"


def _chunks(items: list[PendingIntent], size: int) -> Iterator[list[PendingIntent]]:
    """Query groups of at most ``size`` intents in which no two share a recipient.

    The list endpoint answers without our custom args, so a record is tied to its intent by
    recipient: two intents to one address in a query could not be told apart. An intent without
    an address is asked about alone.
    """
    open_chunks: list[tuple[list[PendingIntent], set[str]]] = []
    for intent in items:
        if not intent.to:
            yield [intent]
            continue
        address = intent.to.lower()
        target = next((c for c in open_chunks if address not in c[1]), None)
        if target is None:
            target = ([], set())
            open_chunks.append(target)
        target[0].append(intent)
        target[1].add(address)
        if len(target[0]) >= size:
            open_chunks.remove(target)
            yield target[0]
    for chunk, _ in open_chunks:
        yield chunk


def _intent_of(
    record: dict[str, Any],
    by_id: dict[str, PendingIntent],
    by_address: dict[str, list[PendingIntent]],
) -> PendingIntent | None:
    """Which intent of the query an activity record is about.

    By its custom args when the record carries them; otherwise by recipient, when exactly one
    intent of the chunk went to that address (the real list endpoint returns no custom args).
    """
    for key in ("unique_args", "custom_args"):
        args = record.get(key)
        if isinstance(args, dict) and str(args.get("intent_id")) in by_id:
            return by_id[str(args["intent_id"])]
    if len(by_id) == 1:
        return next(iter(by_id.values()))
    address = str(record.get("to_email") or "").lower()
    candidates = by_address.get(address, [])
    return candidates[0] if len(candidates) == 1 else None


__all__ = ["SendGridChannel", "html_version", "personalization_message_id"]
