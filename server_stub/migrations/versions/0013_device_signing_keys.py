"""Signing keys per PC: the server keeps public keys only; signatures record their algorithm; pulls
record each PC's last contact

- ``signing_key``: the PIN-sealed private keys (``sealed_key``) are dropped: they were synced to every
  PC, so every key registered until now is revoked (old signatures still verify: they were made
  before the revocation) and moved to the head of the change feed, so each PC's cached copy is
  replaced by one without the sealed key. New column ``device_id`` (the PC a key was registered for).
- ``rx.signature_algorithm``, ``rx.review_signature_algorithm``, ``emr_note.signature_algorithm``.
- ``device_contact``: when a staff member last pulled from a device (``services.contacts``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

import server_stub.db.tables

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

REVOKED_REASON = "密钥曾同步到各电脑，已停用；请在本机重新设置签名 PIN"


def _revoke_and_republish() -> None:
    bind = op.get_bind()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # UTCDateTime columns hold naive UTC
    ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM signing_key ORDER BY id"))]
    if not ids:
        return
    bind.execute(
        sa.text(
            "UPDATE signing_key SET revoked_at = :now, revoked_reason = :reason "
            "WHERE revoked_at IS NULL"
        ),
        {"now": now, "reason": REVOKED_REASON},
    )
    bind.execute(
        sa.text("UPDATE signing_key SET version = version + 1, updated_at = :now"), {"now": now}
    )
    head = bind.execute(sa.text("SELECT value FROM sync_counter WHERE name = 'change_seq'")).scalar()
    if head is None:
        head = 0
        bind.execute(sa.text("INSERT INTO sync_counter (name, value) VALUES ('change_seq', 0)"))
    bind.execute(sa.text("DELETE FROM change_index WHERE kind = 'signing_key'"))
    bind.execute(
        sa.text("INSERT INTO change_index (seq, kind, entity_id, scope) VALUES (:seq, 'signing_key', :id, '')"),
        [{"seq": int(head) + n, "id": key_id} for n, key_id in enumerate(ids, start=1)],
    )
    bind.execute(
        sa.text("UPDATE sync_counter SET value = :value WHERE name = 'change_seq'"),
        {"value": int(head) + len(ids)},
    )


def upgrade() -> None:
    with op.batch_alter_table("signing_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_id", sa.String(length=128), nullable=False, server_default=""))
    _revoke_and_republish()
    with op.batch_alter_table("signing_key", schema=None) as batch_op:
        batch_op.drop_column("sealed_key")

    with op.batch_alter_table("rx", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("signature_algorithm", sa.String(length=15), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("review_signature_algorithm", sa.String(length=15), nullable=False, server_default="")
        )
    with op.batch_alter_table("emr_note", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("signature_algorithm", sa.String(length=15), nullable=False, server_default="")
        )
    op.execute("UPDATE rx SET signature_algorithm = 'ed25519' WHERE signature <> ''")
    op.execute("UPDATE rx SET review_signature_algorithm = 'ed25519' WHERE review_signature <> ''")
    op.execute("UPDATE emr_note SET signature_algorithm = 'ed25519' WHERE signature <> ''")

    op.create_table(
        "device_contact",
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("last_pull_at", server_stub.db.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("staff_id", "device_id", name=op.f("pk_device_contact")),
    )


def downgrade() -> None:
    op.drop_table("device_contact")
    with op.batch_alter_table("emr_note", schema=None) as batch_op:
        batch_op.drop_column("signature_algorithm")
    with op.batch_alter_table("rx", schema=None) as batch_op:
        batch_op.drop_column("review_signature_algorithm")
        batch_op.drop_column("signature_algorithm")
    with op.batch_alter_table("signing_key", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sealed_key", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.drop_column("device_id")
