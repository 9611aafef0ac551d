"""patient allergy status: "not asked", "none (no known allergy)" or "listed", apart from the list itself

Rows already there keep NULL, which reads as "listed" when they have allergies and "not asked" when
they have none (shared/domain/allergies.py): an empty list never meant that someone asked.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 09:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("allergy_status", sa.String(length=17), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_column("allergy_status")
