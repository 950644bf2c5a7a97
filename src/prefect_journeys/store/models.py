"""The store's tables (SQLModel). All times are naive UTC.

Natural keys carry the guarantees: an enrollment is unique per (journey, customer, entry_seq); a
send intent per (journey, version, step, customer, entry_seq); an event per ``source_id``. Surrogate
ids are integers: compact, opaque (a provider sees an intent id, never a customer key), and made by
the database so every insert can be one ``INSERT … SELECT``. See docs/schema.md.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Integer, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

# JSONB on Postgres (indexable, jsonb_set), JSON text on SQLite.
JsonType = JSON().with_variant(JSONB(), "postgresql")
# A 64-bit key that is still SQLite's rowid (autoincrement) there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _json(**kw: Any) -> Any:
    return Field(default_factory=dict, sa_column=Column(JsonType, nullable=False, **kw))


def _ts(nullable: bool = False) -> Any:
    """Naive-UTC timestamp (the store's convention), also on SQLModel's aware-by-default typing."""
    return Field(default=None, sa_type=DateTime(timezone=False), nullable=nullable)


def _pk() -> Any:
    return Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    id: str = Field(primary_key=True, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=32)
    email_consent: bool = False
    sms_consent: bool = False
    whatsapp_consent: bool = False
    attributes: dict[str, Any] = _json()
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class CustomerTag(SQLModel, table=True):
    __tablename__ = "customer_tags"
    customer_id: str = Field(primary_key=True, max_length=200)
    tag: str = Field(primary_key=True, max_length=200)


class Event(SQLModel, table=True):
    """Append-only: customer events, step transitions, sends, deliveries, engagement, conversions."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_customer_name_time", "customer_id", "name", "occurred_at"),
        Index("ix_events_enrollment_name", "enrollment_id", "name"),
        Index("ix_events_journey_name", "journey_id", "name"),
        Index("ix_events_name_seq", "name", "seq"),
    )
    seq: int | None = _pk()
    source_id: str = Field(max_length=300, unique=True)  # deduplication key
    customer_id: str = Field(max_length=200)
    name: str = Field(max_length=120)
    occurred_at: datetime = _ts()
    received_at: datetime = _ts()
    properties: dict[str, Any] = _json()
    journey_id: str | None = Field(default=None, max_length=120)
    journey_version: int | None = None
    step_id: str | None = Field(default=None, max_length=120)
    stage: str | None = Field(default=None, max_length=60)
    variant: str | None = Field(default=None, max_length=120)
    channel: str | None = Field(default=None, max_length=30)
    enrollment_id: int | None = Field(default=None, sa_type=BigId)
    intent_id: int | None = Field(default=None, sa_type=BigId)
    value: float | None = None  # revenue for purchases; time-to-convert (s) for conversions


class JourneyVersion(SQLModel, table=True):
    """Every distinct content of a journey file (with its templates) is a version."""

    __tablename__ = "journey_versions"
    __table_args__ = (UniqueConstraint("journey_id", "content_hash"),)
    journey_id: str = Field(primary_key=True, max_length=120)
    version: int = Field(primary_key=True)
    content_hash: str = Field(max_length=64)
    plan: dict[str, Any] = _json()
    source_path: str | None = None
    created_at: datetime = _ts()


class JourneyState(SQLModel, table=True):
    __tablename__ = "journey_state"
    journey_id: str = Field(primary_key=True, max_length=120)
    activated_at: datetime = _ts()
    last_schedule_fire: datetime | None = _ts(nullable=True)
    last_tick_at: datetime | None = _ts(nullable=True)
    # event entry: every entry event with seq ≤ cursor has been decided (enrolled or not)
    entry_cursor: int | None = Field(default=None, sa_type=BigId)


