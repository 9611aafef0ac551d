"""Patients are need-to-know: which campuses need which patient, per-campus patient feed scope, and
devices marked for a remote wipe

``campus_patient`` is filled from the visits, appointments, queue tickets and prescriptions already
stored; each patient's change-feed row then names those campuses (``|<campus>|…|``) instead of
everyone. PCs that already hold every patient drop the others at their next bootstrap.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

import server_stub.db.tables

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# (table, day column) of the rows that tie a patient to a campus, as of this migration
_ACTIVITY = (
    ("visit", "visit_date"),
    ("appointment", "slot_time"),
    ("queue_ticket", "day"),
    ("rx", "day"),
)


def upgrade() -> None:
    op.create_table(
        "campus_patient",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("campus_id", sa.String(length=64), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("patient_id", "campus_id", name=op.f("pk_campus_patient")),
    )
    with op.batch_alter_table("campus_patient", schema=None) as batch_op:
        batch_op.create_index("ix_campus_patient_campus_id_last_day", ["campus_id", "last_day"], unique=False)
    op.create_table(
        "device_wipe",
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("requested_at", server_stub.db.tables.UTCDateTime(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("delivered_at", server_stub.db.tables.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_wipe")),
    )
    with op.batch_alter_table("change_index", schema=None) as batch_op:
        batch_op.alter_column(
            "scope", existing_type=sa.String(length=64), type_=sa.String(length=2000), existing_nullable=False
        )
    _backfill(op.get_bind())


def _day(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _backfill(conn: sa.Connection) -> None:
    links: dict[tuple[str, str], dt.date] = {}
    for table, column in _ACTIVITY:
        rows = conn.execute(sa.text(f"SELECT patient_id, campus_id, {column} FROM {table}"))  # noqa: S608
        for patient_id, campus_id, day in rows:
            key = (str(patient_id), str(campus_id))
            value = _day(day)
            if key not in links or links[key] < value:
                links[key] = value
    if links:
        conn.execute(
            sa.text("INSERT INTO campus_patient (patient_id, campus_id, last_day) VALUES (:p, :c, :d)"),
            [{"p": p, "c": c, "d": d} for (p, c), d in links.items()],
        )
    conn.execute(sa.text("UPDATE change_index SET scope = '|' WHERE kind = 'patient'"))
    by_patient: dict[str, set[str]] = {}
    for patient_id, campus_id in links:
        by_patient.setdefault(patient_id, set()).add(campus_id)
    if by_patient:
        conn.execute(
            sa.text("UPDATE change_index SET scope = :s WHERE kind = 'patient' AND entity_id = :p"),
            [{"p": p, "s": "|" + "|".join(sorted(c)) + "|"} for p, c in by_patient.items()],
        )


def downgrade() -> None:
    op.execute("UPDATE change_index SET scope = '' WHERE kind = 'patient'")
    with op.batch_alter_table("change_index", schema=None) as batch_op:
        batch_op.alter_column(
            "scope", existing_type=sa.String(length=2000), type_=sa.String(length=64), existing_nullable=False
        )
    op.drop_table("device_wipe")
    with op.batch_alter_table("campus_patient", schema=None) as batch_op:
        batch_op.drop_index("ix_campus_patient_campus_id_last_day")
    op.drop_table("campus_patient")
