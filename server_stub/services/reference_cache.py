"""Reference-data searches (drugs, ICD-10, departments …) answered from memory, already encoded as JSON.

Reference data is read far more often than it changes, so each server process keeps the non-voided
rows of a kind in the database's own order, each row encoded once, and filters them in Python with the
same rules as the SQL search (prefix on codes and pinyin initials, substring on names, case-insensitive,
ordered like the query, at most ``limit``). Answers for repeated searches are kept too.

A kind's rows are reloaded when the process's feed tail has taken in a change of that kind since they
were read (every write of an entity goes through the feed, from this process or any other), so a search
is never staler than a pull would be.

Threading: ``search`` runs on the event loop; loading a kind runs in a worker thread and touches no
cache state (one load per kind at a time).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, or_, select

from server_stub.db.engine import Database
from server_stub.db.tables import ENTITY_TABLES
from server_stub.services.entities import to_entity
from server_stub.services.feed_tail import FeedTail
from server_stub.services.reference_search import (
    SearchKeys,
    order_column,
    search_columns,
    search_keys,
)
from shared.domain.entities import ENTITY_BY_KIND
from shared.domain.search_keys import normalize_query


def sql_search(conn: Connection, *, kind: str, q: str, limit: int) -> list[dict[str, Any]]:
    """The same search as one SQL query (the definition the in-memory answers must equal)."""
    entity_type = ENTITY_BY_KIND[kind]
    table = ENTITY_TABLES[kind]
    query = select(table).where(table.c.voided.is_(False))
    text = normalize_query(q)
    if text:
        prefix, contains = search_columns(kind)
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions = [table.c[c].ilike(f"{escaped}%", escape="\\") for c in prefix]
        conditions += [table.c[c].ilike(f"%{escaped}%", escape="\\") for c in contains]
        query = query.where(or_(*conditions))
    order = (table.c[order_column(kind)], table.c.id)
    rows = conn.execute(query.order_by(*order).limit(limit)).all()
    return [to_entity(entity_type, row).model_dump(mode="json") for row in rows]


@dataclass(frozen=True)
class _Row:
    keys: SearchKeys
    json: bytes


@dataclass(frozen=True)
class _Kind:
    version: tuple[int, int]
    rows: list[_Row]


def load_kind(db: Database, kind: str) -> list[_Row]:
    """Every non-voided row of ``kind`` in the order the SQL search uses (worker thread)."""
    entity_type = ENTITY_BY_KIND[kind]
    table = ENTITY_TABLES[kind]
    order = (table.c[order_column(kind)], table.c.id)
    with db.read() as conn:
        rows = conn.execute(select(table).where(table.c.voided.is_(False)).order_by(*order)).all()
    out = []
    for row in rows:
        out.append(
            _Row(
                keys=search_keys(kind, row._mapping),
                json=to_entity(entity_type, row).model_dump_json().encode(),
            )
        )
    return out


class ReferenceCache:
    """Per process; event loop only (not thread-safe, needs no lock)."""

    def __init__(
        self,
        db: Database,
        tail: FeedTail,
        *,
        answers: int = 4096,
        loader: Callable[[Database, str], list[_Row]] = load_kind,
    ) -> None:
        self.db = db
        self.tail = tail
        self._loader = loader
        self._kinds: dict[str, _Kind] = {}
        self._loading: dict[str, asyncio.Future[_Kind]] = {}
        self._answers: OrderedDict[tuple[str, str, int], tuple[tuple[int, int], bytes]] = OrderedDict()
        self._max_answers = answers
        self.loads = 0

    async def search(self, kind: str, q: str, limit: int) -> bytes:
        """The JSON array the SQL search would give for ``q`` (already normalised or not)."""
        text = normalize_query(q)
        version = self.tail.version_of(kind)
        key = (kind, text, limit)
        cached = self._answers.get(key)
        if cached is not None and cached[0] == version:
            self._answers.move_to_end(key)
            return cached[1]
        rows = (await self._rows(kind, version)).rows
        matches: Iterator[_Row] = (r for r in rows if r.keys.matches(text))
        parts = []
        for row in matches:
            parts.append(row.json)
            if len(parts) == limit:
                break
        body = b"[" + b",".join(parts) + b"]"
        self._answers[key] = (version, body)
        if len(self._answers) > self._max_answers:
            self._answers.popitem(last=False)
        return body

    async def _rows(self, kind: str, version: tuple[int, int]) -> _Kind:
        current = self._kinds.get(kind)
        if current is not None and current.version == version:
            return current
        loading = self._loading.get(kind)
        if loading is not None:
            found = await asyncio.shield(loading)
            if found.version == version:
                return found
            return await self._rows(kind, self.tail.version_of(kind))
        future: asyncio.Future[_Kind] = asyncio.get_running_loop().create_future()
        self._loading[kind] = future
        try:
            # The version is taken BEFORE the read: a change that lands during the read bumps the tail's
            # count, so these rows are reloaded at the next search rather than trusted.
            rows = await asyncio.to_thread(self._loader, self.db, kind)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            self._loading.pop(kind, None)
        loaded = _Kind(version, rows)
        self.loads += 1
        self._kinds[kind] = loaded
        future.set_result(loaded)
        return loaded
