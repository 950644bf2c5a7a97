"""The single customer view: one profile with everything the store knows about it.

``customer_view(conn, key)`` finds the profile behind any key — its id, an id merged into it,
an anonymous id, an email or a phone (normalised first; profiles whose address is only in the
``customers`` column, as the simulation writes them, are found too) — and returns plain
dataclasses: the ``journeys customer`` command prints them and the dashboard renders the same
object. Lists are newest first and cut at ``limit`` (the identities, current consents, merges
and tags are complete).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from prefect_journeys.engine.sqlbits import EV, E, I
from prefect_journeys.identity.keys import owners
from prefect_journeys.identity.normalize import normalize_email, normalize_phone
from prefect_journeys.identity.types import (
    CONSENT_FLAGS,
    CONSENTS,
    CUSTOMERS,
    IDENTITIES,
    MERGES,
    PROFILE_FIELDS,
    TAGS,
)
from prefect_journeys.store.models import Quarantine

QUARANTINE = Quarantine.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class IdentityInfo:
    kind: str
    value: str
    verified: bool
    source: str | None
    created_at: datetime


@dataclass(frozen=True)
class ConsentDecision:
    """The decision in force for a channel and topic (``*``: every topic of the channel)."""

    channel: str
    topic: str
    granted: bool
    source: str  # the record's source, or ``profile flag`` where no record exists
    recorded_at: datetime | None


@dataclass(frozen=True)
class ConsentRecord:
    id: int
    channel: str
    topic: str
    granted: bool
    recorded_at: datetime
    source: str
    actor: str | None
    text: str | None


@dataclass(frozen=True)
class EventInfo:
    seq: int
    name: str
    occurred_at: datetime
    journey_id: str | None
    step_id: str | None
    channel: str | None
    value: float | None
    properties: dict[str, Any]


@dataclass(frozen=True)
class JourneyInfo:
    enrollment_id: int
    journey_id: str
    version: int
    entry_seq: int
    state: str
    step_id: str | None
    stage: str | None
    variant: str | None
    entered_at: datetime
    step_entered_at: datetime | None
    due_at: datetime | None
    completed_at: datetime | None
    exit_reason: str | None
    converted_at: datetime | None


@dataclass(frozen=True)
class MessageInfo:
    intent_id: int
    journey_id: str
    step_id: str
    channel: str
    template: str
    status: str
    created_at: datetime
    due_at: datetime
    sent_at: datetime | None
    provider_id: str | None
    error: str | None


@dataclass(frozen=True)
class MergeInfo:
    from_id: str
    into_id: str
    reason: str
    source: str | None
    merged_at: datetime
    moved: dict[str, Any]


@dataclass(frozen=True)
class QuarantineInfo:
    id: int
    kind: str
    target: str
    step_id: str | None
    reasons: list[Any]
    created_at: datetime


@dataclass
class CustomerView:
    id: str
    matched_by: str  # how the key was found: id, external_id, email, phone, anonymous_id
    profile: dict[str, Any]  # the customers columns (addresses, names, zone, locale, flags)
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    tags: list[str] = field(default_factory=list)
    identities: list[IdentityInfo] = field(default_factory=list)
    consents: list[ConsentDecision] = field(default_factory=list)
    consent_history: list[ConsentRecord] = field(default_factory=list)
    events: list[EventInfo] = field(default_factory=list)
    journeys: list[JourneyInfo] = field(default_factory=list)
    messages: list[MessageInfo] = field(default_factory=list)
    merges: list[MergeInfo] = field(default_factory=list)
    quarantine: list[QuarantineInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (times as ISO text)."""
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def find_profile(conn: Connection, key: str) -> tuple[str, str] | None:
    """(profile id, how it matched) for any key, or None."""
    key = key.strip()
    if not key:
        return None
    if conn.execute(select(CUSTOMERS.c.id).where(CUSTOMERS.c.id == key)).first():
        return key, "id"
    candidates = [("external_id", key), ("anonymous_id", key)]
    email, phone = normalize_email(key), normalize_phone(key)
    if email:
        candidates.append(("email", email))
    if phone:
        candidates.append(("phone", phone))
    for kind, value in candidates:
        owner = owners(conn, kind, [value]).get(value)
        if owner:
            return owner[0], kind
    for column_name, address in (("email", email), ("phone", phone)):
        if address:
            column = CUSTOMERS.c[column_name]
            found = conn.execute(
                select(CUSTOMERS.c.id)
                .where(column == address)
                .order_by(CUSTOMERS.c.created_at, CUSTOMERS.c.id)
            ).first()
            if found:
                return str(found[0]), column_name
    return None


