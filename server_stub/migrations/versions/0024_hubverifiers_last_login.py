"""staff_credential.last_login_at: the last successful online login, for a clinic hub's offline verifiers

A clinic hub fetches the password hashes of its campus's staff who logged in online lately
(``GET /api/v1/hub/verifiers``); rows from before this revision have no time and are not shipped
until their staff member's next login.

Revision ID: 0024_hubverifiers
Revises: 0023_rxrules
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server_stub.db.tables

revision = "0024_hubverifiers"
down_revision = "0023_rxrules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_credential") as batch:
        batch.add_column(sa.Column("last_login_at", server_stub.db.tables.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_credential") as batch:
        batch.drop_column("last_login_at")
