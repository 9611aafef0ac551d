"""The in-memory feed tail answers exactly what a database read of the feed would, on a real SQLite file:
every cursor, page size and campus scope; updates move an entity to the head; retention is honoured.
A group's own writes go into the tail as written, without reading them back, and still give exactly
what a read would (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select

from server_stub.db.engine import Database
from server_stub.db.tables import ENTITY_TABLES
from server_stub.seed.demo import seed_demo
from server_stub.services import feed, push
from server_stub.services.auth import Principal
from server_stub.services.entities import to_entity, write_entities
from server_stub.services.feed_tail import FeedTail, TailBatch, fetch_after, fetch_after_commit
from server_stub.services.group_commit import GroupCommitter
from server_stub.services.retention import compact
from server_stub.services.shared_reads import _read_and_encode
from shared.domain.entities import ENTITY_BY_KIND, Campus, Drug, Entity, Staff
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


def _tail_at_head(db: Database, *, capacity: int = 20000) -> tuple[FeedTail, int]:
    """A tail started at the feed's head now, and that head."""
    with db.read() as conn:
        start = feed.head(conn)
    tail = FeedTail(capacity=capacity)
    tail.reset(fetch_after(db, start))
    return tail, start


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
    tail, start = _tail_at_head(db)
    nurse = _Client(db, "nurse2")
    nurse.push("patient.register", patient_args())
    early = fetch_after(db, start)
    nurse.push("patient.register", patient_args())
    late = fetch_after(db, start)
    assert tail.apply(late)
    assert not tail.apply(early)  # older news, already included
    assert tail.page(cursor=start, limit=10, campus_id=None).page == _database_page(db, start, 10, None)


def test_a_full_tail_forgets_its_oldest_changes_and_sends_older_cursors_to_the_database(db: Database) -> None:
    tail, start = _tail_at_head(db, capacity=5)
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
    tail, start = _tail_at_head(db)
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


# --- a group's own writes, encoded from what it wrote (``fetch_after_commit``) --------------------------


def _as_a_handler_holds_it(entity: Entity) -> Entity:
    """A newer version of ``entity`` with values as handlers make them, which the database then stores
    differently: timestamps in China time, decimals without trailing zeros (10 as 1E+1)."""
    china = dt.timezone(dt.timedelta(hours=8))
    changed: dict[str, Any] = {"version": entity.version + 1}
    for name in type(entity).model_fields:
        value = getattr(entity, name)
        if isinstance(value, dt.datetime):
            changed[name] = value.astimezone(china)
        elif isinstance(value, Decimal):
            changed[name] = value.normalize()
    return entity.model_copy(update=changed)


def _one_of_each_kind(db: Database) -> list[Entity]:
    found = []
    with db.read() as conn:
        for kind, table in ENTITY_TABLES.items():
            row = conn.execute(select(table).order_by(table.c.id).limit(1)).first()
            if row is not None:
                found.append(to_entity(ENTITY_BY_KIND[kind], row))
    return found


def _commit_and_fetch(db: Database, tail: FeedTail, writes: list[Entity]) -> tuple[TailBatch, _Reads]:
    """Commit ``writes`` as one group, then what ``fetch_after_commit`` gives the tail, and what it read."""
    states = _commit_writes(db, writes)
    with _Reads(db) as reads:
        return fetch_after_commit(db, tail.head, states), reads


def _commit_writes(db: Database, writes: list[Entity]) -> list[dict[str, Any]]:
    """Write ``writes`` in one group of the server's group committer; the committed transactions'
    states, as the committer hands them to ``fetch_after_commit``."""

    async def main() -> list[dict[str, Any]]:
        committed: list[list[dict[str, Any]]] = []
        committer = GroupCommitter(db, after_commit=list, on_committed=committed.append)
        await committer.start()
        try:
            await committer.run(lambda conn: write_entities(conn, writes))
        finally:
            await committer.stop()
        return committed[0]

    return asyncio.run(main())


class _Reads:
    """Statements the database's reader engine runs while recording."""

    def __init__(self, db: Database) -> None:
        self.engine, self.sent = db.reader, list[str]()

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        self.sent.append(statement)

    @property
    def entity_tables(self) -> set[str]:
        """Entity tables read (the rows themselves, not the feed's index or counters)."""
        return {kind for s in self.sent for kind in ENTITY_TABLES if f"FROM {kind} " in f"{s} "}

    def __enter__(self) -> _Reads:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