def customer_view(conn: Connection, key: str, *, limit: int = 20) -> CustomerView | None:
    """Everything about the profile behind ``key`` (see the module docstring), or None."""
    hit = find_profile(conn, key)
    if hit is None:
        return None
    cid, matched_by = hit
    row = conn.execute(select(CUSTOMERS).where(CUSTOMERS.c.id == cid)).one()._mapping
    view = CustomerView(
        id=cid,
        matched_by=matched_by,
        profile={f: row[f] for f in PROFILE_FIELDS},
        attributes=dict(row["attributes"] or {}),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
    view.tags = sorted(conn.execute(select(TAGS.c.tag).where(TAGS.c.customer_id == cid)).scalars())
    view.identities = [
        IdentityInfo(r.kind, r.value, bool(r.verified), r.source, r.created_at)
        for r in conn.execute(
            select(IDENTITIES)
            .where(IDENTITIES.c.customer_id == cid)
            .order_by(IDENTITIES.c.kind, IDENTITIES.c.value)
        )
    ]
    history = [
        ConsentRecord(
            r.id, r.channel, r.topic, bool(r.granted), r.recorded_at, r.source, r.actor, r.text
        )
        for r in conn.execute(
            select(CONSENTS).where(CONSENTS.c.customer_id == cid).order_by(CONSENTS.c.id)
        )
    ]
    view.consents = _current(history, row)
    view.consent_history = history[::-1][:limit]
    view.events = [
        EventInfo(
            r.seq,
            r.name,
            r.occurred_at,
            r.journey_id,
            r.step_id,
            r.channel,
            r.value,
            dict(r.properties or {}),
        )
        for r in conn.execute(
            select(EV)
            .where(EV.c.customer_id == cid)
            .order_by(EV.c.occurred_at.desc(), EV.c.seq.desc())
            .limit(limit)
        )
    ]
    view.journeys = [
        JourneyInfo(
            r.id,
            r.journey_id,
            r.version,
            r.entry_seq,
            r.state,
            r.step_id,
            r.stage,
            r.variant,
            r.entered_at,
            r.step_entered_at,
            r.due_at,
            r.completed_at,
            r.exit_reason,
            r.converted_at,
        )
        for r in conn.execute(
            select(E)
            .where(E.c.customer_id == cid)
            .order_by(E.c.entered_at.desc(), E.c.id.desc())
            .limit(limit)
        )
    ]
    view.messages = [
        MessageInfo(
            r.id,
            r.journey_id,
            r.step_id,
            r.channel,
            r.template,
            r.status,
            r.created_at,
            r.due_at,
            r.sent_at,
            r.provider_id,
            r.error,
        )
        for r in conn.execute(
            select(I)
            .where(I.c.customer_id == cid)
            .order_by(I.c.created_at.desc(), I.c.id.desc())
            .limit(limit)
        )
    ]
    merged_ids = [i.value for i in view.identities if i.kind == "external_id"]
    involved = [cid, *merged_ids]
    view.merges = [
        MergeInfo(r.from_id, r.into_id, r.reason, r.source, r.merged_at, dict(r.moved or {}))
        for r in conn.execute(
            select(MERGES)
            .where(or_(MERGES.c.into_id.in_(involved), MERGES.c.from_id.in_(involved)))
            .order_by(MERGES.c.id.desc())
        )
    ]
    view.quarantine = [
        QuarantineInfo(r.id, r.kind, r.target, r.step_id, list(r.reasons or []), r.created_at)
        for r in conn.execute(
            select(QUARANTINE)
            .where(QUARANTINE.c.customer_id == cid)
            .order_by(QUARANTINE.c.id.desc())
            .limit(limit)
        )
    ]
    return view


def _current(history: list[ConsentRecord], row: Any) -> list[ConsentDecision]:
    """Per channel: the channel-wide decision (latest ``*`` record, else the profile flag); per
    topic with records: the latest record for that topic or ``*``."""
    latest: dict[tuple[str, str], ConsentRecord] = {}
    for record in history:  # ordered by id: later records replace earlier ones
        latest[(record.channel, record.topic)] = record
    out: list[ConsentDecision] = []
    for flag, channel in CONSENT_FLAGS.items():
        wide = latest.get((channel, "*"))
        if wide is None:
            out.append(ConsentDecision(channel, "*", bool(row[flag]), "profile flag", None))
        else:
            out.append(ConsentDecision(channel, "*", wide.granted, wide.source, wide.recorded_at))
        for (c, topic), record in sorted(latest.items()):
            if c != channel or topic == "*":
                continue
            best = max((r for r in (record, wide) if r is not None), key=lambda r: r.id)
            out.append(ConsentDecision(channel, topic, best.granted, best.source, best.recorded_at))
    return out


__all__ = [
    "ConsentDecision",
    "ConsentRecord",
    "CustomerView",
    "EventInfo",
    "IdentityInfo",
    "JourneyInfo",
    "MergeInfo",
    "MessageInfo",
    "QuarantineInfo",
    "customer_view",
    "find_profile",
]
