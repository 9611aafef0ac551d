"""The hub's own SQLite file: the relay log of the LAN's mutations, the replica of the central feed,
sessions and offline verifiers, and a few facts (hub id, epoch, cursors, the PCs served).

Every connection runs WAL with ``synchronous=FULL``: a push the hub answers as shared is on disk first.
All methods block; the app calls them through ``HubDb.run`` on one database thread (the only writer),
so no request holds a connection while it waits. ``clinic hub status --db`` opens a second, read-only
connection (WAL lets it read while the hub writes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from shared.domain.entities import REFERENCE_KINDS
from shared.protocol.models import Change, LanMutation, MutationEnvelope, MutationOutcome

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lan_log (
    mutation_id TEXT PRIMARY KEY,
    hub_seq INTEGER NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    client_seq INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    staff_id TEXT NOT NULL,
    campus_id TEXT,
    name TEXT NOT NULL,
    args TEXT NOT NULL,
    base_version INTEGER,
    occurred_at TEXT NOT NULL,
    shared INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    seq INTEGER,
    outcome TEXT,
    received_at TEXT NOT NULL,
    settled_at TEXT,
    UNIQUE (client_id, client_seq)
);
CREATE INDEX IF NOT EXISTS lan_log_pending ON lan_log (status, hub_seq);
CREATE TABLE IF NOT EXISTS replica (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS replica_seq ON replica (seq);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    staff TEXT NOT NULL,
    device_id TEXT NOT NULL,
    campus_id TEXT,
    expires_at TEXT NOT NULL,
    last_used TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS verifiers (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    staff TEXT NOT NULL,
    campus_id TEXT,
    remembered_at TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT
);
CREATE TABLE IF NOT EXISTS desk_slots (
    device_id TEXT NOT NULL,
    campus_id TEXT NOT NULL,
    slot INTEGER NOT NULL,
    PRIMARY KEY (device_id, campus_id)
);
CREATE TABLE IF NOT EXISTS pcs (
    device_id TEXT PRIMARY KEY,
    staff_id TEXT,
    staff_name TEXT,
    last_seen TEXT NOT NULL
);
"""

Origin = Literal["central", "hub"]


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection with the house rules: WAL, ``synchronous=FULL``, a busy timeout, autocommit mode
    (transactions are opened explicitly with ``BEGIN IMMEDIATE``)."""
    if read_only:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=15, check_same_thread=False)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # the campus's data, unmasked: readable by the hub's account only
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        conn = sqlite3.connect(path, timeout=15, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=15000")
    conn.row_factory = sqlite3.Row
    return conn


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(value: dt.datetime) -> str:
    return value.isoformat()


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@dataclass
class Session:
    """A token the hub knows: a central token it saw issued (by hash) or a token it issued itself."""

    token_hash: str
    origin: Origin
    staff: dict[str, Any]
    device_id: str
    campus_id: str | None
    expires_at: dt.datetime
    last_used: dt.datetime

    @property
    def staff_id(self) -> str:
        return str(self.staff["id"])

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(self.staff.get("roles") or ())


@dataclass
class VerifierRow:
    username: str
    password_hash: str
    staff: dict[str, Any]
    campus_id: str | None
    remembered_at: dt.datetime
    failures: int
    locked_until: dt.datetime | None


@dataclass(frozen=True)
class CentralVerifier:
    """One entry of the central API's verifier list, the username normalized as the hub keys it."""

    username: str
    staff_id: str
    password_hash: str
    last_login_at: dt.datetime


class SequenceProblem(Exception):
    """A push does not continue what the hub holds for that client (``code`` as the central API says)."""

    def __init__(self, code: str, expected: int, mutation_id: str) -> None:
        super().__init__(f"{code}: expected client_seq {expected} ({mutation_id})")
        self.code = code
        self.expected = expected
        self.mutation_id = mutation_id


@dataclass
class Appended:
    """What a push did to the log: the central outcomes already known (replays), the ids now shared,
    the new entries, and the client's highest held ``client_seq``."""

    outcomes: list[MutationOutcome]
    shared: list[str]
    new: list[LanMutation]
    last_client_seq: int


def _entry(row: sqlite3.Row) -> LanMutation:
    status = row["status"]
    return LanMutation(
        hub_seq=row["hub_seq"],
        mutation_id=row["mutation_id"],
        client_id=row["client_id"],
        client_seq=row["client_seq"],
        device_id=row["device_id"],
        staff_id=row["staff_id"],
        campus_id=row["campus_id"],
        name=row["name"],
        args=json.loads(row["args"]),
        base_version=row["base_version"],
        occurred_at=dt.datetime.fromisoformat(row["occurred_at"]),
        status="pending" if status == "pending" else status,
        seq=row["seq"],
    )


