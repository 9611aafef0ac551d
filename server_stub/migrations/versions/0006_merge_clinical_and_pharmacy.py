"""merge the clinical (0004) and pharmacy (0005) branches

Revision ID: 0006
Revises: 0004, 0005
Create Date: 2026-12-05 01:40:00
"""

from __future__ import annotations

revision = "0006"
down_revision = ("0004", "0005")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
