"""The Email Activity API (``GET /v3/messages``) over the emulator's records.

Queries are terms joined with `` OR ``; a term is ``unique_args['key']="value"`` (or with double
quotes around the key), ``msg_id="…"``, ``msg_id LIKE "prefix%"`` (e.g. an X-Message-Id followed by
``%``), ``to_email="…"``, ``from_email="…"`` or ``subject="…"``. Sandbox sends are not listed.
Answers are newest first. The index is built lazily from the records on the first query after a
send, so sending never pays for it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prefect_journeys.emulators.sendgrid_records import SgMessage, fate

_TERM = re.compile(
    r"""^\s*(?:unique_args\[(?P<q>['"])(?P<key>[^'"]+)(?P=q)\]|(?P<field>msg_id|to_email|from_email|subject))"""
    r"""\s*(?P<op>=|\s(?i:like)\s)\s*"(?P<value>[^"]*)"\s*$"""
)
_OR = re.compile(r"\s+OR\s+", re.IGNORECASE)


class QueryError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Term:
    field: str  # "arg:<key>", msg_id, to_email, from_email or subject
    value: str
    prefix: bool  # LIKE "value%"


def parse_query(text: str) -> list[Term]:
    terms = []
    for part in _OR.split(text.strip()):
        found = _TERM.match(part)
        if not found:
            raise QueryError(f"invalid syntax: cannot parse {part.strip()[:80]!r}")
        field = f"arg:{found['key']}" if found["key"] else found["field"]
        like = found["op"].strip().lower() == "like"
        value = found["value"]
        if like and (field != "msg_id" or not value.endswith("%")):
            raise QueryError('LIKE works on msg_id with a trailing %, e.g. msg_id LIKE "abc%"')
        terms.append(Term(field, value.removesuffix("%") if like else value, like))
    return terms


class ActivityIndex:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen = 0
        self._by_key: dict[tuple[str, str], list[int]] = {}
        self._by_batch: dict[str, list[int]] = {}
        self._messages: list[SgMessage] = []

    def catch_up(self, records: Sequence[SgMessage]) -> None:
        """Index the records appended since the last call."""
        with self._lock:
            for message in records[self._seen :]:
                self._seen += 1
                if message.sandbox:
                    continue
                position = len(self._messages)
                self._messages.append(message)
                keys = [
                    ("msg_id", message.message_id),
                    ("to_email", message.to.lower()),
                    ("from_email", message.from_email.lower()),
                ]
                if message.subject is not None:
                    keys.append(("subject", message.subject))
                keys.extend((f"arg:{k}", v) for k, v in message.custom_args.items())
                for key in keys:
                    self._by_key.setdefault(key, []).append(position)
                self._by_batch.setdefault(message.x_message_id, []).append(position)

    def search(self, terms: Sequence[Term], limit: int) -> list[SgMessage]:
        with self._lock:
            found: set[int] = set()
            for term in terms:
                if term.prefix:
                    batch = self._by_batch.get(term.value.split(".")[0])
                    candidates = range(len(self._messages)) if batch is None else batch
                    found.update(
                        p for p in candidates if self._messages[p].message_id.startswith(term.value)
                    )
                    continue
                value = term.value.lower() if term.field.endswith("_email") else term.value
                found.update(self._by_key.get((term.field, value), ()))
            return [self._messages[p] for p in sorted(found, reverse=True)[:limit]]


def activity_entry(message: SgMessage, open_rate: float, click_rate: float) -> dict[str, Any]:
    bounced, opened, clicked = fate(message, open_rate, click_rate)
    moment = datetime.fromtimestamp(int(message.accepted_at), UTC)
    return {
        "from_email": message.from_email,
        "msg_id": message.message_id,
        "subject": message.subject or "",
        "to_email": message.to,
        "status": "not_delivered" if bounced else "delivered",
        "opens_count": int(opened),
        "clicks_count": int(clicked),
        "last_event_time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
