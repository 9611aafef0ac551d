"""The in-memory feed tail answers exactly what a database read of the feed would, on a real SQLite file:
every cursor, page size and campus scope; updates move an entity to the head; retention is honoured."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from server_stub.db.engine import Database
from server_stub.db.tables import ENTITY_TABLES
from server_stub.services import feed, push
from server_stub.services.auth import Principal
from server_stub.services.entities import to_entity
from server_stub.services.feed_tail import FeedTail, fetch_after
from server_stub.services.retention import compact
from server_stub.services.shared_reads import _read_and_encode
from shared.domain.entities import Campus, Staff
from shared.protocol.models import MutationEnvelope
from tests.support.api import patient_args


def _principal(db: Database, username: str) -> Principal:
    table = ENTITY_TABLES["staff"]
    with db.read() as conn:
        staff = to_entity(Staff, conn.execute(select(table).where(table.c.username == username)).one())
    return Principal(
        staff, f"pc-{username}", staff.campus_id, "t", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    )


class _Client:
    def __init__(self, db: Database, username: str) -> None:
        self.db = db
        self.principal = _principal(db, username)
        self.client_id = f"tail-{username}"
        self.seq = 0

    def push(self, name: str, args: dict[str, Any], base_version: int | None = None) -> Any:
        self.seq += 1
        envelope = MutationEnvelope.model_validate(
            {
                "mutation_id": f"{self.client_id}-{self.seq}",
                "client_seq": self.seq,
                "name": name,
                "args": args,
                "base_version": base_version,
                "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
            }
        )
        result = push.apply_batch(
            self.db,
            client_id=self.client_id,
            mutations=[envelope],
            principal=self.principal,
            timezone="Asia/Shanghai",
            lang="en",
        )
        return result.outcomes[0]


def _database_page(db: Database, cursor: int, limit: int, campus_id: str | None) -> Any:
    def read() -> feed.Page:
        with db.read() as conn:
            return feed.read_page(conn, cursor=cursor, limit=limit, campus_id=campus_id)

    return _read_and_encode(read)


def _campuses(db: Database) -> list[str | None]:
    table = ENTITY_TABLES["campus"]
    with db.read() as conn:
        return [None, *(to_entity(Campus, r).id for r in conn.execute(select(table)))]


def test_tail_pages_equal_database_pages_for_every_cursor_limit_and_scope(db: Database) -> None:
    with db.read() as conn:
        start = feed.head(conn)
    tail = FeedTail()
    tail.reset(fetch_after(db, max(0, start - 300)))
    nurse = _Client(db, "nurse1")
    registered = [nurse.push("patient.register", patient_args(name=f"尾巴{n}")) for n in range(12)]
    # updating a patient moves it to the head: it must appear once, at its new sequence
    updated = nurse.push(
        "patient.update", {"patient_id": registered[3].result["patient_id"], "name": "改名"}, base_version=1
    )
    assert updated.status == "applied", updated
    tail.apply(fetch_after(db, tail.head))
    with db.read() as conn:
        assert tail.head == feed.head(conn)

    compared = 0
    for campus_id in _campuses(db):
        for cursor in range(tail.floor, tail.head + 1):
            for limit in (1, 3, 50):
                assert tail.can_serve(cursor)
                mine = tail.page(cursor=cursor, limit=limit, campus_id=campus_id).page
                theirs = _database_page(db, cursor, limit, campus_id)
                assert mine == theirs, (cursor, limit, campus_id)
                compared += 1
    assert compared > 1000
    assert not tail.can_serve(tail.head + 1)
    assert not tail.can_serve(tail.floor - 1)


def test_batches_that_overlap_or_arrive_late_change_nothing(db: Database) -> None:
    with db.read() as conn:
        start = feed.head(conn)
    tail = FeedTail()
    tail.reset(fetch_after(db, start))
    nurse = _Client(db, "nurse2")
    nurse.push("patient.register", patient_args())
    early = fetch_after(db, start)
    nurse.push("patient.register", patient_args())
    late = fetch_after(db, start)
    assert tail.apply(late)
    assert not tail.apply(early)  # older news, already included
    assert tail.page(cursor=start, limit=10, campus_id=None).page == _database_page(db, start, 10, None)


def test_a_full_tail_forgets_its_oldest_changes_and_sends_older_cursors_to_the_database(db: Database) -> None:
    with db.read() as conn:
        start = feed.head(conn)
    tail = FeedTail(capacity=5)
    tail.reset(fetch_after(db, start))
    nurse = _Client(db, "nurse3")
    for _ in range(8):
        nurse.push("patient.register", patient_args())
    tail.apply(fetch_after(db, tail.head))
    assert tail.floor > start
    assert not tail.can_serve(start)
    assert tail.can_serve(tail.floor)
    assert tail.page(cursor=tail.floor, limit=50, campus_id=None).page == _database_page(
        db, tail.floor, 50, None
    )


def test_after_retention_the_tail_refuses_cursors_that_must_get_410(db: Database, demo_db_url: str) -> None:
    with db.read() as conn:
        start = feed.head(conn)
    tail = FeedTail()
    tail.reset(fetch_after(db, start))
    nurse = _Client(db, "nurse4")
    nurse.push("patient.register", patient_args())
    tail.apply(fetch_after(db, tail.head))
    assert tail.can_serve(start)
    _, min_cursor = compact(demo_db_url, days=90)
    nurse.push("patient.register", patient_args())
    tail.apply(fetch_after(db, tail.head))
    assert not tail.can_serve(start)
    assert tail.can_serve(min_cursor)
    assert tail.page(cursor=min_cursor, limit=50, campus_id=None).page == _database_page(
        db, min_cursor, 50, None
    )