class Enrollment(SQLModel, table=True):
    """One customer's passage through one journey version (entry_seq counts her entries)."""

    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("journey_id", "customer_id", "entry_seq"),
        Index("ix_enrollments_work", "journey_id", "state", "step_id", "due_at"),
        Index("ix_enrollments_customer", "customer_id", "journey_id"),
    )
    id: int | None = _pk()
    journey_id: str = Field(max_length=120)
    version: int
    customer_id: str = Field(max_length=200)
    entry_seq: int
    entry_key: str | None = Field(default=None, max_length=200)
    trigger_seq: int | None = Field(default=None, sa_type=BigId)  # event that caused the entry
    triggered_at: datetime = _ts()  # when the entry event happened (= entered_at otherwise)
    entered_at: datetime = _ts()
    state: str = Field(max_length=16)  # active | completed | exited
    step_id: str | None = Field(default=None, max_length=120)
    step_entered_at: datetime | None = _ts(nullable=True)
    due_at: datetime | None = _ts(nullable=True)
    variant: str | None = Field(default=None, max_length=120)
    stage: str | None = Field(default=None, max_length=60)
    exit_reason: str | None = Field(default=None, max_length=120)
    completed_at: datetime | None = _ts(nullable=True)
    converted_at: datetime | None = _ts(nullable=True)
    goal_deadline: datetime | None = _ts(nullable=True)  # triggered_at + goal window
    updated_at: datetime = _ts()


class SendIntent(SQLModel, table=True):
    """A message the journey decided to send; the provider is called only after it is claimed."""

    __tablename__ = "send_intents"
    __table_args__ = (
        UniqueConstraint("journey_id", "version", "step_id", "customer_id", "entry_seq"),
        # claim order (due_at, id) straight from the index, also on Postgres
        Index("ix_send_intents_due", "status", "due_at", "id"),
        Index("ix_send_intents_customer", "customer_id", "channel", "sent_at"),
    )
    id: int | None = _pk()
    journey_id: str = Field(max_length=120)
    version: int
    step_id: str = Field(max_length=120)
    customer_id: str = Field(max_length=200)
    entry_seq: int
    enrollment_id: int = Field(sa_type=BigId)
    channel: str = Field(max_length=30)
    template: str = Field(max_length=200)
    stage: str | None = Field(default=None, max_length=60)
    variant: str | None = Field(default=None, max_length=120)
    # planned → claimed → (outbox: sent) | sending → sent | failed | suppressed | unknown;
    # claimed → cancelled | suppressed | failed | planned (deferred, 429); unknown → sent | planned
    # (provider proves it never arrived) | abandoned (reconciler)
    status: str = Field(max_length=16)
    due_at: datetime = _ts()
    created_at: datetime = _ts()
    claimed_at: datetime | None = _ts(nullable=True)
    claim_token: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    deferrals: int = 0
    sent_at: datetime | None = _ts(nullable=True)
    provider_id: str | None = Field(default=None, max_length=200)
    error: str | None = None


class OutboxMessage(SQLModel, table=True):
    """The local channel: rendered messages kept in the store (and appended to a JSONL file)."""

    __tablename__ = "outbox_messages"
    id: int | None = _pk()
    intent_id: int = Field(sa_type=BigId, unique=True)
    channel: str = Field(max_length=30)
    customer_id: str = Field(max_length=200)
    recipient: str | None = Field(default=None, max_length=320)
    subject: str | None = None
    preheader: str | None = None
    body: str
    created_at: datetime = _ts()


class Consent(SQLModel, table=True):
    """One consent decision: who agreed (or withdrew), to what, when, how, and the text shown.

    Append-only: the latest record per (customer, channel, topic) is the customer's current
    choice. Topic ``*`` covers every topic of the channel.
    """

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_customer", "customer_id", "channel", "topic", "id"),)
    id: int | None = _pk()
    customer_id: str = Field(max_length=200)
    channel: str = Field(max_length=30)
    topic: str = Field(max_length=120)
    granted: bool
    recorded_at: datetime = _ts()
    source: str = Field(max_length=120)  # how: signup_form, import, sms_keyword, unsubscribe_link
    actor: str | None = Field(default=None, max_length=200)  # who recorded it
    text: str | None = None  # the wording the customer agreed to


class Suppression(SQLModel, table=True):
    """Addresses never to contact (again), kept as hashes so they survive erasure.

    ``scope`` ``all`` (bounces, invalid numbers, SMS opt-outs) blocks every send to the address;
    ``marketing`` (unsubscribes, spam reports) blocks marketing sends only.
    """

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("address_hash", "scope"),)
    id: int | None = _pk()
    address_hash: str = Field(max_length=64)  # sha256 of the normalised address
    kind: str = Field(max_length=10)  # email | phone
    scope: str = Field(max_length=16)  # all | marketing
    reason: str = Field(max_length=60)
    source: str | None = Field(default=None, max_length=120)
    created_at: datetime = _ts()


