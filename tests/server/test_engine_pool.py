"""Pooled PostgreSQL connections: one idle for a while is pinged before use and replaced when the database
dropped it; one used moments ago is handed out without a ping (a round trip saved on every busy checkout),
and if the database did drop it, that one statement fails and the next gets a fresh connection."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from server_stub.db import engine as engine_module
from server_stub.db.engine import Database


def _backend_pid(db: Database) -> int:
    with db.read() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _drop(pg_url: str, pid: int) -> None:
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    admin.dispose()


class _Pings:
    def __init__(self, db: Database) -> None:
        self.count = 0
        dialect: Any = db.reader.dialect
        real = dialect.do_ping

        def counted(dbapi_conn: Any) -> bool:
            self.count += 1
            return bool(real(dbapi_conn))

        dialect.do_ping = counted


@pytest.fixture
def one_connection(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Database, _Pings]]:
    monkeypatch.setattr(engine_module, "PING_IF_IDLE_SECONDS", 0.3)
    db = Database.open(pg_url, pool_size=1, max_overflow=0)
    yield db, _Pings(db)
    db.dispose()


def test_a_connection_idle_for_a_while_is_pinged_and_replaced_when_dropped(
    one_connection: tuple[Database, _Pings], pg_url: str
) -> None:
    db, pings = one_connection
    first = _backend_pid(db)
    _drop(pg_url, first)
    time.sleep(0.5)
    assert _backend_pid(db) != first, "the dropped connection was replaced before use"
    assert pings.count == 1


def test_a_connection_used_moments_ago_is_not_pinged_and_a_drop_fails_only_one_statement(
    one_connection: tuple[Database, _Pings], pg_url: str
) -> None:
    db, pings = one_connection
    first = _backend_pid(db)
    assert _backend_pid(db) == first
    assert pings.count == 0, "a connection used moments ago goes out without a ping"
    _drop(pg_url, first)
    with pytest.raises(DBAPIError) as failed:
        _backend_pid(db)
    assert failed.value.connection_invalidated
    assert _backend_pid(db) != first, "the next statement gets a fresh connection"
