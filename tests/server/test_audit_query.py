"""The audit log's search on SQLite and PostgreSQL: who, action (exact or prefix, with ``_`` and ``%`` taken
literally), target contains, PC, time range, newest first in pages, and the CSV of the same entries; and
importing the same file over the same database twice on PostgreSQL audits one batch."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from server_stub.config import sqlite_url
from server_stub.db.engine import Database
from server_stub.db.migrate import upgrade
from server_stub.services import audit
from server_stub.services.audit_query import AuditFilter, csv_chunks, page
from server_stub.services.reference_import import import_file
from shared.reference_io.plan import ColumnMapping
from tests.reference_io.test_import import MAPPING, his_row, write_gb18030_csv

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = (
        request.getfixturevalue("pg_url") if request.param == "postgresql" else sqlite_url(tmp_path / "a.db")
    )
    upgrade(url)
    db = Database.open(url, pool_size=2)
    yield db
    db.dispose()


def _fill(db: Database) -> None:
    rows = [
        ("admin", "pc-it", "reference.import", "drug:药品.csv"),
        ("admin", "pc-it", "mutation.reference.save", "m-1"),
        ("nurse1", "pc-triage", "auth.login", None),
        ("doctor1", "pc-room-3", "auth.login", None),
        ("admin", "pc-it", "referenceXimport", "drug:x"),  # a prefix "reference." must not match this
        ("admin", "pc-it", "auth.login", None),
    ]
    with db.write() as conn:
        for minute, (username, device, action, target) in enumerate(rows):
            audit.append(
                conn, at=T0 + dt.timedelta(minutes=minute), action=action, outcome="ok",
                username=username, device_id=device, target=target, detail={"n": minute},
            )  # fmt: skip


def test_the_audit_log_is_searched_and_paged_newest_first(empty_db: Database) -> None:
    _fill(empty_db)
    with empty_db.read() as conn:
        every, following = page(conn, criteria=AuditFilter(), limit=4)
        assert [e["detail"]["n"] for e in every] == [5, 4, 3, 2] and following == every[-1]["id"]
        rest, end = page(conn, criteria=AuditFilter(), before=following, limit=4)
        assert [e["detail"]["n"] for e in rest] == [1, 0] and end is None

        def found(**criteria: object) -> list[int]:
            entries, _ = page(conn, criteria=AuditFilter(**criteria), limit=50)  # type: ignore[arg-type]
            return [e["detail"]["n"] for e in entries]

        assert found(username="admin") == [5, 4, 1, 0]
        assert found(action="auth.login") == [5, 3, 2]
        assert found(action="reference.") == [0]  # the dot is literal, no LIKE wildcard
        assert found(action="mutation.") == [1]
        assert found(target="药品") == [0]
        assert found(device_id="pc-triage") == [2]
        assert found(since=T0 + dt.timedelta(minutes=2), until=T0 + dt.timedelta(minutes=4)) == [3, 2]
        text = "".join(csv_chunks(conn, criteria=AuditFilter(username="admin"), batch=2))
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["action"] for r in rows] == [
        "auth.login",
        "referenceXimport",
        "mutation.reference.save",
        "reference.import",
    ]
    assert rows[-1]["target"] == "drug:药品.csv" and rows[-1]["device_id"] == "pc-it"
    with empty_db.read() as conn:
        assert audit.verify(conn).ok


def test_an_import_applied_twice_on_postgresql_changes_and_audits_once(pg_url: str, tmp_path: Path) -> None:
    from server_stub.seed.demo import seed_demo

    seed_demo(pg_url, patients=5)
    db = Database.open(pg_url, pool_size=2)
    try:
        path = write_gb18030_csv(
            tmp_path / "his.csv", [his_row("PG-1", "阿莫西林胶囊"), his_row("PG-2", "布洛芬片")]
        )
        mapping = ColumnMapping.parse(MAPPING)
        first = import_file(
            db, "drug", path, mapping=mapping, username="admin", staff_id="s", device_id="pc-it"
        )
        second = import_file(
            db, "drug", path, mapping=mapping, username="admin", staff_id="s", device_id="pc-it"
        )
        assert first.applied and first.plan.summary()["added"] == 2
        assert not second.applied and second.plan.summary()["unchanged"] == 2
        with db.read() as conn:
            entries, _ = page(conn, criteria=AuditFilter(action="reference.import"), limit=10)
            assert len(entries) == 1 and entries[0]["device_id"] == "pc-it"
            assert audit.verify(conn).ok
    finally:
        db.dispose()