class TickRun(SQLModel, table=True):
    __tablename__ = "tick_runs"
    id: int | None = _pk()
    journey_id: str = Field(max_length=120)
    as_of: datetime = _ts()
    started_at: datetime = _ts()
    finished_at: datetime | None = _ts(nullable=True)
    dry_run: bool = False
    counts: dict[str, Any] = _json()


class Identity(SQLModel, table=True):
    """A key a profile is known by besides its own id: an external id, an email, a phone, an
    anonymous id. Values are normalised (emails lower-cased, phones E.164). A profile's own id is
    implicitly its ``external_id``; a merged profile's id stays here, pointing at the survivor."""

    __tablename__ = "identities"
    __table_args__ = (Index("ix_identities_customer", "customer_id"),)
    kind: str = Field(primary_key=True, max_length=20)  # external_id | email | phone | anonymous_id
    value: str = Field(primary_key=True, max_length=320)
    customer_id: str = Field(max_length=200)
    verified: bool = False
    source: str | None = Field(default=None, max_length=120)
    created_at: datetime = _ts()


class CustomerMerge(SQLModel, table=True):
    """An audited merge: profile ``from_id`` became part of ``into_id`` (why, on what evidence)."""

    __tablename__ = "customer_merges"
    __table_args__ = (
        Index("ix_customer_merges_from", "from_id"),
        Index("ix_customer_merges_into", "into_id"),
    )
    id: int | None = _pk()
    from_id: str = Field(max_length=200)
    into_id: str = Field(max_length=200)
    reason: str = Field(max_length=120)  # verified_email | alias_event | identify | ...
    evidence: dict[str, Any] = _json()
    moved: dict[str, Any] = _json()  # rows moved per table
    source: str | None = Field(default=None, max_length=120)
    merged_at: datetime = _ts()


class SyncState(SQLModel, table=True):
    """How far a source has been imported: its watermark moves only after a successful sync."""

    __tablename__ = "sync_state"
    source_id: str = Field(primary_key=True, max_length=120)
    watermark: str | None = None  # ISO time or number, as text
    watermark_type: str | None = Field(default=None, max_length=16)  # datetime | number | text
    last_run_at: datetime | None = _ts(nullable=True)
    updated_at: datetime = _ts()


class SyncRun(SQLModel, table=True):
    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_source", "source_id", "id"),)
    id: int | None = _pk()
    source_id: str = Field(max_length=120)
    status: str = Field(max_length=16)  # running | succeeded | failed | rejected
    started_at: datetime = _ts()
    finished_at: datetime | None = _ts(nullable=True)
    watermark_from: str | None = None
    watermark_to: str | None = None
    counts: dict[str, Any] = _json()  # read, inserted, updated, unchanged, merged, rejected, ...
    error: str | None = None


class Validation(SQLModel, table=True):
    """One Great Expectations run over one batch: suite, target, counts, failed expectations."""

    __tablename__ = "validations"
    __table_args__ = (Index("ix_validations_target", "target", "id"),)
    id: int | None = _pk()
    suite: str = Field(max_length=120)
    target: str = Field(max_length=200)  # source:<id> | journey:<id>/<step> | store:<table>
    batch: str | None = Field(default=None, max_length=200)
    checked_at: datetime = _ts()
    rows: int = 0
    failed_rows: int = 0
    threshold: float = 0.05
    passed: bool = True  # failed fraction within the threshold
    results: list[Any] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))


class Quarantine(SQLModel, table=True):
    """A row kept out: a source row that failed its suite (never stored), or a customer held
    back from one send step. ``reasons`` lists the failed expectations."""

    __tablename__ = "quarantine"
    __table_args__ = (
        Index("ix_quarantine_target", "target", "id"),
        Index("ix_quarantine_customer", "customer_id"),
    )
    id: int | None = _pk()
    kind: str = Field(max_length=16)  # sync | audience | check
    target: str = Field(max_length=200)
    step_id: str | None = Field(default=None, max_length=120)
    validation_id: int | None = Field(default=None, sa_type=BigId)
    customer_id: str | None = Field(default=None, max_length=200)
    intent_id: int | None = Field(default=None, sa_type=BigId)
    row_ref: str | None = Field(default=None, max_length=300)  # file:line, row key, intent id
    reasons: list[Any] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    row: dict[str, Any] = _json()
    created_at: datetime = _ts()


