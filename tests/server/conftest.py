from __future__ import annotations

from collections.abc import Iterator

import pytest

from server_stub.db.engine import Database


@pytest.fixture
def db(demo_db_url: str) -> Iterator[Database]:
    """The server's database layer on a fresh copy of the demo database, without a server process."""
    database = Database.open(demo_db_url, pool_size=4)
    yield database
    database.dispose()