def _assert_tail_equals_database(db: Database, tail: FeedTail, start: int) -> None:
    with db.read() as conn:
        assert tail.head == feed.head(conn)
    for campus_id in _campuses(db):
        for cursor in range(start, tail.head + 1):
            for limit in (1, 7, 500):
                mine = tail.page(cursor=cursor, limit=limit, campus_id=campus_id).page
                assert mine == _database_page(db, cursor, limit, campus_id), (cursor, limit, campus_id)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """The demo database on SQLite, and on PostgreSQL (whose numeric and timestamp columns give values
    back differently)."""
    if request.param == "sqlite":
        url = request.getfixturevalue("demo_db_url")
    else:
        url = request.getfixturevalue("pg_url")
        seed_demo(url, patients=30)
    database = Database.open(url, pool_size=4)
    yield database
    database.dispose()


def test_a_groups_own_writes_are_encoded_exactly_as_reading_them_back_would(any_db: Database) -> None:
    db = any_db
    tail, start = _tail_at_head(db)
    writes = [_as_a_handler_holds_it(entity) for entity in _one_of_each_kind(db)]
    assert len(writes) >= 20 and any(isinstance(getattr(w, "price", None), Decimal) for w in writes)
    batch, reads = _commit_and_fetch(db, tail, writes)
    assert reads.sent == [], "the tail had everything before the group: nothing needs reading"
    assert [entry.seq for entry in batch.entries] == list(range(start + 1, start + len(writes) + 1))
    assert tail.apply(batch)
    _assert_tail_equals_database(db, tail, start)


def test_changes_of_other_writers_before_the_group_are_read_and_its_own_are_not(db: Database) -> None:
    tail, start = _tail_at_head(db)
    other = _Client(db, "doctor2")  # another writer, whose changes this tail has not seen
    for n in range(3):
        other.push("patient.register", patient_args(name=f"别人{n}"))
    writes = [_as_a_handler_holds_it(entity) for entity in _one_of_each_kind(db)]
    batch, reads = _commit_and_fetch(db, tail, writes)
    assert reads.entity_tables == {"patient"}, "only the other writer's patients are read"
    assert len(batch.entries) == 3 + len(writes)
    assert tail.apply(batch)
    _assert_tail_equals_database(db, tail, start)


def test_a_value_the_database_rounds_is_read_back_rather_than_encoded(any_db: Database) -> None:
    db = any_db
    tail, start = _tail_at_head(db)
    drug = next(e for e in _one_of_each_kind(db) if isinstance(e, Drug))
    rounded = drug.model_copy(update={"version": drug.version + 1, "price": Decimal("1.23456")})
    batch, reads = _commit_and_fetch(db, tail, [rounded])
    assert reads.entity_tables == {"drug"}
    assert tail.apply(batch)
    _assert_tail_equals_database(db, tail, start)
    assert b'"price":"1.2346"' in tail.page(cursor=start, limit=5, campus_id=None).page.changes_json


def test_tail_pages_equal_database_pages_for_every_roles_view_and_patients_of_two_campuses(
    db: Database,
) -> None:
    from server_stub.services.feed_views import restricted_kinds

    with db.read() as conn:
        start = feed.head(conn)
    tail = FeedTail()
    tail.reset(fetch_after(db, start))
    main, east = _Client(db, "nurse1"), _Client(db, "nurse2")
    assert main.principal.campus_id != east.principal.campus_id
    registered = [main.push("patient.register", patient_args(name=f"视图{n}")) for n in range(4)]
    departments = ENTITY_TABLES["department"]
    with db.read() as conn:
        east_department = conn.execute(
            select(departments.c.id).where(
                departments.c.campus_id == east.principal.campus_id, departments.c.kind == "clinical"
            )
        ).scalar()
    shared_patient = registered[1].result["patient_id"]
    opened = east.push(
        "visit.open",
        {"id": f"v-{shared_patient}", "patient_id": shared_patient, "department_id": east_department},
    )
    assert opened.status == "applied", opened
    tail.apply(fetch_after(db, tail.head))

    views = {restricted_kinds({"pharmacist"}), restricted_kinds({"nurse"}), restricted_kinds({"admin"})}
    assert len(views) == 3
    for campus_id in _campuses(db):
        for restricted in views:
            for cursor in range(tail.floor, tail.head + 1):
                mine = tail.page(cursor=cursor, limit=50, campus_id=campus_id, restricted=restricted).page

                def read(
                    cursor: int = cursor, campus_id: str | None = campus_id, r: frozenset[str] = restricted
                ) -> Any:
                    with db.read() as conn:
                        return feed.read_page(
                            conn, cursor=cursor, limit=50, campus_id=campus_id, restricted=r
                        )

                assert mine == _read_and_encode(read), (cursor, campus_id, restricted)
    east_page = tail.page(cursor=start, limit=50, campus_id=east.principal.campus_id).page
    assert east_page.patient_ids == (shared_patient,)  # only the patient with business at EAST
    masked = tail.page(
        cursor=start,
        limit=50,
        campus_id=main.principal.campus_id,
        restricted=restricted_kinds({"admin"}),  # IT sees identifiers masked
    )
    assert b"13812345678" not in masked.page.changes_json and b"138****5678" in masked.page.changes_json
