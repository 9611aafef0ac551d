"""Clinic hubs: enrolled, revocable principals of the central API (a hash of each one's secret)

Revision ID: 0020_hubcentral
Revises: 0019
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server_stub.db.tables

revision = "0020_hubcentral"
down_revision = "0020_codesets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("campus_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", server_stub.db.tables.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("revoked_at", server_stub.db.tables.UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("last_seen_at", server_stub.db.tables.UTCDateTime(), nullable=True),
        sa.Column("last_relay_at", server_stub.db.tables.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub")),
    )


def downgrade() -> None:
    op.drop_table("hub")
