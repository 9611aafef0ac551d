"""Append-only audit log with a keyed hash chain, and its verification (``clinic audit-verify``).

Each entry's ``hash`` seals its content and the previous entry's hash with HMAC-SHA256 under a key kept
outside the database (``audit_key``), so a database writer who rewrites an entry cannot recompute the
seals. Entries written before the key existed (plain SHA-256, "legacy") are verified as such up to the
anchor the key file holds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from server_stub.db.engine import pending, transaction_state
from server_stub.db.tables import audit_head, audit_log
from server_stub.services import audit_key
from server_stub.services.audit_key import AuditKey

GENESIS_HASH = "0" * 64

# Built once (see entities.py): one append runs three of these per applied mutation.
_READ_HEAD = select(audit_head).where(audit_head.c.id == 1).with_for_update()
_INSERT = audit_log.insert()
_MOVE_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == 1)
    .values(last_id=bindparam("b_last_id"), last_hash=bindparam("b_last_hash"))
)


def _canonical(row: dict[str, Any]) -> str:
    return json.dumps(
        {
            "id": row["id"],
            "at": row["at"].astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "staff_id": row["staff_id"],
            "username": row["username"],
            "device_id": row["device_id"],
            "action": row["action"],
            "target": row["target"],
            "outcome": row["outcome"],
            "detail": row["detail"],
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )


def _row_hash(prev_hash: str, row: dict[str, Any], key: AuditKey | None = None) -> str:
    """The entry's seal: HMAC-SHA256 under the audit key, or plain SHA-256 for legacy entries."""
    message = (prev_hash + _canonical(row)).encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key.key, message, hashlib.sha256).hexdigest()


_HEAD = "audit_head"


def lock_head(conn: Connection) -> None:
    """Lock the chain's head row for the rest of the caller's transaction (no-op on SQLite, whose
    write transactions are exclusive anyway). Inside a ``Database.write`` transaction the head read
    here is kept, so the deferred entries written at its end need not read it again."""
    head = conn.execute(_READ_HEAD).one()
    state = transaction_state(conn)
    if state is not None:
        state[_HEAD] = (int(head.last_id), str(head.last_hash))