class SegmentMember(SQLModel, table=True):
    """Members of a segment computed outside the store (a SQL query against a source)."""

    __tablename__ = "segment_members"
    segment_id: str = Field(primary_key=True, max_length=120)
    customer_id: str = Field(primary_key=True, max_length=200)
    refreshed_at: datetime = _ts()


TABLES = [
    Customer,
    CustomerTag,
    Event,
    JourneyVersion,
    JourneyState,
    Enrollment,
    SendIntent,
    OutboxMessage,
    TickRun,
    Consent,
    Suppression,
    Identity,
    CustomerMerge,
    SyncState,
    SyncRun,
    Validation,
    Quarantine,
    SegmentMember,
]
metadata = SQLModel.metadata


# ----------------------------------------------------------------------------- rollups (0004)
# Maintained aggregates for the dashboard (analytics/rollups.py; docs/metrics.md "Rollups").
# Dimension columns are never null: '' (text) or 0 (version) stand for "none", so they can be
# part of the primary key.


def _dim(length: int) -> Any:
    return Field(primary_key=True, max_length=length)


class RollupDaily(SQLModel, table=True):
    """One day × journey × version × step × stage × variant × channel × event name."""

    __tablename__ = "rollup_daily"
    __table_args__ = (Index("ix_rollup_daily_journey_day", "journey_id", "day"),)
    day: date = Field(primary_key=True)
    journey_id: str = _dim(120)
    journey_version: int = Field(primary_key=True)
    step_id: str = _dim(120)
    stage: str = _dim(60)
    variant: str = _dim(120)
    channel: str = _dim(30)
    name: str = _dim(120)
    events: int = 0
    customers: int = 0  # distinct that day
    enrollments: int = 0  # distinct that day
    messages: int = 0  # distinct intents that day (an event without intent is its own message)
    new_customers: int = 0  # first event of (journey, name, customer) falls here
    new_stage_enrollments: int = 0  # first event of (enrollment, name, stage) falls here
    new_step_enrollments: int = 0  # first event of (enrollment, name, step) falls here
    new_messages: int = 0  # first event of (intent, name, step) falls here
    value_sum: float = 0.0
    first_seq: int = Field(sa_type=BigId)
    last_seq: int = Field(sa_type=BigId)


class RollupDirty(SQLModel, table=True):
    """Partitions (journey, event name, day) a running rollup recomputes; empty between runs."""

    __tablename__ = "rollup_dirty"
    journey_id: str = _dim(120)
    name: str = _dim(120)
    day: date = Field(primary_key=True)


class RollupState(SQLModel, table=True):
    """The fold's watermark: every event with ``seq <= watermark`` is in the rollups.
    ``gaps`` lists missing seqs above it with when they were first seen (late commits)."""

    __tablename__ = "rollup_state"
    name: str = Field(primary_key=True, max_length=60)
    watermark: int = Field(default=0, sa_type=BigId)
    gaps: list[Any] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    last_full_at: datetime | None = _ts(nullable=True)
    updated_at: datetime = _ts()


class ModelSnapshot(SQLModel, table=True):
    """The latest result of a heavier model (attribution, CLV, ...) per journey and parameters."""

    __tablename__ = "model_snapshots"
    __table_args__ = (UniqueConstraint("model", "journey_id", "params_hash"),)
    id: int | None = _pk()
    model: str = Field(max_length=120)
    journey_id: str = Field(max_length=120)  # '*' = all journeys
    params_hash: str = Field(max_length=64)
    params: dict[str, Any] = _json()
    as_of: datetime = _ts()
    watermark: int = Field(default=0, sa_type=BigId)  # highest event seq the model saw
    result: Any = Field(default=None, sa_column=Column(JsonType, nullable=True))
    computed_at: datetime = _ts()


# Rollups read a partition's events (journey, name, day) and an intent's earlier events.
_events = Event.__table__  # type: ignore[attr-defined]
Index("ix_events_journey_name_time", _events.c.journey_id, _events.c.name, _events.c.occurred_at)
Index("ix_events_intent_name", _events.c.intent_id, _events.c.name)

TABLES += [RollupDaily, RollupDirty, RollupState, ModelSnapshot]
