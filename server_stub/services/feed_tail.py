"""An in-memory tail of the change feed, already encoded as JSON, so pulls near the head (nearly all of
them: every PC that is in sync, every long-poll) are answered without a database read.

One tail per server process. It is filled from the database (``fetch_after`` reads the
``change_index`` rows after a sequence, exactly as a pull would, and encodes each change once), so it
works for every mutation handler and for writes made by other server processes or tools; after a
group of pushes commits, the group's own changes are encoded from what it wrote instead of being read
back (``fetch_after_commit``; tests check both give the same bytes). Commit order equals sequence
order (one counter row inside each write transaction), so the rows after a sequence are always a
gap-free extension of what the tail already holds.

Threading: ``fetch_after`` runs in a worker thread and touches no tail state; ``apply`` and ``page``
run on the event loop only, so the tail needs no lock.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select

from server_stub.db.engine import Database
from server_stub.db.tables import change_index
from server_stub.services.entities import (
    PATIENT_SCOPE_MARK,
    NotStoredExactly,
    as_stored,
    load_many,
    published,
    read_counter,
)
from server_stub.services.feed_views import RESTRICTABLE_KINDS, restrict
from server_stub.services.shared_reads import EncodedPage
from shared.domain.entities import Entity
from shared.protocol.models import Change

_change_json = TypeAdapter(Change)


@dataclass(frozen=True)
class TailEntry:
    seq: int
    kind: str
    entity_id: str
    scope: str
    json: bytes
    # the change in its restricted form (``feed_views``), for kinds that have one
    restricted_json: bytes | None = None


@dataclass(frozen=True)
class TailBatch:
    """Changes read after ``after``, in sequence order, with the retention floor at read time."""

    after: int
    entries: list[TailEntry]
    min_cursor: int


@dataclass(frozen=True)
class TailPage:
    page: EncodedPage
    # How far this page looked (the tail's head when nothing matched the caller's scope), so an empty
    # long-poll waits for news beyond it instead of waking for other campuses' changes.
    scanned_to: int


def fetch_after(
    db: Database, after: int, *, limit: int | None = None, before: int | None = None
) -> TailBatch:
    """Read and encode the current changes after ``after`` (and before ``before``, if given; worker
    thread; one short read)."""
    with db.read() as conn:
        min_cursor = read_counter(conn, "min_cursor")
        query = (
            select(change_index.c.seq, change_index.c.kind, change_index.c.entity_id, change_index.c.scope)
            .where(change_index.c.seq > after)
            .order_by(change_index.c.seq)
        )
        if before is not None:
            query = query.where(change_index.c.seq < before)
        if limit is not None:
            query = query.limit(limit)
        rows = conn.execute(query).all()
        by_kind: dict[str, list[str]] = {}
        for row in rows:
            by_kind.setdefault(row.kind, []).append(row.entity_id)
        loaded = {kind: load_many(conn, kind, ids) for kind, ids in by_kind.items()}
    entries = []
    for row in rows:
        entity = loaded[row.kind].get(row.entity_id)
        if entity is None:  # purged by retention meanwhile; a later read heals it, as in feed._materialize
            continue
        entries.append(_entry(row.seq, row.kind, row.scope, entity))
    return TailBatch(after=after, entries=entries, min_cursor=min_cursor)


def _entry(seq: int, kind: str, scope: str, entity: Entity) -> TailEntry:
    data = entity.model_dump(mode="json")
    change = Change(seq=seq, kind=kind, id=entity.id, version=entity.version, data=data)
    restricted = None
    if kind in RESTRICTABLE_KINDS:
        shown = restrict(kind, data)
        if shown is not data:  # unchanged (an rx without a pickup code): one encoding serves all
            restricted = _change_json.dump_json(change.model_copy(update={"data": shown}))
    return TailEntry(seq, kind, entity.id, scope, _change_json.dump_json(change), restricted)


def fetch_after_commit(db: Database, after: int, states: list[dict[str, Any]]) -> TailBatch:
    """The changes after ``after`` once a group of writes has committed (worker thread), with the
    group's own writes encoded from what it wrote (``entities.published``, ``as_stored``) instead of
    read back: only changes other writers made before the group's first position are read, and none
    at all when the tail already has everything before it. Commit order equals sequence order (the
    feed counter's row lock is held until commit), so every position before the group's is committed
    by now. Falls back to reading everything for several transactions or a write it cannot encode."""
    own = published(states[0]) if len(states) == 1 else []
    if not own or any(p.entity is None for p in own):
        return fetch_after(db, after)
    first, top = own[0].seq, own[-1].seq
    if after >= top:
        return TailBatch(after=after, entries=[], min_cursor=0)
    try:
        mine = [
            _entry(p.seq, p.kind, p.scope, as_stored(p.entity)) for p in own if p.seq > after and p.entity
        ]
    except NotStoredExactly:
        return fetch_after(db, after)
    if after + 1 >= first:
        return TailBatch(after=after, entries=mine, min_cursor=0)
    earlier = fetch_after(db, after, before=first)
    return TailBatch(after=after, entries=[*earlier.entries, *mine], min_cursor=earlier.min_cursor)


class FeedTail:
    """The newest ``capacity`` current changes. It can answer a pull whose cursor lies in
    ``[floor, head]``: every current change with a sequence above ``floor`` and up to ``head`` is here."""

    def __init__(self, *, capacity: int = 20000, page_cache: int = 64) -> None:
        self.capacity = capacity
        self.floor = 0
        self.head = 0
        self.min_cursor = 0
        self._seqs: list[int] = []  # ascending; may hold superseded sequences (not in ``_live``)
        self._live: dict[int, TailEntry] = {}
        self._by_entity: dict[tuple[str, str], int] = {}
        self._pages: OrderedDict[tuple[int, int, str | None, frozenset[str]], TailPage] = OrderedDict()
        self._page_cache = page_cache
        self._ready = False
        # Bumped for every change of a kind the tail takes in, and ``epoch`` on every reset: in-memory
        # caches of a kind (reference search) compare these to know they are still current.
        self.kind_changes: dict[str, int] = {}
        self.epoch = 0
        # Highest sequence of a change of one of ``urgent_kinds`` (see longpoll.URGENT_KINDS).
        self.urgent_kinds: frozenset[str] = frozenset()
        self.last_urgent = 0

    @property
    def ready(self) -> bool:
        return self._ready

    def reset(self, batch: TailBatch) -> None:
        """Start from ``batch``: the current changes after ``batch.after``."""
        self._seqs, self._live, self._by_entity = [], {}, {}
        self.epoch += 1
        self.floor = self.head = batch.after
        self.min_cursor = batch.min_cursor
        self._ready = True
        self.apply(batch)

    def apply(self, batch: TailBatch) -> bool:
        """Add what ``batch`` has beyond the tail's head (batches may overlap or arrive out of order);
        True if the head moved."""
        if not self._ready:
            return False
        if batch.after > self.head:  # cannot happen (batches start at an earlier head); be safe
            return False
        moved = False
        for entry in batch.entries:
            if entry.seq <= self.head:
                continue
            key = (entry.kind, entry.entity_id)
            older = self._by_entity.get(key)
            if older is not None:
                self._live.pop(older, None)
            self._by_entity[key] = entry.seq
            self._live[entry.seq] = entry
            self._seqs.append(entry.seq)
            self.head = entry.seq
            self.kind_changes[entry.kind] = self.kind_changes.get(entry.kind, 0) + 1
            if entry.kind in self.urgent_kinds:
                self.last_urgent = entry.seq
            moved = True
        if batch.min_cursor > self.min_cursor:
            # Retention purged rows: cursors before min_cursor get 410 from the database path.
            self.min_cursor = batch.min_cursor
            self._drop_through(max(self.floor, min(batch.min_cursor, self.head)))
        if moved:
            self._pages.clear()
            if len(self._live) > self.capacity:
                self._drop_through(self._seqs[len(self._seqs) - self.capacity - 1])
            elif len(self._seqs) > 2 * max(self.capacity, len(self._live)) + 1024:
                self._seqs = [s for s in self._seqs if s in self._live]
        return moved

    def _drop_through(self, seq: int) -> None:
        """Forget every change up to ``seq``; the tail then serves cursors from ``seq`` on."""
        cut = bisect.bisect_right(self._seqs, seq)
        for old in self._seqs[:cut]:
            entry = self._live.pop(old, None)
            if entry is not None and self._by_entity.get((entry.kind, entry.entity_id)) == old:
                del self._by_entity[(entry.kind, entry.entity_id)]
        self._seqs = [s for s in self._seqs[cut:] if s in self._live]
        self.floor = max(self.floor, seq)
        self._pages.clear()

    def version_of(self, kind: str) -> tuple[int, int]:
        """Changes to ``kind`` seen so far (with the reset epoch): equal values mean no change between."""
        return self.epoch, self.kind_changes.get(kind, 0)

    def can_serve(self, cursor: int) -> bool:
        if not self._ready or cursor < self.floor or cursor > self.head:
            return False
        return not 0 < cursor < self.min_cursor

    def page(
        self, *, cursor: int, limit: int, campus_id: str | None, restricted: frozenset[str] = frozenset()
    ) -> TailPage:
        """The same page ``feed.read_page`` would give, from memory (call ``can_serve`` first).
        Pages are cached per (cursor, limit, campus, view): PCs of one campus and role share them."""
        key = (cursor, limit, campus_id, restricted)
        cached = self._pages.get(key)
        if cached is not None:
            return cached
        parts: list[bytes] = []
        patients: list[str] = []
        last = cursor
        has_more = False
        # the same scope filter as the database's (``feed._scope_filter``), inline: the long-poll's hot path
        needed = f"{PATIENT_SCOPE_MARK}{campus_id}{PATIENT_SCOPE_MARK}" if campus_id is not None else None
        for seq in self._seqs[bisect.bisect_right(self._seqs, cursor) :]:
            entry = self._live.get(seq)
            if entry is None:
                continue
            scope = entry.scope
            if (
                scope
                and scope != campus_id
                and (needed is None or scope[0] != PATIENT_SCOPE_MARK or needed not in scope)
            ):
                continue
            if len(parts) == limit:
                has_more = True
                break
            if entry.restricted_json is not None and entry.kind in restricted:
                parts.append(entry.restricted_json)
            else:
                parts.append(entry.json)
            if entry.kind == "patient":
                patients.append(entry.entity_id)
            last = seq
        encoded = EncodedPage(
            changes_json=b"[" + b",".join(parts) + b"]",
            count=len(parts),
            next_cursor=last,
            has_more=has_more,
            patient_ids=tuple(patients),
        )
        result = TailPage(encoded, scanned_to=last if has_more else max(last, self.head))
        self._pages[key] = result
        if len(self._pages) > self._page_cache:
            self._pages.popitem(last=False)
        return result
