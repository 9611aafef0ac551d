"""The change feed: pages for pull, the streamed snapshot for bootstrap, retention and the head."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, or_, select

from server_stub.db.engine import Database
from server_stub.db.tables import change_index
from server_stub.services.clock import utcnow
from server_stub.services.entities import load_many, read_counter
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


def _scope_filter(campus_id: str | None):  # type: ignore[no-untyped-def]
    return (
        change_index.c.scope == ""
        if campus_id is None
        else or_(change_index.c.scope == "", change_index.c.scope == campus_id)
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


def read_page(conn: Connection, *, cursor: int, limit: int, campus_id: str | None) -> Page:
    """Changes after ``cursor`` in feed order, each entity once at its latest version."""
    rows = conn.execute(
        select(change_index.c.seq, change_index.c.kind, change_index.c.entity_id)
        .where(change_index.c.seq > cursor, _scope_filter(campus_id))
        .order_by(change_index.c.seq)
        .limit(limit + 1)
    ).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        changes=_materialize(conn, rows), next_cursor=rows[-1].seq if rows else cursor, has_more=has_more
    )


def _materialize(conn: Connection, rows: Sequence[Any]) -> list[Change]:
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
                data=entity.model_dump(mode="json"),
            )
        )
    return changes


def reference_version(conn: Connection) -> int:
    """The feed position of the newest reference-data change (drugs, ICD, departments, staff …)."""
    value = conn.execute(
        select(change_index.c.seq)
        .where(change_index.c.kind.in_(sorted(REFERENCE_KINDS)))
        .order_by(change_index.c.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    return int(value or 0)


def stream_bootstrap(db: Database, *, after: int, campus_id: str | None) -> Iterator[bytes]:
    """NDJSON lines: a header, then chunks of items each closed by a checkpoint carrying the chunk's
    SHA-256, then an end line with the cursor to pull from. Resume by passing the last checkpoint's seq.

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
    while True:
        with db.read() as conn:
            page = read_page(conn, cursor=cursor, limit=BOOTSTRAP_CHUNK, campus_id=campus_id)
        lines = [BootstrapItem(change=change).model_dump_json().encode() for change in page.changes]
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
    yield BootstrapEnd(cursor=cursor, total=total).model_dump_json().encode() + b"\n"
