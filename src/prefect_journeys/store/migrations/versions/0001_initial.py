"""Initial schema: customers, tags, events, journey versions and state, enrollments, send intents,
outbox messages, tick runs.

Written by hand to match ``prefect_journeys.store.models`` at this revision (the test suite checks
that ``alembic.autogenerate.compare_metadata`` finds no difference on SQLite and Postgres). The
types are spelled out here, not imported from the models, so this revision keeps meaning what it
meant when later revisions change the models.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on Postgres (indexable, jsonb_set), JSON text on SQLite.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# 64-bit ids on Postgres (BIGSERIAL when a primary key); on SQLite a plain INTEGER, so that an
# INTEGER PRIMARY KEY is the rowid alias and gets its value from SQLite.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The store keeps naive UTC.
TS = sa.DateTime(timezone=False)


def _id(name: str = "id") -> sa.Column:
    return sa.Column(name, BIG_ID, primary_key=True, autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.String(200), primary_key=True, nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("first_name", sa.String(200), nullable=True),
        sa.Column("last_name", sa.String(200), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("locale", sa.String(32), nullable=True),
        sa.Column("email_consent", sa.Boolean(), nullable=False),
        sa.Column("sms_consent", sa.Boolean(), nullable=False),
        sa.Column("whatsapp_consent", sa.Boolean(), nullable=False),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )

    op.create_table(
        "customer_tags",
        sa.Column("customer_id", sa.String(200), primary_key=True, nullable=False),
        sa.Column("tag", sa.String(200), primary_key=True, nullable=False),
    )

    op.create_table(
        "events",
        _id("seq"),
        sa.Column("source_id", sa.String(300), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("properties", JSON, nullable=False),
        sa.Column("journey_id", sa.String(120), nullable=True),
        sa.Column("journey_version", sa.Integer(), nullable=True),
        sa.Column("step_id", sa.String(120), nullable=True),
        sa.Column("stage", sa.String(60), nullable=True),
        sa.Column("variant", sa.String(120), nullable=True),
        sa.Column("channel", sa.String(30), nullable=True),
        sa.Column("enrollment_id", BIG_ID, nullable=True),
        sa.Column("intent_id", BIG_ID, nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.UniqueConstraint("source_id"),  # deduplication key
    )
    op.create_index(
        "ix_events_customer_name_time", "events", ["customer_id", "name", "occurred_at"]
    )
    op.create_index("ix_events_enrollment_name", "events", ["enrollment_id", "name"])
    op.create_index("ix_events_journey_name", "events", ["journey_id", "name"])
    op.create_index("ix_events_name_seq", "events", ["name", "seq"])

    op.create_table(
        "journey_versions",
        sa.Column("journey_id", sa.String(120), primary_key=True, nullable=False),
        sa.Column("version", sa.Integer(), primary_key=True, nullable=False, autoincrement=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("plan", JSON, nullable=False),
        sa.Column("source_path", sa.String(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("journey_id", "content_hash"),
    )

    op.create_table(
        "journey_state",
        sa.Column("journey_id", sa.String(120), primary_key=True, nullable=False),
        sa.Column("activated_at", TS, nullable=False),
        sa.Column("last_schedule_fire", TS, nullable=True),
        sa.Column("last_tick_at", TS, nullable=True),
        sa.Column("entry_cursor", BIG_ID, nullable=True),
    )

    op.create_table(
        "enrollments",
        _id(),
        sa.Column("journey_id", sa.String(120), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("entry_seq", sa.Integer(), nullable=False),
        sa.Column("entry_key", sa.String(200), nullable=True),
        sa.Column("trigger_seq", BIG_ID, nullable=True),
        sa.Column("triggered_at", TS, nullable=False),
        sa.Column("entered_at", TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("step_id", sa.String(120), nullable=True),
        sa.Column("step_entered_at", TS, nullable=True),
        sa.Column("due_at", TS, nullable=True),
        sa.Column("variant", sa.String(120), nullable=True),
        sa.Column("stage", sa.String(60), nullable=True),
        sa.Column("exit_reason", sa.String(120), nullable=True),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("converted_at", TS, nullable=True),
        sa.Column("goal_deadline", TS, nullable=True),  # triggered_at + goal window
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("journey_id", "customer_id", "entry_seq"),
    )
    op.create_index(
        "ix_enrollments_work", "enrollments", ["journey_id", "state", "step_id", "due_at"]
    )
    op.create_index("ix_enrollments_customer", "enrollments", ["customer_id", "journey_id"])

    op.create_table(
        "send_intents",
        _id(),
        sa.Column("journey_id", sa.String(120), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(120), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("entry_seq", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", BIG_ID, nullable=False),
        sa.Column("channel", sa.String(30), nullable=False),
        sa.Column("template", sa.String(200), nullable=False),
        sa.Column("stage", sa.String(60), nullable=True),
        sa.Column("variant", sa.String(120), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("claimed_at", TS, nullable=True),
        sa.Column("claim_token", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("deferrals", sa.Integer(), nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("provider_id", sa.String(200), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.UniqueConstraint("journey_id", "version", "step_id", "customer_id", "entry_seq"),
    )
    op.create_index("ix_send_intents_due", "send_intents", ["status", "due_at", "id"])
    op.create_index(
        "ix_send_intents_customer", "send_intents", ["customer_id", "channel", "sent_at"]
    )

    op.create_table(
        "outbox_messages",
        _id(),
        sa.Column("intent_id", BIG_ID, nullable=False),
        sa.Column("channel", sa.String(30), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=True),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("preheader", sa.String(), nullable=True),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("intent_id"),
    )

    op.create_table(
        "tick_runs",
        _id(),
        sa.Column("journey_id", sa.String(120), nullable=False),
        sa.Column("as_of", TS, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("counts", JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tick_runs")
    op.drop_table("outbox_messages")
    op.drop_index("ix_send_intents_customer", table_name="send_intents")
    op.drop_index("ix_send_intents_due", table_name="send_intents")
    op.drop_table("send_intents")
    op.drop_index("ix_enrollments_customer", table_name="enrollments")
    op.drop_index("ix_enrollments_work", table_name="enrollments")
    op.drop_table("enrollments")
    op.drop_table("journey_state")
    op.drop_table("journey_versions")
    op.drop_index("ix_events_name_seq", table_name="events")
    op.drop_index("ix_events_journey_name", table_name="events")
    op.drop_index("ix_events_enrollment_name", table_name="events")
    op.drop_index("ix_events_customer_name_time", table_name="events")
    op.drop_table("events")
    op.drop_table("customer_tags")
    op.drop_table("customers")