def append(
    conn: Connection,
    *,
    at: dt.datetime,
    action: str,
    outcome: str,
    staff_id: str | None = None,
    username: str | None = None,
    device_id: str | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one entry inside the caller's transaction; the head row's lock serialises appenders."""
    return _write(conn, [_entry(at, action, outcome, staff_id, username, device_id, target, detail)])


def _entry(
    at: dt.datetime,
    action: str,
    outcome: str,
    staff_id: str | None,
    username: str | None,
    device_id: str | None,
    target: str | None,
    detail: dict[str, Any] | Callable[[], dict[str, Any]] | None,
) -> dict[str, Any]:
    return {
        "at": at,
        "staff_id": staff_id,
        "username": username,
        "device_id": device_id,
        "action": action,
        "target": target,
        "outcome": outcome,
        "detail": detail,
    }


_PENDING = "audit_pending"
# Audit entries are written last before a commit: after the feed and the mutation log, whose
# sequences their details carry (``engine.before_commit`` order).
FLUSH_ORDER = 30


def defer(
    conn: Connection,
    *,
    at: dt.datetime,
    action: str,
    outcome: str,
    staff_id: str | None = None,
    username: str | None = None,
    device_id: str | None = None,
    target: str | None = None,
    detail: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
) -> None:
    """Like ``append``, but the entry is written just before the caller's ``Database.write``
    transaction commits, together with the other entries deferred in it: one read and one update of
    the chain's head and one multi-row insert per transaction instead of three statements per entry.
    Entries keep the order in which they were deferred; a callable ``detail`` is called then (it may
    carry values the transaction settles at its end). Outside a ``Database.write`` transaction the
    entry is appended at once. A caller that rolls back to a savepoint must drop the entries deferred
    since (``engine.pending_mark`` / ``engine.drop_pending``)."""
    entry = _entry(at, action, outcome, staff_id, username, device_id, target, detail)
    rows = pending(conn, _PENDING, _write, order=FLUSH_ORDER)
    if rows is None:
        _write(conn, [entry])
    else:
        rows.append(entry)


def _write(conn: Connection, entries: list[dict[str, Any]]) -> int:
    """Chain ``entries`` onto the head (locked) and insert them in one statement; one head update.
    Returns the last entry's id (0 for none)."""
    if not entries:  # all dropped with their savepoints
        return 0
    state = transaction_state(conn)
    kept = state.pop(_HEAD, None) if state is not None else None
    if kept is None:
        head = conn.execute(_READ_HEAD).one()
        kept = (int(head.last_id), str(head.last_hash))
    last_id, last_hash = kept
    key = audit_key.for_connection(conn)
    rows = []
    for entry in entries:
        last_id += 1
        detail = entry["detail"]
        detail = json.dumps(
            (detail() if callable(detail) else detail) or {}, ensure_ascii=False, sort_keys=True, default=str
        )
        row = {"id": last_id, **entry, "detail": detail, "prev_hash": last_hash}
        row["hash"] = last_hash = _row_hash(
            last_hash, row, key if key and last_id > key.legacy_until else None
        )
        rows.append(row)
    conn.execute(_INSERT, rows)
    conn.execute(_MOVE_HEAD, {"b_last_id": last_id, "b_last_hash": last_hash})
    if state is not None:
        state[_HEAD] = (last_id, last_hash)
    return last_id


@dataclass
class AuditReport:
    checked: int
    problems: list[str]
    legacy: int = 0  # entries before the key existed (plain SHA-256, checked against the key's anchor)
    key_id: str | None = None  # None: no key found, so every entry is only hash-chained

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(conn: Connection, *, batch: int = 5000, key: AuditKey | None = None) -> AuditReport:
    """Walk the chain from the start: detects edited rows, deleted rows (gaps), a truncated tail and,
    with the key (``key``, else the database's key file, see ``audit_key``), rewrites whose hashes were
    recomputed."""
    sealer = key or audit_key.for_connection(conn)
    legacy_until = sealer.legacy_until if sealer is not None else None
    legacy = 0
    problems: list[str] = []
    prev_hash = GENESIS_HASH
    expected_id = 1
    checked = 0
    last_id = 0
    while True:
        rows = (
            conn.execute(
                select(audit_log).where(audit_log.c.id > last_id).order_by(audit_log.c.id).limit(batch)
            )
            .mappings()
            .all()
        )
        if not rows:
            break
        for row in rows:
            checked += 1
            if row["id"] != expected_id:
                problems.append(f"entries {expected_id}..{row['id'] - 1} are missing (deleted)")
            if row["prev_hash"] != prev_hash:
                problems.append(f"entry {row['id']}: link to the previous entry is broken")
            keyed = sealer is not None and row["id"] > sealer.legacy_until
            legacy += not keyed
            if _row_hash(row["prev_hash"], dict(row), sealer if keyed else None) != row["hash"]:
                if keyed and _row_hash(row["prev_hash"], dict(row)) == row["hash"]:
                    problems.append(
                        f"entry {row['id']}: not sealed with the audit key (rewritten and its hash recomputed)"
                    )
                else:
                    problems.append(f"entry {row['id']}: content does not match its hash (edited)")
            if sealer is not None and row["id"] == legacy_until and row["hash"] != sealer.legacy_head:
                problems.append(
                    f"entries up to {row['id']} differ from the chain anchored when the audit key was made "
                    "(rewritten and hashes recomputed)"
                )
            prev_hash = row["hash"]
            expected_id = row["id"] + 1
            last_id = row["id"]
    head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).one()
    if head.last_id != last_id or head.last_hash != prev_hash:
        problems.append(
            f"chain ends at entry {last_id} but its head says {head.last_id} (newest entries deleted or head edited)"
        )
    if legacy_until is not None and last_id < legacy_until:
        problems.append(
            f"chain ends at entry {last_id}, before the audit key's anchor {legacy_until} (deleted)"
        )
    return AuditReport(
        checked=checked, problems=problems, legacy=legacy, key_id=sealer.key_id if sealer else None
    )
