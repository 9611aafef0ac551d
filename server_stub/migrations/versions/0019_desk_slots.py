"""Ticket-number slots the server assigns to triage desks and kiosks, per campus

Revision ID: 0019
Revises: 0016
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server_stub.db.tables

revision = "0019"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_slot",
        sa.Column("campus_id", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("staff_id", sa.String(length=64), nullable=True),
        sa.Column("assigned_at", server_stub.db.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("campus_id", "slot", name=op.f("pk_desk_slot")),
        sa.UniqueConstraint("campus_id", "device_id", name="uq_desk_slot_campus_device"),
    )


def downgrade() -> None:
    op.drop_table("desk_slot")
