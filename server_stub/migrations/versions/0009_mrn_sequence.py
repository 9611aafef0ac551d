"""PostgreSQL: patient numbers (MRN) from a sequence, continuing from the counter row

Taking a number from a sequence locks nothing, so registrations applied by several server processes
at once no longer queue on the ``sync_counter`` row until each commits. SQLite (one writer at a time)
keeps the counter row.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 05:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE SEQUENCE IF NOT EXISTS counter_mrn")
    op.execute(
        "SELECT setval('counter_mrn', GREATEST(v, 1), v > 0) "
        "FROM (SELECT COALESCE(MAX(value), 0) AS v FROM sync_counter WHERE name = 'mrn') AS last"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "UPDATE sync_counter SET value = (SELECT CASE WHEN is_called THEN last_value ELSE 0 END "
        "FROM counter_mrn) WHERE name = 'mrn'"
    )
    op.execute("DROP SEQUENCE IF EXISTS counter_mrn")