class HubStore:
    """The hub database's operations. Not thread-safe: one thread at a time (``HubDb``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = connect(path)
        self.conn.executescript(_SCHEMA)
        with self.transaction():
            if self.meta("epoch") is None:
                # a new database is a new epoch: PCs forget the LAN list they hold and ask from 0
                self.set_meta("epoch", secrets.token_hex(8))
                self.set_meta("hub_seq", "0")
                self.set_meta("replica_cursor", "0")

    def close(self) -> None:
        self.conn.close()

    # -- plumbing ---------------------------------------------------------------------------------
    def transaction(self) -> _Transaction:
        return _Transaction(self.conn)

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def set_metas(self, values: dict[str, str]) -> None:
        with self.transaction():
            for key, value in values.items():
                self.set_meta(key, value)

    def _next_hub_seq(self) -> int:
        value = int(self.meta("hub_seq") or 0) + 1
        self.set_meta("hub_seq", str(value))
        return value

    # -- relay log --------------------------------------------------------------------------------
    def lan_entries(self) -> list[tuple[LanMutation, bool]]:
        """Every entry in hub order with whether it is shared (loaded once at start; the app keeps them
        in memory after that)."""
        rows = self.conn.execute("SELECT * FROM lan_log ORDER BY hub_seq").fetchall()
        return [(_entry(row), bool(row["shared"])) for row in rows]

    def append(
        self,
        *,
        client_id: str,
        device_id: str,
        staff_id: str,
        campus_id: str | None,
        envelopes: Sequence[MutationEnvelope],
        shareable: Sequence[bool],
        now: dt.datetime | None = None,
    ) -> Appended:
        """Hold a push's mutations durably, in one transaction, before the push is answered.

        Idempotent by ``mutation_id``. Per client the held ``client_seq`` are contiguous from the first
        one the hub saw; a push that skips ahead while the client has mutations still unsettled here is
        refused whole (``SequenceProblem`` client_seq_gap with the seq expected). When everything the
        hub held for a client is settled, a jump is accepted: the PC pushed the gap to the central API
        directly meanwhile. ``shareable[i]`` False: kept and relayed (the central API decides) but not
        shared with the LAN (its name is unknown or the staff's roles may not run it)."""
        stamp = _iso(now or _now())
        outcomes: list[MutationOutcome] = []
        shared: list[str] = []
        new: list[LanMutation] = []
        with self.transaction():
            row = self.conn.execute(
                "SELECT MAX(client_seq), SUM(status = 'pending') FROM lan_log WHERE client_id = ?",
                (client_id,),
            ).fetchone()
            last: int | None = row[0]
            pending = bool(row[1])
            plan: list[tuple[MutationEnvelope, bool]] = []
            for envelope, share in zip(envelopes, shareable, strict=True):
                known = self.conn.execute(
                    "SELECT status, outcome FROM lan_log WHERE mutation_id = ?", (envelope.mutation_id,)
                ).fetchone()
                if known is not None:
                    if known["outcome"]:
                        outcome = MutationOutcome.model_validate_json(known["outcome"])
                        outcomes.append(outcome.model_copy(update={"replayed": True}))
                    else:
                        shared.append(envelope.mutation_id)
                    continue
                seq = envelope.client_seq
                if last is not None and seq != last + 1:
                    taken = self.conn.execute(
                        "SELECT 1 FROM lan_log WHERE client_id = ? AND client_seq = ?", (client_id, seq)
                    ).fetchone()
                    if taken is not None:
                        raise SequenceProblem("client_seq_reused", last + 1, envelope.mutation_id)
                    if pending:
                        raise SequenceProblem("client_seq_gap", last + 1, envelope.mutation_id)
                plan.append((envelope, share))
                last = seq if last is None else max(last, seq)
                pending = True
            for envelope, share in plan:
                hub_seq = self._next_hub_seq()
                self.conn.execute(
                    "INSERT INTO lan_log (mutation_id, hub_seq, client_id, client_seq, device_id, staff_id,"
                    " campus_id, name, args, base_version, occurred_at, shared, received_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        envelope.mutation_id,
                        hub_seq,
                        client_id,
                        envelope.client_seq,
                        device_id,
                        staff_id,
                        campus_id,
                        envelope.name,
                        json.dumps(envelope.args, ensure_ascii=False),
                        envelope.base_version,
                        envelope.occurred_at.isoformat(),
                        int(share),
                        stamp,
                    ),
                )
                shared.append(envelope.mutation_id)
                new.append(
                    LanMutation(
                        hub_seq=hub_seq,
                        mutation_id=envelope.mutation_id,
                        client_id=client_id,
                        client_seq=envelope.client_seq,
                        device_id=device_id,
                        staff_id=staff_id,
                        campus_id=campus_id,
                        name=envelope.name,
                        args=envelope.args,
                        base_version=envelope.base_version,
                        occurred_at=envelope.occurred_at,
                    )
                )
        return Appended(outcomes=outcomes, shared=shared, new=new, last_client_seq=last or 0)

    def is_shared(self, mutation_id: str) -> bool:
        row = self.conn.execute("SELECT shared FROM lan_log WHERE mutation_id = ?", (mutation_id,)).fetchone()
        return bool(row and row[0])

    def unsettled(self, limit: int) -> list[tuple[LanMutation, bool]]:
        """The oldest unsettled entries in hub order (with whether each is shared)."""
        rows = self.conn.execute(
            "SELECT * FROM lan_log WHERE status = 'pending' ORDER BY hub_seq LIMIT ?", (limit,)
        ).fetchall()
        return [(_entry(row), bool(row["shared"])) for row in rows]

    def backlog(self) -> tuple[int, dt.datetime | None]:
        row = self.conn.execute(
            "SELECT COUNT(*), MIN(received_at) FROM lan_log WHERE status = 'pending'"
        ).fetchone()
        return int(row[0]), _time(row[1])

    def settle(
        self, outcomes: Iterable[MutationOutcome], now: dt.datetime | None = None
    ) -> list[LanMutation]:
        """Store the central API's outcomes and re-issue each settled entry under a new ``hub_seq``
        (one transaction). Outcomes of mutations the log does not hold, or holds settled, are ignored."""
        stamp = _iso(now or _now())
        outcomes = list(outcomes)
        status: dict[str, str] = {}
        with self.transaction():
            for start in range(0, len(outcomes), 500):  # a few statements per call, not a few per outcome
                chunk = [o.mutation_id for o in outcomes[start : start + 500]]
                marks = ",".join("?" * len(chunk))
                status.update(
                    self.conn.execute(
                        f"SELECT mutation_id, status FROM lan_log WHERE mutation_id IN ({marks})",  # noqa: S608
                        chunk,
                    ).fetchall()
                )
            hub_seq = int(self.meta("hub_seq") or 0)
            updates: list[tuple[Any, ...]] = []
            for outcome in outcomes:
                if status.get(outcome.mutation_id) != "pending":
                    continue
                status[outcome.mutation_id] = "settled"  # a second outcome of it here is ignored too
                hub_seq += 1
                stored = outcome.model_copy(update={"replayed": False})
                updates.append(
                    (
                        "rejected" if outcome.status == "rejected" else "applied",
                        outcome.seq,
                        stored.model_dump_json(),
                        hub_seq,
                        stamp,
                        outcome.mutation_id,
                    )
                )
            if not updates:
                return []
            self.conn.executemany(
                "UPDATE lan_log SET status = ?, seq = ?, outcome = ?, hub_seq = ?, settled_at = ?"
                " WHERE mutation_id = ?",
                updates,
            )
            self.set_meta("hub_seq", str(hub_seq))
            first = updates[0][3]
            rows = self.conn.execute(
                "SELECT * FROM lan_log WHERE hub_seq BETWEEN ? AND ? ORDER BY hub_seq", (first, hub_seq)
            ).fetchall()
        return [_entry(row) for row in rows]

    def prune(self, settled_before: dt.datetime) -> tuple[list[str], int]:
        """Forget entries settled before ``settled_before`` (their outcomes are at the central API and
        in its feed). Returns the pruned mutation ids and the new floor: the highest ``hub_seq`` ever
        pruned (kept in meta ``lan_floor``)."""
        with self.transaction():
            rows = self.conn.execute(
                "SELECT mutation_id, hub_seq FROM lan_log WHERE status != 'pending' AND settled_at < ?",
                (_iso(settled_before),),
            ).fetchall()
            floor = max([int(self.meta("lan_floor") or 0), *(int(r[1]) for r in rows)])
            if rows:
                self.conn.executemany("DELETE FROM lan_log WHERE mutation_id = ?", [(r[0],) for r in rows])
                self.set_meta("lan_floor", str(floor))
        return [str(r[0]) for r in rows], floor

    # -- replica ----------------------------------------------------------------------------------
    def replica_cursor(self) -> int:
        return int(self.meta("replica_cursor") or 0)

    def store_changes(self, changes: Sequence[Change], cursor: int) -> None:
        """A page of the central feed and the cursor after it, in one transaction (latest version wins)."""
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO replica (kind, id, version, seq, data) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (kind, id) DO UPDATE SET version = excluded.version, seq = excluded.seq,"
                " data = excluded.data WHERE excluded.seq >= replica.seq",
                [(c.kind, c.id, c.version, c.seq, json.dumps(c.data, ensure_ascii=False)) for c in changes],
            )
            if cursor > self.replica_cursor():
                self.set_meta("replica_cursor", str(cursor))

    def replica_page(self, *, cursor: int, limit: int) -> tuple[list[Change], bool]:
        """Replica changes after ``cursor`` in feed order (full fields; the caller restricts)."""
        rows = self.conn.execute(
            "SELECT kind, id, version, seq, data FROM replica WHERE seq > ? ORDER BY seq LIMIT ?",
            (cursor, limit + 1),
        ).fetchall()
        changes = [
            Change(seq=r["seq"], kind=r["kind"], id=r["id"], version=r["version"], data=json.loads(r["data"]))
            for r in rows[:limit]
        ]
        return changes, len(rows) > limit

    def replica_count(self, after: int) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM replica WHERE seq > ?", (after,)).fetchone()[0])

    def reference_version(self) -> int:
        marks = ",".join("?" for _ in REFERENCE_KINDS)
        row = self.conn.execute(
            f"SELECT MAX(seq) FROM replica WHERE kind IN ({marks})",  # noqa: S608 - placeholders only
            sorted(REFERENCE_KINDS),
        ).fetchone()
        return int(row[0] or 0)

    def replica_entity(self, kind: str, entity_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT data FROM replica WHERE kind = ? AND id = ?", (kind, entity_id)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def replica_kind(self, kind: str) -> list[dict[str, Any]]:
        """Every entity of ``kind`` in the replica (full fields, voided ones too; the caller filters)."""
        rows = self.conn.execute("SELECT data FROM replica WHERE kind = ?", (kind,)).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    # -- sessions and verifiers -------------------------------------------------------------------
    def sessions(self) -> list[Session]:
        rows = self.conn.execute("SELECT * FROM sessions").fetchall()
        return [
            Session(
                token_hash=r["token_hash"],
                origin=r["origin"],
                staff=json.loads(r["staff"]),
                device_id=r["device_id"],
                campus_id=r["campus_id"],
                expires_at=dt.datetime.fromisoformat(r["expires_at"]),
                last_used=dt.datetime.fromisoformat(r["last_used"]),
            )
            for r in rows
        ]

    def save_session(self, session: Session) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO sessions (token_hash, origin, staff, device_id, campus_id, expires_at,"
                " last_used) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    session.token_hash,
                    session.origin,
                    json.dumps(session.staff, ensure_ascii=False),
                    session.device_id,
                    session.campus_id,
                    _iso(session.expires_at),
                    _iso(session.last_used),
                ),
            )
            self.conn.execute("DELETE FROM sessions WHERE expires_at < ?", (_iso(_now()),))

    def touch_sessions(self, last_used: dict[str, dt.datetime]) -> None:
        with self.transaction():
            self.conn.executemany(
                "UPDATE sessions SET last_used = ? WHERE token_hash = ?",
                [(_iso(when), token_hash) for token_hash, when in last_used.items()],
            )

    def drop_session(self, token_hash: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def verifier(self, username: str) -> VerifierRow | None:
        r = self.conn.execute("SELECT * FROM verifiers WHERE username = ?", (username,)).fetchone()
        if r is None:
            return None
        return VerifierRow(
            username=r["username"],
            password_hash=r["password_hash"],
            staff=json.loads(r["staff"]),
            campus_id=r["campus_id"],
            remembered_at=dt.datetime.fromisoformat(r["remembered_at"]),
            failures=int(r["failures"]),
            locked_until=_time(r["locked_until"]),
        )

    def remember(
        self, *, username: str, password_hash: str, staff: dict[str, Any], campus_id: str | None
    ) -> None:
        """A fresh verifier after an online login (clears the failure count and any lock)."""
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO verifiers (username, password_hash, staff, campus_id, remembered_at,"
                " failures, locked_until) VALUES (?, ?, ?, ?, ?, 0, NULL)",
                (username, password_hash, json.dumps(staff, ensure_ascii=False), campus_id, _iso(_now())),
            )

    def note_failure(self, username: str, *, threshold: int, lockout: dt.timedelta) -> dt.datetime | None:
        """Count a wrong offline password; the ``threshold``-th locks the account for ``lockout``
        (returns the end of the lock when one starts)."""
        with self.transaction():
            row = self.conn.execute(
                "SELECT failures FROM verifiers WHERE username = ?", (username,)
            ).fetchone()
            if row is None:
                return None
            failures = int(row[0]) + 1
            until = _now() + lockout if failures >= threshold else None
            self.conn.execute(
                "UPDATE verifiers SET failures = ?, locked_until = ? WHERE username = ?",
                (0 if until else failures, _iso(until) if until else None, username),
            )
            return until

    def note_success(self, username: str) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE verifiers SET failures = 0, locked_until = NULL WHERE username = ?", (username,)
            )

    def forget_verifier(self, username: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM verifiers WHERE username = ?", (username,))

    def take_central_verifiers(
        self,
        listed: Sequence[CentralVerifier],
        *,
        campus_id: str,
        asked_at: dt.datetime,
        fetched_at: dt.datetime,
    ) -> tuple[int, int]:
        """The central API's whole list of verifiers this hub may hold (``GET /hub/verifiers``), asked at
        ``asked_at``: each listed account takes the central hash and the newer of the two login times
        (failure counts and locks stay); an account not listed is forgotten (password changed, account
        closed, moved, window passed). A row remembered at or after ``asked_at`` (an online login
        through the hub while the list was on its way) is newer than the list and stays as it is.
        Returns (stored, dropped)."""
        with self.transaction():
            held = {
                r["username"]: (dt.datetime.fromisoformat(r["remembered_at"]), json.loads(r["staff"]))
                for r in self.conn.execute("SELECT username, remembered_at, staff FROM verifiers")
            }
            stored = 0
            for entry in listed:
                remembered, staff = held.pop(entry.username, (None, None))
                if remembered is not None and remembered >= asked_at:
                    continue
                if staff is None or staff.get("id") != entry.staff_id:
                    staff = {"id": entry.staff_id, "username": entry.username}
                # the central API's clock, never later than the hub's own ``asked_at``: a clock ahead
                # of the hub's must not make a row look newer than the next list
                when = min(entry.last_login_at, asked_at)
                when = max(when, remembered) if remembered else when
                self.conn.execute(
                    "INSERT INTO verifiers (username, password_hash, staff, campus_id, remembered_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET"
                    " password_hash = excluded.password_hash, staff = excluded.staff,"
                    " campus_id = excluded.campus_id, remembered_at = excluded.remembered_at",
                    (
                        entry.username,
                        entry.password_hash,
                        json.dumps(staff, ensure_ascii=False),
                        campus_id,
                        _iso(when),
                    ),
                )
                stored += 1
            gone = [username for username, (remembered, _) in held.items() if remembered < asked_at]
            self.conn.executemany("DELETE FROM verifiers WHERE username = ?", [(u,) for u in gone])
            self.set_meta("verifiers_asked_at", _iso(asked_at))
            self.set_meta("verifiers_fetched_at", _iso(fetched_at))
            self.set_meta("verifiers_listed", str(len(listed)))
            return stored, len(gone)

    def verifier_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM verifiers").fetchone()[0])

    def desk_slot(self, device_id: str, campus_id: str) -> int | None:
        row = self.conn.execute(
            "SELECT slot FROM desk_slots WHERE device_id = ? AND campus_id = ?", (device_id, campus_id)
        ).fetchone()
        return None if row is None else int(row[0])

    def remember_desk_slot(self, device_id: str, campus_id: str, slot: int) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO desk_slots (device_id, campus_id, slot) VALUES (?, ?, ?)",
                (device_id, campus_id, slot),
            )

    # -- PCs served -------------------------------------------------------------------------------
    def note_pcs(self, seen: dict[str, tuple[str, str, dt.datetime]]) -> None:
        """device id -> (staff id, staff name, last seen)."""
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO pcs (device_id, staff_id, staff_name, last_seen) VALUES (?, ?, ?, ?)",
                [(device, staff, name, _iso(when)) for device, (staff, name, when) in seen.items()],
            )


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on an error); nested uses join the outer one."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.outer = False

    def __enter__(self) -> sqlite3.Connection:
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            self.outer = True
        return self.conn

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        if not self.outer:
            return
        if kind is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


class HubDb:
    """The store behind one database thread: ``await db.run(HubStore.method, …)`` from the event loop."""

    def __init__(self, path: Path) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-db")
        self.store = self._executor.submit(HubStore, path).result()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self.store, *args, **kwargs))

    def close(self) -> None:
        self._executor.submit(self.store.close).result()
        self._executor.shutdown(wait=True)
