"""Customer data in: identities and merges, sync state, validations, quarantine, SQL segments.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=False)
JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _id() -> sa.Column:
    return sa.Column("id", BIG_ID, primary_key=True, autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("kind", sa.String(20), primary_key=True, nullable=False),
        sa.Column("value", sa.String(320), primary_key=True, nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(120), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_identities_customer", "identities", ["customer_id"])
    op.create_table(
        "customer_merges",
        _id(),
        sa.Column("from_id", sa.String(200), nullable=False),
        sa.Column("into_id", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(120), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("moved", JSON, nullable=False),
        sa.Column("source", sa.String(120), nullable=True),
        sa.Column("merged_at", TS, nullable=False),
    )
    op.create_index("ix_customer_merges_from", "customer_merges", ["from_id"])
    op.create_index("ix_customer_merges_into", "customer_merges", ["into_id"])
    op.create_table(
        "sync_state",
        sa.Column("source_id", sa.String(120), primary_key=True, nullable=False),
        sa.Column("watermark", sa.String(), nullable=True),
        sa.Column("watermark_type", sa.String(16), nullable=True),
        sa.Column("last_run_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "sync_runs",
        _id(),
        sa.Column("source_id", sa.String(120), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("watermark_from", sa.String(), nullable=True),
        sa.Column("watermark_to", sa.String(), nullable=True),
        sa.Column("counts", JSON, nullable=False),
        sa.Column("error", sa.String(), nullable=True),
    )
    op.create_index("ix_sync_runs_source", "sync_runs", ["source_id", "id"])
    op.create_table(
        "validations",
        _id(),
        sa.Column("suite", sa.String(120), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("batch", sa.String(200), nullable=True),
        sa.Column("checked_at", TS, nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("failed_rows", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("results", JSON, nullable=False),
    )
    op.create_index("ix_validations_target", "validations", ["target", "id"])
    op.create_table(
        "quarantine",
        _id(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("step_id", sa.String(120), nullable=True),
        sa.Column("validation_id", BIG_ID, nullable=True),
        sa.Column("customer_id", sa.String(200), nullable=True),
        sa.Column("intent_id", BIG_ID, nullable=True),
        sa.Column("row_ref", sa.String(300), nullable=True),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("row", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_quarantine_target", "quarantine", ["target", "id"])
    op.create_index("ix_quarantine_customer", "quarantine", ["customer_id"])
    op.create_table(
        "segment_members",
        sa.Column("segment_id", sa.String(120), primary_key=True, nullable=False),
        sa.Column("customer_id", sa.String(200), primary_key=True, nullable=False),
        sa.Column("refreshed_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("segment_members")
    op.drop_index("ix_quarantine_customer", table_name="quarantine")
    op.drop_index("ix_quarantine_target", table_name="quarantine")
    op.drop_table("quarantine")
    op.drop_index("ix_validations_target", table_name="validations")
    op.drop_table("validations")
    op.drop_index("ix_sync_runs_source", table_name="sync_runs")
    op.drop_table("sync_runs")
    op.drop_table("sync_state")
    op.drop_index("ix_customer_merges_into", table_name="customer_merges")
    op.drop_index("ix_customer_merges_from", table_name="customer_merges")
    op.drop_table("customer_merges")
    op.drop_index("ix_identities_customer", table_name="identities")
    op.drop_table("identities")
