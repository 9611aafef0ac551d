"""The change feed: pages for pull, the streamed snapshot for bootstrap, retention and the head."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, or_, select

from server_stub.db.engine import Database
from server_stub.db.tables import campus_patient, change_index
from server_stub.services.clock import utcnow
from server_stub.services.entities import PATIENT_SCOPE_MARK, load_many, patient_cutoff, read_counter
from server_stub.services.feed_views import restrict
from shared.domain.entities import REFERENCE_KINDS
from shared.protocol.models import (
    BootstrapCheckpoint,
    BootstrapEnd,
    BootstrapHeader,
    BootstrapItem,
    Change,
)

BOOTSTRAP_CHUNK = 1000


class CursorExpired(Exception):
    def __init__(self, cursor: int, min_cursor: int) -> None:
        super().__init__(f"cursor {cursor} is older than {min_cursor}")
        self.cursor = cursor
        self.min_cursor = min_cursor


class CursorAhead(Exception):
    def __init__(self, cursor: int, head: int) -> None:
        super().__init__(f"cursor {cursor} is ahead of {head}")
        self.cursor = cursor
        self.head = head


@dataclass
class Page:
    changes: list[Change]
    next_cursor: int
    has_more: bool

    @property
    def patient_ids(self) -> tuple[str, ...]:
        """The patients this page sends (for the audit of bulk reads)."""
        return tuple(change.id for change in self.changes if change.kind == "patient")


def _scope_filter(campus_id: str | None):  # type: ignore[no-untyped-def]
    """Rows for everyone, for the campus, and patients the campus needs (the tail filters the same way,
    ``FeedTail.page``)."""
    if campus_id is None:
        return change_index.c.scope == ""
    return or_(
        change_index.c.scope == "",
        change_index.c.scope == campus_id,
        change_index.c.scope.contains(
            f"{PATIENT_SCOPE_MARK}{campus_id}{PATIENT_SCOPE_MARK}", autoescape=True
        ),
    )


def head(conn: Connection) -> int:
    return read_counter(conn, "change_seq")


def check_cursor(conn: Connection, cursor: int) -> None:
    """Refuse a cursor older than retention (410) or beyond the head (a database was restored)."""
    min_cursor = read_counter(conn, "min_cursor")
    if 0 < cursor < min_cursor:
        raise CursorExpired(cursor, min_cursor)
    current = head(conn)
    if cursor > current:
        raise CursorAhead(cursor, current)


def read_page(
    conn: Connection,
    *,
    cursor: int,
    limit: int,
    campus_id: str | None,
    restricted: frozenset[str] = frozenset(),
) -> Page:
    """Changes after ``cursor`` in feed order, each entity once at its latest version; kinds in
    ``restricted`` in their restricted form (``feed_views``)."""
    rows = conn.execute(
        select(change_index.c.seq, change_index.c.kind, change_index.c.entity_id)
        .where(change_index.c.seq > cursor, _scope_filter(campus_id))
        .order_by(change_index.c.seq)
        .limit(limit + 1)
    ).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        changes=_materialize(conn, rows, restricted),
        next_cursor=rows[-1].seq if rows else cursor,
        has_more=has_more,
    )


def _materialize(
    conn: Connection, rows: Sequence[Any], restricted: frozenset[str] = frozenset()
) -> list[Change]:
    by_kind: dict[str, list[str]] = {}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row.entity_id)
    loaded = {kind: load_many(conn, kind, ids) for kind, ids in by_kind.items()}
    changes = []
    for row in rows:
        entity = loaded[row.kind].get(row.entity_id)
        if entity is None:  # purged by retention after the index row was read; the next page heals it
            continue
        changes.append(
            Change(
                seq=row.seq,
                kind=row.kind,
                id=entity.id,
                version=entity.version,
                data=(
                    restrict(row.kind, entity.model_dump(mode="json"))
                    if row.kind in restricted
                    else entity.model_dump(mode="json")
                ),
            )
        )
    return changes


def _outside_window(conn: Connection, changes: list[Change], campus_id: str | None) -> set[str]:
    """Patients among ``changes`` whose tie to ``campus_id`` is older than the need-to-know window
    (a bootstrap leaves them out; see ``entities.PATIENT_WINDOW_DAYS``)."""
    ids = [change.id for change in changes if change.kind == "patient"]
    if not ids or campus_id is None:
        return set(ids)
    recent = set(
        conn.execute(
            select(campus_patient.c.patient_id).where(
                campus_patient.c.campus_id == campus_id,
                campus_patient.c.last_day >= patient_cutoff(),
                campus_patient.c.patient_id.in_(ids),
            )
        ).scalars()
    )
    return set(ids) - recent


def reference_version(conn: Connection) -> int:
    """The feed position of the newest reference-data change (drugs, ICD, departments, staff …)."""
    value = conn.execute(
        select(change_index.c.seq)
        .where(change_index.c.kind.in_(sorted(REFERENCE_KINDS)))
        .order_by(change_index.c.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    return int(value or 0)


def stream_bootstrap(
    db: Database,
    *,
    after: int,
    campus_id: str | None,
    restricted: frozenset[str] = frozenset(),
    on_patients: Callable[[list[str], bool], None] | None = None,
) -> Iterator[bytes]:
    """NDJSON lines: a header, then chunks of items each closed by a checkpoint carrying the chunk's
    SHA-256, then an end line with the cursor to pull from. Resume by passing the last checkpoint's seq.
    Patients go only to campuses that need them now (``_outside_window``); ``on_patients`` gets the
    ids of the patients sent and whether the stream ended (for the audit of bulk reads), also when
    the download stops half-way.

    Each chunk is read in its own short transaction, so a long download holds no lock. Rows that change
    during the download move to a later sequence and are sent again later, so nothing is skipped.
    """
    with db.read() as conn:
        check_cursor(conn, after)
        top = head(conn)
        estimate = conn.execute(
            select(func.count())
            .select_from(change_index)
            .where(change_index.c.seq > after, _scope_filter(campus_id))
        ).scalar_one()
        header = BootstrapHeader(
            after=after,
            head=top,
            server_time=utcnow(),
            reference_version=reference_version(conn),
            estimated_items=int(estimate),
        )
    yield header.model_dump_json().encode() + b"\n"
    cursor = after
    total = 0
    sent: list[str] = []
    ended = False
    try:
        while True:
            with db.read() as conn:
                page = read_page(
                    conn, cursor=cursor, limit=BOOTSTRAP_CHUNK, campus_id=campus_id, restricted=restricted
                )
                stale = _outside_window(conn, page.changes, campus_id)
            changes = [c for c in page.changes if not (c.kind == "patient" and c.id in stale)]
            lines = [BootstrapItem(change=change).model_dump_json().encode() for change in changes]
            sent.extend(c.id for c in changes if c.kind == "patient")
            if lines:
                yield b"\n".join(lines) + b"\n"
            cursor = page.next_cursor
            total += len(lines)
            if lines or page.has_more:
                checkpoint = BootstrapCheckpoint(
                    seq=cursor, count=len(lines), sha256=hashlib.sha256(b"\n".join(lines)).hexdigest()
                )
                yield checkpoint.model_dump_json().encode() + b"\n"
            if not page.has_more:
                break
        ended = True
    finally:
        # also when the download stops half-way: what was sent is audited
        if on_patients is not None:
            on_patients(sent, ended)
    yield BootstrapEnd(cursor=cursor, total=total).model_dump_json().encode() + b"\n"
