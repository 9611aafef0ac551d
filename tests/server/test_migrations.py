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


def test_seeding_again_on_a_later_day_adds_that_days_clinics_only(tmp_path: Path) -> None:
    import datetime as dt
    from unittest import mock

    from server_stub.seed import demo

    url = sqlite_url(tmp_path / "demo.db")
    assert demo.seed_demo(url, patients=30).created
    assert demo.seed_demo(url, patients=30).counts == {}  # same day: nothing to add
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with mock.patch.object(demo, "utcnow", return_value=tomorrow):
        again = demo.seed_demo(url, patients=30)
    assert not again.created and sum(again.counts.values()) > 48
    engine = create_engine(url)
    with engine.connect() as conn:
        days = conn.exec_driver_sql("SELECT COUNT(DISTINCT date) FROM schedule").scalar()
    engine.dispose()
    assert days == 2
