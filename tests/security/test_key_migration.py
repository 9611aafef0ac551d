"""Migration 0013 on a site's database that holds keys with PIN-sealed private keys (synced to every PC
until now): the sealed copies are dropped, those keys are revoked (their old signatures still verify)
and moved to the head of the change feed so every PC's cached copy is replaced; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from server_stub.config import sqlite_url
from server_stub.db.migrate import alembic_config, upgrade


def _before_0013(url: str) -> str:
    revision = ScriptDirectory.from_config(alembic_config(url)).get_revision("0013")
    assert revision is not None and isinstance(revision.down_revision, str)
    return revision.down_revision


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sealed_keys_are_dropped_and_their_keys_revoked_and_republished(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = sqlite_url(tmp_path / "site.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine = create_engine(url)
    registered = dt.datetime(2026, 1, 5, 8, 0)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, _before_0013(url))
        sealed = json.dumps({"format": "clinic-ed25519-scrypt-aesgcm-v1", "ciphertext": "secret"})
        for n, key_id in enumerate(("k1", "k2"), start=1):
            conn.execute(
                text(
                    "INSERT INTO signing_key (id, version, voided, staff_id, algorithm, public_key, fingerprint,"
                    " registered_at, revoked_reason, sealed_key, updated_at)"
                    " VALUES (:id, 1, false, 's1', 'ed25519', :pk, 'FP', :at, '', :sealed, :at)"
                ),
                {"id": key_id, "pk": "A" * 43 + str(n), "at": registered, "sealed": sealed},
            )
            conn.execute(
                text(
                    "INSERT INTO change_index (seq, kind, entity_id, scope) VALUES (:seq, 'signing_key', :id, '')"
                ),
                {"seq": n, "id": key_id},
            )
        conn.execute(text("UPDATE sync_counter SET value = 2 WHERE name = 'change_seq'"))
    engine.dispose()

    upgrade(url)

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("signing_key")}
            rows = conn.execute(
                text("SELECT id, version, revoked_at, device_id FROM signing_key ORDER BY id")
            ).all()
            feed = conn.execute(
                text("SELECT seq, entity_id FROM change_index WHERE kind = 'signing_key' ORDER BY seq")
            ).all()
            head = conn.execute(text("SELECT value FROM sync_counter WHERE name = 'change_seq'")).scalar()
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert "sealed_key" not in columns and "device_id" in columns
    assert [(r.id, r.version, r.revoked_at is not None, r.device_id) for r in rows] == [
        ("k1", 2, True, ""),
        ("k2", 2, True, ""),
    ]
    assert [tuple(f) for f in feed] == [(3, "k1"), (4, "k2")] and head == 4  # after every cursor PCs hold
    assert "device_contact" in tables
