"""Consent records and the suppression list.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=False)


def _id() -> sa.Column:
    return sa.Column("id", BIG_ID, primary_key=True, autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "consents",
        _id(),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(30), nullable=False),
        sa.Column("topic", sa.String(120), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("source", sa.String(120), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("text", sa.String(), nullable=True),
    )
    op.create_index("ix_consents_customer", "consents", ["customer_id", "channel", "topic", "id"])
    op.create_table(
        "suppressions",
        _id(),
        sa.Column("address_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(60), nullable=False),
        sa.Column("source", sa.String(120), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("address_hash", "scope"),
    )


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_index("ix_consents_customer", table_name="consents")
    op.drop_table("consents")
