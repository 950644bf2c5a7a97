"""The Twilio message store and its list endpoint: filters, newest first, paging.

Filters: ``To``, ``From`` (exact), ``DateSent``, ``DateSent<`` (on or before), ``DateSent>`` (on
or after). Dates are ``YYYY-MM-DD`` (whole UTC days, as Twilio documents) or ISO datetimes such as
the SDK sends (``2026-03-02T09:00:00Z``, compared to the second). Paging: ``PageSize`` (default 50,
at most 1,000), ``Page`` and ``PageToken`` (``PA`` + the SID of the previous page's last message),
with ``next_page_uri`` as the SDK follows it.
"""

from __future__ import annotations

import bisect
import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from prefect_journeys.emulators.twilio_records import TwilioMessage

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
FILTERS = ("To", "From", "DateSent", "DateSent<", "DateSent>")


class ListError(ValueError):
    pass


class MessageStore:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[TwilioMessage] = []
        self.forms: list[dict[str, list[str]]] = []  # each accepted create request's form
        self.by_sid: dict[str, int] = {}
        self.by_to: dict[str, list[int]] = {}
        self.by_from: dict[str, list[int]] = {}

    def add(self, message: TwilioMessage, form: dict[str, list[str]]) -> None:
        """Append; the caller holds ``lock`` (so creation times are in index order)."""
        position = len(self.messages)
        self.messages.append(message)
        self.forms.append(form)
        self.by_sid[message.sid] = position
        self.by_to.setdefault(message.to, []).append(position)
        self.by_from.setdefault(message.from_, []).append(position)

    def get(self, sid: str) -> TwilioMessage | None:
        with self.lock:
            position = self.by_sid.get(sid)
            return None if position is None else self.messages[position]


def _bounds(name: str, value: str) -> tuple[int, int]:
    """[first, last] epoch seconds that ``value`` covers (a whole day for a date)."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(), UTC)
            return int(start.timestamp()), int((start + timedelta(days=1)).timestamp()) - 1
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ListError(f"Invalid {name}: use YYYY-MM-DD or an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    second = int(moment.timestamp())
    return second, second


def _date_filter(params: dict[str, str]) -> tuple[int | None, int | None]:
    """Inclusive [low, high] epoch seconds from the DateSent filters."""
    low: int | None = None
    high: int | None = None
    if "DateSent" in params:
        low, high = _bounds("DateSent", params["DateSent"])
    if "DateSent>" in params:
        first = _bounds("DateSent>", params["DateSent>"])[0]
        low = first if low is None else max(low, first)
    if "DateSent<" in params:
        last = _bounds("DateSent<", params["DateSent<"])[1]
        high = last if high is None else min(high, last)
    return low, high


def _int(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(params.get(name, default))
    except ValueError:
        raise ListError(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise ListError(f"{name} must be between {low} and {high}")
    return value


def list_page(store: MessageStore, params: dict[str, str], base_uri: str) -> dict[str, Any]:
    size = _int(params, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page = _int(params, "Page", 0, 0, 10**9)
    low, high = _date_filter(params)
    token = params.get("PageToken")
    to, sender = params.get("To"), params.get("From")
    with store.lock:
        messages = store.messages
        if to is not None:
            candidates: list[int] | range = store.by_to.get(to, [])
        elif sender is not None:
            candidates = store.by_from.get(sender, [])
        else:
            candidates = range(len(messages))
        end = len(candidates)
        skip = page * size
        if token:
            after = store.by_sid.get(token.removeprefix("PA"))
            if after is None:
                raise ListError("PageToken is not valid")
            end = bisect.bisect_left(candidates, after)
            skip = 0

        def keep(m: TwilioMessage) -> bool:
            if sender is not None and m.from_ != sender:
                return False
            return high is None or m.created_epoch <= high

        found: list[TwilioMessage] = []
        for position in range(end - 1, -1, -1):
            message = messages[candidates[position]]
            if low is not None and message.created_epoch < low:
                break  # creation times grow with the index: nothing older can match
            if not keep(message):
                continue
            if skip:
                skip -= 1
                continue
            found.append(message)
            if len(found) > size:
                break
    more = len(found) > size
    found = found[:size]
    filters = [(name, params[name]) for name in FILTERS if name in params]

    def uri(number: int, page_token: str | None = None) -> str:
        query = [*filters, ("PageSize", str(size)), ("Page", str(number))]
        if page_token:
            query.append(("PageToken", page_token))
        return f"{base_uri}?{urlencode(query)}"

    start = page * size
    return {
        "end": start + max(len(found) - 1, 0),
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1, "PA" + found[-1].sid) if more else None,
        "page": page,
        "page_size": size,
        "previous_page_uri": uri(page - 1) if page > 0 else None,
        "start": start,
        "uri": uri(page, token),
        "messages": [m.resource() for m in found],
    }
