"""staff setup codes: the one-time code a new account (or one whose password was reset) sets its password with

Revision ID: 0020_staffadmin
Revises: 0019
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server_stub.db.tables

revision = "0020_staffadmin"
down_revision = "0020_hubcentral"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_setup_code",
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=200), nullable=False),
        sa.Column("issued_at", server_stub.db.tables.UTCDateTime(), nullable=False),
        sa.Column("expires_at", server_stub.db.tables.UTCDateTime(), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=True),
        sa.Column("used_at", server_stub.db.tables.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_staff_setup_code")),
    )


def downgrade() -> None:
    op.drop_table("staff_setup_code")
