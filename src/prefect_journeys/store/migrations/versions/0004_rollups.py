"""Maintained rollups: daily aggregates, their watermark, model snapshots; two event indexes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=False)
JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _dim(name: str, length: int) -> sa.Column:
    return sa.Column(name, sa.String(length), primary_key=True, nullable=False)


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "rollup_daily",
        sa.Column("day", sa.Date(), primary_key=True, nullable=False),
        _dim("journey_id", 120),
        sa.Column("journey_version", sa.Integer(), primary_key=True, nullable=False),
        _dim("step_id", 120),
        _dim("stage", 60),
        _dim("variant", 120),
        _dim("channel", 30),
        _dim("name", 120),
        _count("events"),
        _count("customers"),
        _count("enrollments"),
        _count("messages"),
        _count("new_customers"),
        _count("new_stage_enrollments"),
        _count("new_step_enrollments"),
        _count("new_messages"),
        sa.Column("value_sum", sa.Float(), nullable=False),
        sa.Column("first_seq", BIG_ID, nullable=False),
        sa.Column("last_seq", BIG_ID, nullable=False),
    )
    op.create_index("ix_rollup_daily_journey_day", "rollup_daily", ["journey_id", "day"])
    op.create_table(
        "rollup_dirty",
        _dim("journey_id", 120),
        _dim("name", 120),
        sa.Column("day", sa.Date(), primary_key=True, nullable=False),
    )
    op.create_table(
        "rollup_state",
        sa.Column("name", sa.String(60), primary_key=True, nullable=False),
        sa.Column("watermark", BIG_ID, nullable=False),
        sa.Column("gaps", JSON, nullable=False),
        sa.Column("last_full_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "model_snapshots",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True, nullable=False),
        sa.Column("model", sa.String(120), nullable=False),
        sa.Column("journey_id", sa.String(120), nullable=False),
        sa.Column("params_hash", sa.String(64), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("as_of", TS, nullable=False),
        sa.Column("watermark", BIG_ID, nullable=False),
        sa.Column("result", JSON, nullable=True),
        sa.Column("computed_at", TS, nullable=False),
        sa.UniqueConstraint("model", "journey_id", "params_hash"),
    )
    op.create_index("ix_events_journey_name_time", "events", ["journey_id", "name", "occurred_at"])
    op.create_index("ix_events_intent_name", "events", ["intent_id", "name"])


def downgrade() -> None:
    op.drop_index("ix_events_intent_name", table_name="events")
    op.drop_index("ix_events_journey_name_time", table_name="events")
    op.drop_table("model_snapshots")
    op.drop_table("rollup_state")
    op.drop_table("rollup_dirty")
    op.drop_index("ix_rollup_daily_journey_day", table_name="rollup_daily")
    op.drop_table("rollup_daily")
