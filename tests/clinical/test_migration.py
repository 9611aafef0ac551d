"""Migration 0004 on a database that already holds visits, prescriptions and keys (a site upgrading)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, text

from server_stub.config import sqlite_url
from server_stub.db.migrate import alembic_config, upgrade


def test_existing_rows_get_empty_snapshots_and_no_withdrawal(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.db")
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        now = dt.datetime(2026, 1, 5, 8, 0)
        conn.execute(
            text(
                "INSERT INTO visit (id, version, voided, patient_id, campus_id, department_id, source, status,"
                " visit_date, opened_at) VALUES ('v1', 1, 0, 'p1', 'c1', 'd1', 'walk_in', 'closed', :day, :now)"
            ),
            {"day": now.date(), "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO signing_key (id, version, voided, staff_id, algorithm, public_key, fingerprint,"
                " registered_at, revoked_reason) VALUES ('k1', 1, 0, 's1', 'ed25519', :pk, 'FP', :now, '')"
            ),
            {"pk": "A" * 44, "now": now},
        )
    engine.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
        visit = conn.execute(text("SELECT status, withdraw_reason, withdrawn_at FROM visit")).one()
        sealed = conn.execute(text("SELECT sealed_key FROM signing_key")).scalar_one()
        tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
    engine.dispose()
    assert tuple(visit) == ("closed", "", None)
    assert sealed == "{}"
    assert {"emr_note", "clinical_order", "note_template", "order_set"} <= tables
    upgrade(url)  # the rest, to the newest schema (keys per PC: the sealed copies are dropped)
    engine = create_engine(url)
    with engine.connect() as conn:
        columns = {r[1] for r in conn.execute(text("PRAGMA table_info(signing_key)"))}
    engine.dispose()
    assert "sealed_key" not in columns and "device_id" in columns
