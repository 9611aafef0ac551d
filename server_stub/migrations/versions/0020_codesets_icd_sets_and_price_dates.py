"""ICD-10 code sets side by side (diagnosis.code_set, the code unique per set), the site's settings row
(the chosen set), dated drug price changes (drug.price_changes)

Revision ID: 0020_codesets
Revises: 0019
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server_stub.db.tables

revision = "0020_codesets"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # every diagnosis there is joins the default set (its id already is that set's id for its code)
    with op.batch_alter_table("diagnosis", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("code_set", sa.String(length=32), nullable=False, server_default="ICD-10")
        )
        batch_op.drop_constraint("uq_diagnosis_code", type_="unique")
        batch_op.create_index("ix_diagnosis_code", ["code"], unique=False)
        batch_op.create_index("ix_diagnosis_code_set", ["code_set"], unique=False)
    with op.batch_alter_table("drug", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("price_changes", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    op.create_table(
        "site_settings",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
        sa.Column("updated_at", server_stub.db.tables.UTCDateTime(), nullable=True),
        sa.Column("diagnosis_code_set", sa.String(length=32), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_settings")),
    )


def downgrade() -> None:
    op.drop_table("site_settings")
    with op.batch_alter_table("drug", schema=None) as batch_op:
        batch_op.drop_column("price_changes")
    with op.batch_alter_table("diagnosis", schema=None) as batch_op:
        batch_op.drop_index("ix_diagnosis_code_set")
        batch_op.drop_index("ix_diagnosis_code")
        batch_op.create_unique_constraint("uq_diagnosis_code", ["code"])
        batch_op.drop_column("code_set")
