"""drug active ingredients (duplicate check by ingredient); per-pharmacy pickup-code option

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # server defaults fill the rows already there: no listed ingredients (the checks then derive one
    # from the generic name) and pickup codes required, as before
    with op.batch_alter_table("drug", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("active_ingredients", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    with op.batch_alter_table("pharmacy", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pickup_code_required", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("pharmacy", schema=None) as batch_op:
        batch_op.drop_column("pickup_code_required")
    with op.batch_alter_table("drug", schema=None) as batch_op:
        batch_op.drop_column("active_ingredients")
