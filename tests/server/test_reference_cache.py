"""Reference searches from memory give exactly what the SQL search gives, on a real seeded SQLite file,
and follow changes to the data as soon as the feed tail has taken them in."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select

from server_stub.db.engine import Database
from server_stub.db.tables import ENTITY_TABLES
from server_stub.services.entities import to_entity, write_entities
from server_stub.services.feed_tail import FeedTail, fetch_after
from server_stub.services.reference_cache import ReferenceCache, load_kind, sql_search
from shared.domain.entities import Drug

QUERIES = ["", "a", "AM", "amx", "阿莫", "片", "ｑ", "0", "%", "_", "zz-none", "胶囊", "j", "B"]
KINDS = ["drug", "diagnosis", "exam_item", "staff", "department", "room", "campus", "frequency", "route"]


def _tail(db: Database) -> FeedTail:
    tail = FeedTail()
    tail.reset(fetch_after(db, 0))
    return tail


def _sql(db: Database, kind: str, q: str, limit: int) -> list[dict[str, object]]:
    with db.read() as conn:
        return sql_search(conn, kind=kind, q=q, limit=limit)


def test_memory_answers_equal_the_sql_search_for_every_kind_query_and_limit(db: Database) -> None:
    cache = ReferenceCache(db, _tail(db))

    async def run() -> int:
        compared = 0
        for kind in KINDS:
            for q in QUERIES:
                for limit in (1, 20, 500):
                    mine = json.loads(await cache.search(kind, q, limit))
                    assert mine == _sql(db, kind, q, limit), (kind, q, limit)
                    compared += bool(mine)
        return compared

    assert asyncio.run(run()) > 100  # many non-empty answers, not a vacuous match
    assert cache.loads == len(KINDS)  # one load per kind, the rest from memory


def test_a_changed_or_voided_drug_shows_once_the_tail_has_the_change(db: Database) -> None:
    tail = _tail(db)
    cache = ReferenceCache(db, tail)
    table = ENTITY_TABLES["drug"]
    with db.read() as conn:
        first = to_entity(Drug, conn.execute(select(table).order_by(table.c.code).limit(1)).one())
        second = to_entity(Drug, conn.execute(select(table).order_by(table.c.code).offset(1).limit(1)).one())

    async def search(q: str) -> list[dict[str, object]]:
        return json.loads(await cache.search("drug", q, 50))  # type: ignore[no-any-return]

    before = asyncio.run(search(first.code))
    assert [d["id"] for d in before][:1] == [first.id]
    renamed = first.model_copy(update={"generic_name": "测试改名药", "version": first.version + 1})
    gone = second.model_copy(update={"voided": True, "version": second.version + 1})
    with db.write() as conn:
        write_entities(conn, [renamed, gone])
    # Not yet in the tail: the cache still answers as of the tail (like a pull would) …
    assert asyncio.run(search("测试改名")) == []
    tail.apply(fetch_after(db, tail.head))
    # … and once the tail has the changes, the search follows them.
    assert [d["id"] for d in asyncio.run(search("测试改名"))] == [first.id]
    assert second.id not in {d["id"] for d in asyncio.run(search(""))}
    for q in ("", "测试改名", first.code, second.code):
        assert asyncio.run(search(q)) == _sql(db, "drug", q, 50)


def test_a_change_during_a_load_is_not_lost(db: Database) -> None:
    tail = _tail(db)
    table = ENTITY_TABLES["drug"]
    with db.read() as conn:
        drug = to_entity(Drug, conn.execute(select(table).order_by(table.c.code).limit(1)).one())

    def slow_load(database: Database, kind: str) -> list:  # type: ignore[type-arg]
        rows = load_kind(database, kind)
        # A write commits and the tail takes it in after this read and before the cache stores it.
        changed = drug.model_copy(update={"generic_name": "加载中改名", "version": drug.version + 1})
        with database.write() as conn:
            write_entities(conn, [changed])
        tail.apply(fetch_after(database, tail.head))  # the loop is parked on this load meanwhile
        return rows

    cache = ReferenceCache(db, tail, loader=slow_load)

    async def run() -> list[dict[str, object]]:
        await cache.search("drug", "", 5)
        cache._loader = load_kind  # noqa: SLF001 - the next load is an ordinary one
        return json.loads(await cache.search("drug", "加载中", 5))  # type: ignore[no-any-return]

    assert [d["id"] for d in asyncio.run(run())] == [drug.id]
