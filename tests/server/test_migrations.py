"""Alembic migrations build exactly the schema the code describes (no create_all outside tests)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from server_stub.config import sqlite_url
from server_stub.db.migrate import upgrade
from server_stub.db.tables import metadata


def test_migrated_database_matches_the_table_definitions(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "m.db")
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    engine.dispose()
    assert diff == []
    assert journal == "wal"


def test_upgrading_twice_is_harmless_and_seeds_the_counters_once(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "m.db")
    upgrade(url)
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        counters = dict(conn.exec_driver_sql("SELECT name, value FROM sync_counter").all())
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert counters == {"change_seq": 0, "min_cursor": 0, "mrn": 0}
    assert {"patient", "drug", "mutation_log", "audit_log", "change_index", "alembic_version"} <= tables
