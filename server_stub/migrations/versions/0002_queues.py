"""Queues, queue tickets (with their events) and waiting-room notices.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:01:40.309047
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server_stub.db.tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
        sa.Column("updated_at", server_stub.db.tables.UTCDateTime(), nullable=True),
        sa.Column("campus_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=18), nullable=False),
        sa.Column("department_id", sa.String(length=64), nullable=True),
        sa.Column("doctor_id", sa.String(length=64), nullable=True),
        sa.Column("room_ids", sa.JSON(), nullable=False),
        sa.Column("prefix", sa.String(length=4), nullable=False),
        sa.Column("policy", sa.String(length=23), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("number_block", sa.BigInteger(), nullable=False),
        sa.Column("number_slots", sa.BigInteger(), nullable=False),
        sa.Column("paused_rooms", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue")),
        sa.UniqueConstraint("code", name=op.f("uq_queue_code")),
    )
    with op.batch_alter_table("queue", schema=None) as batch_op:
        batch_op.create_index("ix_queue_campus_id", ["campus_id"], unique=False)
        batch_op.create_index("ix_queue_department_id", ["department_id"], unique=False)
        batch_op.create_index("ix_queue_doctor_id", ["doctor_id"], unique=False)

    op.create_table(
        "queue_notice",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
        sa.Column("updated_at", server_stub.db.tables.UTCDateTime(), nullable=True),
        sa.Column("campus_id", sa.String(length=64), nullable=False),
        sa.Column("queue_id", sa.String(length=64), nullable=True),
        sa.Column("room_id", sa.String(length=64), nullable=True),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("level", sa.String(length=14), nullable=False),
        sa.Column("starts_at", server_stub.db.tables.UTCDateTime(), nullable=False),
        sa.Column("ends_at", server_stub.db.tables.UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_notice")),
    )
    with op.batch_alter_table("queue_notice", schema=None) as batch_op:
        batch_op.create_index("ix_queue_notice_campus_id", ["campus_id"], unique=False)
        batch_op.create_index("ix_queue_notice_queue_id", ["queue_id"], unique=False)

    op.create_table(
        "queue_ticket",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
        sa.Column("updated_at", server_stub.db.tables.UTCDateTime(), nullable=True),
        sa.Column("campus_id", sa.String(length=64), nullable=False),
        sa.Column("queue_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("session", sa.String(length=13), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("number_key", sa.String(length=120), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("visit_id", sa.String(length=64), nullable=True),
        sa.Column("appointment_id", sa.String(length=64), nullable=True),
        sa.Column("slot_time", server_stub.db.tables.UTCDateTime(), nullable=True),
        sa.Column("source", sa.String(length=19), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("priority", sa.String(length=17), nullable=False),
        sa.Column("priority_reason", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=23), nullable=False),
        sa.Column("room_id", sa.String(length=64), nullable=True),
        sa.Column("called_room_id", sa.String(length=64), nullable=True),
        sa.Column("checked_in_at", server_stub.db.tables.UTCDateTime(), nullable=False),
        sa.Column("issued_device", sa.String(length=64), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_ticket")),
        sa.UniqueConstraint("number_key", name=op.f("uq_queue_ticket_number_key")),
    )
    with op.batch_alter_table("queue_ticket", schema=None) as batch_op:
        batch_op.create_index("ix_queue_ticket_appointment_id", ["appointment_id"], unique=False)
        batch_op.create_index("ix_queue_ticket_campus_id", ["campus_id"], unique=False)
        batch_op.create_index("ix_queue_ticket_day", ["day"], unique=False)
        batch_op.create_index("ix_queue_ticket_patient_id", ["patient_id"], unique=False)
        batch_op.create_index("ix_queue_ticket_queue_id", ["queue_id"], unique=False)
        batch_op.create_index("ix_queue_ticket_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("queue_ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_queue_ticket_status")
        batch_op.drop_index("ix_queue_ticket_queue_id")
        batch_op.drop_index("ix_queue_ticket_patient_id")
        batch_op.drop_index("ix_queue_ticket_day")
        batch_op.drop_index("ix_queue_ticket_campus_id")
        batch_op.drop_index("ix_queue_ticket_appointment_id")

    op.drop_table("queue_ticket")
    with op.batch_alter_table("queue_notice", schema=None) as batch_op:
        batch_op.drop_index("ix_queue_notice_queue_id")
        batch_op.drop_index("ix_queue_notice_campus_id")

    op.drop_table("queue_notice")
    with op.batch_alter_table("queue", schema=None) as batch_op:
        batch_op.drop_index("ix_queue_doctor_id")
        batch_op.drop_index("ix_queue_department_id")
        batch_op.drop_index("ix_queue_campus_id")

    op.drop_table("queue")
