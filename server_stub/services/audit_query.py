"""Read the audit log for people: filter by who, what, which PC and when, newest first, in pages, and
write it out as CSV. Reads only: the log is append-only and no function here or anywhere else in the API
updates or deletes an entry (``audit.verify`` would show it)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, select

from server_stub.db.tables import audit_log

CSV_COLUMNS = ("id", "at", "username", "staff_id", "device_id", "action", "target", "outcome", "detail")


@dataclass(frozen=True)
class AuditFilter:
    """Every given criterion must hold. ``username``, ``device_id``: exact; ``action``: exact or, ending
    in ``.``, a prefix (``reference.``); ``target``: in the target or the detail (a drug's code finds the
    edits of that drug); ``hub_id``: entries of what that clinic hub relayed or read, and its enrolment
    and revocation; ``since`` inclusive, ``until`` exclusive."""

    username: str | None = None
    action: str | None = None
    target: str | None = None
    device_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    hub_id: str | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        c = audit_log.c
        if self.username:
            query = query.where(c.username == self.username)
        if self.action:
            if self.action.endswith("."):
                query = query.where(c.action.startswith(self.action, autoescape=True))
            else:
                query = query.where(c.action == self.action)
        if self.target:
            query = query.where(
                c.target.contains(self.target, autoescape=True)
                | c.detail.contains(self.target, autoescape=True)
            )
        if self.device_id:
            query = query.where(c.device_id == self.device_id)
        if self.hub_id:
            # the entry's detail is JSON written by ``audit._write`` (sorted keys, ", " and ": ")
            query = query.where(c.detail.contains(json.dumps({"hub_id": self.hub_id})[1:-1], autoescape=True))
        if self.since is not None:
            query = query.where(c.at >= self.since)
        if self.until is not None:
            query = query.where(c.at < self.until)
        return query


def _entry(row: Any) -> dict[str, Any]:
    try:
        detail = json.loads(row.detail)
    except ValueError:
        detail = row.detail
    return {
        "id": row.id,
        "at": row.at.astimezone(dt.UTC).isoformat(),
        "username": row.username,
        "staff_id": row.staff_id,
        "device_id": row.device_id,
        "action": row.action,
        "target": row.target,
        "outcome": row.outcome,
        "detail": detail,
    }


def page(
    conn: Connection, *, criteria: AuditFilter, before: int | None = None, limit: int = 100
) -> tuple[list[dict[str, Any]], int | None]:
    """Up to ``limit`` entries older than id ``before`` (None: the newest), newest first, and the
    ``before`` of the next page (None when there is none)."""
    query = criteria.apply(select(audit_log))
    if before is not None:
        query = query.where(audit_log.c.id < before)
    rows = conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit + 1)).all()
    entries = [_entry(row) for row in rows[:limit]]
    following = entries[-1]["id"] if len(rows) > limit else None
    return entries, following


def csv_chunks(conn: Connection, *, criteria: AuditFilter, batch: int = 2000) -> Iterator[str]:
    """Every matching entry as CSV text (a BOM first, so Excel shows the Chinese), newest first, read in
    batches so a long log never sits in memory at once."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(CSV_COLUMNS)
    before: int | None = None
    while True:
        entries, before = page(conn, criteria=criteria, before=before, limit=batch)
        for entry in entries:
            detail = entry["detail"]
            text = (
                json.dumps(detail, ensure_ascii=False, sort_keys=True)
                if not isinstance(detail, str)
                else detail
            )
            writer.writerow([*(entry[name] or "" for name in CSV_COLUMNS[:-1]), text])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if before is None:
            return
