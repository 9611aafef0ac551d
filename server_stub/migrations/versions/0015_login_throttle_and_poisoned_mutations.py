"""Login throttling (per source, per account, per known PC), known PCs, failing mutations counted

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server_stub.db.tables

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", server_stub.db.tables.UTCDateTime(), nullable=False),
        sa.Column("blocked_until", server_stub.db.tables.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "known_device",
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("first_login_at", server_stub.db.tables.UTCDateTime(), nullable=False),
        sa.Column("last_login_at", server_stub.db.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("staff_id", "device_id", name=op.f("pk_known_device")),
    )
    op.create_table(
        "mutation_failure",
        sa.Column("mutation_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_failed_at", server_stub.db.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("mutation_id", name=op.f("pk_mutation_failure")),
    )


def downgrade() -> None:
    op.drop_table("mutation_failure")
    op.drop_table("known_device")
    op.drop_table("login_throttle")
