"""Dated prescription rule tables (rx_rule_set): each row a whole rule table in effect from a moment on

A database without rows keeps the shipped table (``rx_rules.default_rules``) as before.

Revision ID: 0023_rxrules
Revises: 0020_staffadmin
Create Date: 2026-12-06 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server_stub.db.tables

revision = "0023_rxrules"
down_revision = "0020_staffadmin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rx_rule_set",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
        sa.Column("updated_at", server_stub.db.tables.UTCDateTime(), nullable=True),
        sa.Column("effective_from", server_stub.db.tables.UTCDateTime(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=True),
        sa.Column("set_at", server_stub.db.tables.UTCDateTime(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rx_rule_set")),
    )


def downgrade() -> None:
    op.drop_table("rx_rule_set")
