"""``LocalStore``: one app's SQLite cache on this PC — confirmed rows, outbox, pending overlay, sync state.

Threading: every write goes through one writer thread owned by the store, each job in one
``BEGIN IMMEDIATE`` transaction; callers on any thread block until their job is done. Reads use one
connection per calling thread (WAL lets them run beside the writer) and see a consistent snapshot
inside ``reading()``. Server-confirmed rows are written only by ``apply_changes`` / the bootstrap
methods (called by the sync engine); user actions go through ``record``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import json
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from shared import clinic_time
from shared.clinic_time import CLINIC_TIMEZONE_STATE
from shared.domain import pickup as pickup_rules
from shared.domain.code_sets import SITE_SETTINGS_ID, chosen_code_set
from shared.domain.entities import Diagnosis, Drug, Entity, Patient, SiteSettings, Staff
from shared.domain.masking import mask_patient_identifiers
from shared.domain.mutations import REGISTRY, MutationContext, Rejected
from shared.errors import AuthFailed, PermissionDenied, StoreError, ValidationFailed
from shared.i18n import DEFAULT_LANGUAGE
from shared.ids import new_id
from shared.protocol.models import Change, HubInfo, LanMutation, MutationOutcome
from shared.store import crypto, schema, search
from shared.store.paths import default_db_path
from shared.store.search import TextSnapshot, Usage
from shared.store.view import ALWAYS, LocalView, row_tokens

log = logging.getLogger(__name__)

T = TypeVar("T")
E = TypeVar("E", bound=Entity)

BUSY_TIMEOUT_MS = 10_000
OutboxStatus = Literal["pending", "sent", "applied", "rejected"]
UNRESOLVED: tuple[OutboxStatus, ...] = ("pending", "sent")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _dumps(value: Any) -> str:
    return json.dumps(to_jsonable_python(value), ensure_ascii=False, separators=(",", ":"))


def connect(path: Path | str, key: bytes | None = None) -> sqlite3.Connection:
    """A connection with the store's settings: autocommit mode (explicit BEGIN), WAL, synchronous=FULL,
    a busy timeout; SQLCipher under ``key`` when given (``crypto``). Every connection to a store file
    is made here."""
    conn: sqlite3.Connection = crypto.raw_connect(
        path, key, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError(f"could not switch {path} to WAL journaling (got {mode})", code="store_no_wal")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


@dataclass(frozen=True)
class OutboxEntry:
    """One recorded mutation and what became of it."""

    mutation_id: str
    client_seq: int
    name: str
    args: dict[str, Any]
    base_version: int | None
    occurred_at: dt.datetime
    staff_id: str
    status: OutboxStatus
    attempts: int
    last_error: str | None
    code: str | None
    message: str | None
    warnings: list[str]
    result: dict[str, Any] | None
    detail: Any
    seq: int | None
    local_result: dict[str, Any] | None
    dismissed: bool
    created_at: dt.datetime
    # a clinic hub holds it and shares it on the LAN (when, which server): delivered, but the central
    # API's outcome is still to come (status "sent")
    shared_at: dt.datetime | None = None
    shared_via: str | None = None

    @property
    def resolved(self) -> bool:
        return self.status in ("applied", "rejected")

    @property
    def shared(self) -> bool:
        return self.shared_at is not None and not self.resolved


_OUTBOX_COLUMNS = (
    "mutation_id, client_seq, name, args, base_version, occurred_at, staff_id, status, attempts, last_error, "
    "code, message, warnings, result, detail, seq, local_result, dismissed, created_at, shared_at, shared_via"
)


def _entry(row: Sequence[Any]) -> OutboxEntry:
    return OutboxEntry(
        mutation_id=row[0],
        client_seq=row[1],
        name=row[2],
        args=json.loads(row[3]),
        base_version=row[4],
        occurred_at=dt.datetime.fromisoformat(row[5]),
        staff_id=row[6],
        status=row[7],
        attempts=row[8],
        last_error=row[9],
        code=row[10],
        message=row[11],
        warnings=json.loads(row[12] or "[]"),
        result=None if row[13] is None else json.loads(row[13]),
        detail=None if row[14] is None else json.loads(row[14]),
        seq=row[15],
        local_result=None if row[16] is None else json.loads(row[16]),
        dismissed=bool(row[17]),
        created_at=dt.datetime.fromisoformat(row[18]),
        shared_at=None if row[19] is None else dt.datetime.fromisoformat(row[19]),
        shared_via=row[20],
    )


@dataclass(frozen=True)
class Session:
    """Who works on this PC now (the last login), used to record mutations even while offline."""

    staff: Staff
    campus_id: str | None


@dataclass(frozen=True)
class LanPage:
    """The LAN part of a pull answered by a clinic hub: its entries after ``sent_after`` (the
    ``lan_after`` the pull sent), the ``lan_after`` for next time and the hub."""

    hub: HubInfo
    entries: Sequence[LanMutation]
    lan_next: int | None
    sent_after: int


@dataclass(frozen=True)
class BootstrapState:
    """A bootstrap in progress: resume by asking for items after ``after``."""

    epoch: int
    after: int
    head: int
    estimated: int
    applied: int


class _Writer:
    """The store's one writer thread: runs jobs one at a time, each in its own transaction."""

    def __init__(self, conn: sqlite3.Connection, name: str) -> None:
        self.conn = conn
        self._jobs: queue.SimpleQueue[tuple[Callable[[sqlite3.Connection], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._loop, name=f"store-writer:{name}", daemon=True)
        self._in_job = False
        self._thread.start()

    def on_writer_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, job: Callable[[sqlite3.Connection], T]) -> T:
        if self.on_writer_thread():
            if self._in_job:  # a job calling another store method: same transaction
                return job(self.conn)
            return self._transaction(job)
        future: Future[T] = Future()
        self._jobs.put((job, future))
        return future.result()

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(30)

    def _loop(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            job, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = self._transaction(job)
            except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
                future.set_exception(error)
            else:
                future.set_result(result)

    def _transaction(self, job: Callable[[sqlite3.Connection], T]) -> T:
        self.conn.execute("BEGIN IMMEDIATE")
        self._in_job = True
        try:
            result = job(self.conn)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        finally:
            self._in_job = False
        self.conn.execute("COMMIT")
        return result


class LocalStore:
    """One app's local database. Thread-safe; see the module docstring for the threading rules."""

    def __init__(
        self,
        path: Path,
        *,
        app: str,
        conn: sqlite3.Connection,
        clock: Callable[[], dt.datetime],
        key: bytes | None = None,
        pickup_key_id: str | None = None,
    ) -> None:
        self.path = path
        self.app = app
        self.clock = clock
        self._key = key
        # the key id of this store's local pickup-code digests (``pickup_digests``), registered by ``open``
        self.pickup_key_id = pickup_key_id
        self._writer = _Writer(conn, app)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        # Search-text generations per kind, bumped after each commit that changed confirmed rows, so
        # the in-memory text snapshots of reference kinds know when to reload.
        self._generations: dict[str, int] = {}
        self._snapshots: dict[str, TextSnapshot] = {}
        self._snapshot_lock = threading.Lock()

    # -- opening and closing -----------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: Path | str | None = None,
        *,
        app: str,
        clock: Callable[[], dt.datetime] = utcnow,
        data_dir: str | os.PathLike[str] | None = None,
        key: bytes | Literal["os"] | None = None,
    ) -> LocalStore:
        """Open (or create) the store: quick integrity check, backup then migrate if the schema is
        older, identity (device and client ids) created once. ``path`` defaults to the app's file in
        the data folder (``data_dir`` setting, ``$CLINIC_DATA_DIR`` or the user data folder).

        ``key`` encrypts the file at rest (SQLCipher, ``crypto``): ``"os"`` takes this store's key from
        the OS key store (made on first use; the store stays plain, with a warning, on a PC without
        one); bytes are the key itself. A plain file is converted in place the first time a key is
        given, outbox included."""
        db_path = Path(path) if path is not None else default_db_path(app, setting=data_dir)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        if key == "os":
            key = crypto.os_key(app, db_path)
            if key is None:
                log.warning("no OS key store: %s stays unencrypted (%s)", db_path, crypto.key_problem())
        secret = key if isinstance(key, bytes) else None
        try:
            if secret is not None and crypto.is_plain(db_path):
                crypto.encrypt_in_place(db_path, secret)
            conn = connect(db_path, secret)
        except crypto.DATABASE_ERRORS as error:
            raise StoreError(
                f"the local database {db_path} cannot be opened ({error}); restore a backup or move the file "
                "aside so this PC downloads its data again",
                code="store_corrupt",
            ) from error
        try:
            try:
                problems = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
            except crypto.DATABASE_ERRORS as error:
                problems = [str(error)]
            if problems != ["ok"]:
                raise StoreError(
                    f"the local database {db_path} is damaged ({'; '.join(problems[:5])}); restore a backup or "
                    "move the file aside so this PC downloads its data again",
                    code="store_corrupt",
                    detail=problems[:50],
                )
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if 0 < version < schema.SCHEMA_VERSION:
                backup = backup_database(conn, db_path, label=f"v{version}", key=secret)
                log.info("backed up %s to %s before migrating from schema %s", db_path, backup, version)
            schema.migrate(conn, version)
            conn.execute("BEGIN IMMEDIATE")
            key_id, pickup_key = pickup_rules.new_local_key()
            conn.execute(
                "INSERT OR IGNORE INTO sync_state (key, value) VALUES (?, ?)",
                (PICKUP_KEY_STATE, json.dumps({"id": key_id, "key": pickup_key.hex()})),
            )
            pickup_key_id = _pickup_key_id(conn)
            if 0 < version < 4:  # the overlay has no read records yet: replay it once to make them
                rebuild_overlay(conn)
            else:  # re-runs held when the app stopped mid-burst: the view is shown whole from the start
                held = _Dirt()
                _release_reruns(conn, held)
                _replay(conn, held)
            for name in ("device_id", "client_id"):
                conn.execute(
                    "INSERT OR IGNORE INTO sync_state (key, value) VALUES (?, ?)",
                    (name, json.dumps(new_id())),
                )
            conn.execute("INSERT OR IGNORE INTO sync_state (key, value) VALUES ('seq_offset', '0')")
            conn.execute("INSERT OR IGNORE INTO sync_state (key, value) VALUES ('epoch', '0')")
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        store = cls(db_path, app=app, conn=conn, clock=clock, key=secret, pickup_key_id=pickup_key_id)
        told = store.state(CLINIC_TIMEZONE_STATE)
        if told:  # the hospital's zone a server told this PC before: the app's local times follow it
            clinic_time.use_zone(told)
        return store

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.stop()
        self._writer.conn.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job(conn)`` on the writer thread in one transaction and return its result."""
        if self._closed:
            raise StoreError("the local store is closed", code="store_closed")
        return self._writer.submit(job)

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError("the local store is closed", code="store_closed")
            conn = connect(self.path, self._key)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def reading(self) -> Iterator[LocalView]:
        """A consistent snapshot of the local view, for this thread only."""
        if self._writer.on_writer_thread():
            yield LocalView(self._writer.conn)
            return
        conn = self._reader()
        if conn.in_transaction:  # nested use on the same thread: share the outer snapshot
            yield LocalView(conn)
            return
        conn.execute("BEGIN")
        try:
            yield LocalView(conn)
        finally:
            conn.execute("COMMIT")

    # -- the local view ----------------------------------------------------------------------------
    def get(self, kind: type[E], entity_id: str) -> E | None:
        with self.reading() as view:
            return view.get(kind, entity_id)

    def find(self, kind: type[E], *, limit: int | None = None, **equals: Any) -> list[E]:
        """Every row matching ``equals`` (or the first ``limit``), ordered by id; see ``LocalView.find``."""
        with self.reading() as view:
            return view.find(kind, limit=limit, **equals)

    def rows(self, kind: type[Entity], fields: Sequence[str], **equals: Any) -> list[dict[str, Any]]:
        """A cheap projection of many rows as plain dicts (no entities built); see ``LocalView.rows``."""
        with self.reading() as view:
            return view.rows(kind, fields, **equals)

    def values(self, kind: type[Entity], fields: Sequence[str], **equals: Any) -> list[list[Any]]:
        """``rows`` as ``[id, *fields]`` lists; see ``LocalView.values``."""
        with self.reading() as view:
            return view.values(kind, fields, **equals)

    def all(self, kind: type[E], *, include_voided: bool = False) -> list[E]:
        with self.reading() as view:
            return view.all(kind, include_voided=include_voided)

    def search(self, kind: type[E], query: str, limit: int = 20, *, usage: Usage | None = None) -> list[E]:
        """Quick search of a searchable kind (patient, drug, diagnosis), pending rows included; with
        ``usage`` (``search_usage``) the doctor's and department's most used items rank first."""
        name = kind.KIND
        if name not in search.SEARCHABLE:
            raise ValueError(f"{name} has no quick search")
        with self.reading() as view:
            snapshot = self._text_snapshot(view, name)
            pending = view.overlay_rows(name)
            if not pending:
                ids = search.query_ids(view.conn, name, query, limit, snapshot, usage)
                found = view.get_many(kind, ids)
                return [found[i] for i in ids if i in found and not found[i].voided]
            shadowed = {entity_id for entity_id, _ in pending}
            scored = []
            for entity_id, data in pending:
                score = search.match_score(name, json.loads(data), query)
                if score is not None:
                    scored.append((score, entity_id))
            local_ids = [entity_id for _, entity_id in sorted(scored)]
            ids = [
                i
                for i in search.query_ids(view.conn, name, query, limit + len(shadowed), snapshot, usage)
                if i not in shadowed
            ]
            ordered = (local_ids + ids)[:limit]
            found = view.get_many(kind, ordered)
            return [found[i] for i in ordered if i in found and not found[i].voided]

    def _text_snapshot(self, view: LocalView, kind: str) -> TextSnapshot | None:
        if kind not in search.MEMORY_TEXT_KINDS:
            return None
        generation = self._generations.get(kind, 0)
        snapshot = self._snapshots.get(kind)
        if snapshot is None or snapshot.generation != generation:
            with self._snapshot_lock:
                snapshot = TextSnapshot.load(view.conn, kind, generation)
                self._snapshots[kind] = snapshot
        return snapshot

    def _changed(self, kinds: set[str]) -> set[str]:
        """Called after a commit that changed confirmed rows of ``kinds``."""
        for kind in kinds:
            self._generations[kind] = self._generations.get(kind, 0) + 1
        return kinds

    def search_patients(self, query: str, limit: int = 20) -> list[Patient]:
        """By name (prefix or fragment), pinyin initials, MRN, ID number (or its last 4) or phone."""
        return self.search(Patient, query, limit)

    def search_drugs(self, query: str, limit: int = 20, *, usage: Usage | None = None) -> list[Drug]:
        """By pinyin initials, Chinese name (prefix or fragment), English name or code."""
        return self.search(Drug, query, limit, usage=usage)

    def search_diagnoses(self, query: str, limit: int = 20, *, usage: Usage | None = None) -> list[Diagnosis]:
        """By ICD code (with or without the dot), Chinese name, pinyin initials or English name; only the
        site's chosen code set (``code_sets.chosen_code_set``), every set while none is chosen."""
        with self.reading() as view:
            chosen = chosen_code_set(view.get(SiteSettings, SITE_SETTINGS_ID))
        if chosen is None:
            return self.search(Diagnosis, query, limit, usage=usage)
        # the index holds every set: ask for more until enough rows of the chosen set are found
        wanted = limit
        while True:
            found = self.search(Diagnosis, query, wanted, usage=usage)
            kept = [d for d in found if d.code_set == chosen]
            if len(kept) >= limit or len(found) < wanted or wanted >= limit * 256:
                return kept[:limit]
            wanted *= 4

    def search_usage(self, kind: type[Entity], *, doctor_id: str, department_id: str | None) -> Usage:
        """How often this doctor and department chose each drug / diagnosis here (for ``search``)."""
        with self.reading() as view:
            return search.load_usage(view.conn, kind.KIND, doctor_id=doctor_id, department_id=department_id)

    # -- session and identity ----------------------------------------------------------------------
    def state(self, key: str, default: Any = None) -> Any:
        with self.reading() as view:
            return _state_get(view.conn, key, default)

    def set_state(self, key: str, value: Any) -> None:
        self.write(lambda conn: _state_set(conn, key, value))

    def clinic_zone(self) -> dt.tzinfo | None:
        """The hospital's zone as a server last told this PC; None until one has (the PC's own then)."""
        return clinic_time.zone_named(self.state(CLINIC_TIMEZONE_STATE))

    def note_clinic_timezone(self, name: str | None) -> None:
        """What a server said the hospital's zone is (login, ``/healthz``): kept for the next start and
        used at once for the app's local dates and times. None (a server that does not say) or a zone
        this PC does not know changes nothing."""
        if not name or clinic_time.zone_named(name) is None:
            return
        if self.state(CLINIC_TIMEZONE_STATE) != name:
            self.set_state(CLINIC_TIMEZONE_STATE, name)
        clinic_time.use_zone(name)

    @property
    def device_id(self) -> str:
        return str(self.state("device_id"))

    @property
    def client_id(self) -> str:
        return str(self.state("client_id"))

    def seq_offset(self) -> int:
        return int(self.state("seq_offset", 0))

    def pickup_digests(self) -> contextlib.AbstractContextManager[None]:
        """Within: pickup-code digests are this store's fast local ones and those verify
        (``shared.domain.pickup.local_digests``). The store wraps its own handler runs in it; a check of
        a code against the local view outside them (the pharmacy desk's lookup by code) needs it too."""
        return _pickup_digests(self.pickup_key_id)

    def session(self) -> Session | None:
        value = self.state("session")
        if not value:
            return None
        return Session(staff=Staff.model_validate(value["staff"]), campus_id=value.get("campus_id"))

    def set_session(self, staff: Staff, campus_id: str | None) -> None:
        self.set_state("session", {"staff": staff.model_dump(mode="json"), "campus_id": campus_id})

    def clear_session(self) -> None:
        self.write(lambda conn: conn.execute("DELETE FROM sync_state WHERE key = 'session'"))

    # -- recording mutations -----------------------------------------------------------------------
    def record(
        self,
        name: str,
        args: Mapping[str, Any],
        *,
        base_version: int | None = None,
        lang: str = DEFAULT_LANGUAGE,
    ) -> OutboxEntry:
        """Run the mutation's shared handler against the local view and, if the rule accepts it, append it
        to the outbox (next client_seq) with its writes as overlay, all in one transaction.

        Raises ``Rejected`` (nothing stored) when the local rule refuses, ``ValidationFailed`` for bad
        arguments or an unknown name, ``PermissionDenied`` for a role that may not do it, and
        ``AuthFailed`` when nobody has logged in on this PC yet.
        """
        spec = REGISTRY.get(name)
        if spec is None:
            raise ValidationFailed(f"unknown mutation {name}", code="unknown_mutation")
        session = self.session()
        if session is None:
            raise AuthFailed("nobody is logged in on this PC", code="not_logged_in")
        if not spec.roles & set(session.staff.roles):
            raise PermissionDenied(f"{', '.join(session.staff.roles)} may not do {name}")
        plain_args = to_jsonable_python(dict(args))
        try:
            parsed = spec.args.model_validate(plain_args)
        except ValidationError as error:
            raise ValidationFailed(str(error), code="invalid_args") from error
        now = self.clock()
        device_id = self.device_id
        ctx = MutationContext(
            staff_id=session.staff.id,
            roles=frozenset(session.staff.roles),
            device_id=device_id,
            campus_id=session.campus_id,
            now=now,
            today=clinic_time.day_of(now, self.clinic_zone()),
            base_version=base_version,
            lang=lang,
        )

        def job(conn: sqlite3.Connection) -> OutboxEntry:
            reads: dict[str, str] = {}
            view = LocalView(conn, reads=reads)
            with self.pickup_digests():
                effect = spec.handler(view, parsed, ctx)
            client_seq = int(
                conn.execute("SELECT coalesce(max(client_seq), 0) + 1 FROM outbox").fetchone()[0]
            )
            mutation_id = new_id()
            conn.execute(
                "INSERT INTO outbox (mutation_id, client_seq, name, args, base_version, occurred_at, staff_id, status, "
                "warnings, local_result, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                (
                    mutation_id,
                    client_seq,
                    name,
                    _dumps(plain_args),
                    base_version,
                    now.isoformat(),
                    session.staff.id,
                    _dumps(effect.warnings),
                    _dumps(effect.result),
                    now.isoformat(),
                ),
            )
            _insert_overlay(conn, mutation_id, client_seq, effect.writes)
            view.get_data("staff", session.staff.id)  # a replay takes the roles from there
            conn.executemany(
                "INSERT INTO overlay_read (client_seq, token, seen) VALUES (?, ?, ?)",
                [(client_seq, t, seen) for t, seen in reads.items()],
            )
            _Replayer.of(conn).note_shapes(view)
            return _entry(
                conn.execute(
                    f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE mutation_id = ?", (mutation_id,)
                ).fetchone()
            )

        return self.write(job)

    # -- the outbox --------------------------------------------------------------------------------
    def outbox(self, *statuses: OutboxStatus, limit: int | None = None) -> list[OutboxEntry]:
        """Entries in client order, optionally only those with the given statuses."""
        sql = f"SELECT {_OUTBOX_COLUMNS} FROM outbox"
        params: list[Any] = []
        if statuses:
            sql += f" WHERE status IN ({','.join('?' * len(statuses))})"
            params.extend(statuses)
        sql += " ORDER BY client_seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self.reading() as view:
            return [_entry(row) for row in view.conn.execute(sql, params)]

    def entry(self, mutation_id: str) -> OutboxEntry | None:
        with self.reading() as view:
            row = view.conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE mutation_id = ?", (mutation_id,)
            ).fetchone()
        return None if row is None else _entry(row)

    def pending_count(self) -> int:
        """Mutations not yet confirmed by the server (pending or sent)."""
        with self.reading() as view:
            return int(
                view.conn.execute(
                    "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sent')"
                ).fetchone()[0]
            )

    def shared_count(self) -> int:
        """Of ``pending_count``: mutations a clinic hub holds and shares on the LAN, waiting for the
        central API's outcome."""
        with self.reading() as view:
            return int(
                view.conn.execute(
                    "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sent') AND shared_at IS NOT NULL"
                ).fetchone()[0]
            )

    def needs_attention(self) -> list[OutboxEntry]:
        """Rejected mutations the user has not dismissed, oldest first, with the server's message."""
        with self.reading() as view:
            rows = view.conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE status = 'rejected' AND dismissed = 0 ORDER BY client_seq"
            ).fetchall()
        return [_entry(row) for row in rows]

    def needs_attention_count(self) -> int:
        with self.reading() as view:
            return int(
                view.conn.execute(
                    "SELECT count(*) FROM outbox WHERE status = 'rejected' AND dismissed = 0"
                ).fetchone()[0]
            )

    def dismiss(self, mutation_id: str) -> None:
        """The user has read a rejection; it leaves the "needs attention" list (the record stays)."""

        def job(conn: sqlite3.Connection) -> None:
            changed = conn.execute(
                "UPDATE outbox SET dismissed = 1 WHERE mutation_id = ? AND status = 'rejected'",
                (mutation_id,),
            ).rowcount
            if not changed:
                raise StoreError(f"no rejected mutation {mutation_id} to dismiss", code="not_found")

        self.write(job)

    def next_batch(
        self,
        limit: int,
        *,
        staff_id: str | None = None,
        after: int = 0,
        shared_via: str | None = None,
        shared_since: dt.datetime | None = None,
    ) -> tuple[list[OutboxEntry], int]:
        """Unresolved entries to push, in client order, after client_seq ``after``. With ``staff_id``, the
        batch stops before the first entry another staff member recorded (it must be pushed under their
        login, never misattributed). With ``shared_via`` and ``shared_since``, entries that server (a
        clinic hub) said it shares since then are left out: it holds them already.
        Returns (entries, how many unresolved entries are held back for another login)."""
        sql = f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE status IN ('pending', 'sent') AND client_seq > ?"
        params: list[Any] = [after]
        if shared_via is not None and shared_since is not None:
            sql += " AND NOT (shared_via IS ? AND shared_at IS NOT NULL AND shared_at >= ?)"
            params += [shared_via, shared_since.astimezone(dt.UTC).isoformat()]
        with self.reading() as view:
            rows = view.conn.execute(f"{sql} ORDER BY client_seq LIMIT ?", (*params, limit)).fetchall()
            entries = [_entry(row) for row in rows]
            if staff_id is None:
                return entries, 0
            mine: list[OutboxEntry] = []
            for entry in entries:
                if entry.staff_id != staff_id:
                    held = int(
                        view.conn.execute(
                            "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sent') AND client_seq >= ?",
                            (entry.client_seq,),
                        ).fetchone()[0]
                    )
                    return mine, held
                mine.append(entry)
            return mine, 0

    def mark_sent(self, mutation_ids: Sequence[str]) -> None:
        """About to push these: count the attempt (their outcome is unknown until the answer comes)."""
        self.write(
            lambda conn: conn.executemany(
                "UPDATE outbox SET status = 'sent', attempts = attempts + 1 WHERE mutation_id = ? AND status IN ('pending', 'sent')",
                [(m,) for m in mutation_ids],
            )
        )

    def mark_shared(self, mutation_ids: Sequence[str], *, via: str) -> None:
        """A clinic hub (``via``) holds these and shares them on the LAN: they stay unresolved ("sent")
        until the central API's outcome comes back, and are pushed again for it."""
        now = self.clock().astimezone(dt.UTC).isoformat()
        self.write(
            lambda conn: conn.executemany(
                "UPDATE outbox SET status = 'sent', shared_at = ?, shared_via = ? "
                "WHERE mutation_id = ? AND status IN ('pending', 'sent')",
                [(now, via, m) for m in mutation_ids],
            )
        )

    def note_push_failed(self, mutation_ids: Sequence[str], error: str) -> None:
        """A push of these did not get through, or its answer was lost: count the attempt and keep them
        pending (an entry is "sent" only once the server is known to have it)."""
        self.write(
            lambda conn: conn.executemany(
                "UPDATE outbox SET status = 'pending', attempts = attempts + 1, last_error = ? "
                "WHERE mutation_id = ? AND status IN ('pending', 'sent')",
                [(error[:1000], m) for m in mutation_ids],
            )
        )

    def note_push_error(self, mutation_ids: Sequence[str], error: str) -> None:
        self.write(
            lambda conn: conn.executemany(
                "UPDATE outbox SET last_error = ? WHERE mutation_id = ?",
                [(error[:1000], m) for m in mutation_ids],
            )
        )

    def apply_outcomes(self, outcomes: Sequence[MutationOutcome]) -> set[str]:
        """Store the server's outcomes. A rejection drops the mutation's overlay at once (it goes to "needs
        attention"); an application drops it once the pulled state covers its ``seq``. Returns the entity
        kinds whose view changed."""

        def job(conn: sqlite3.Connection) -> set[str]:
            cursor = _state_get(conn, "cursor")
            now = self.clock().isoformat()
            dirt = _Dirt()
            for outcome in outcomes:
                row = conn.execute(
                    "SELECT status FROM outbox WHERE mutation_id = ?", (outcome.mutation_id,)
                ).fetchone()
                if row is None:
                    log.warning("outcome for unknown mutation %s ignored", outcome.mutation_id)
                    continue
                status = "rejected" if outcome.status == "rejected" else "applied"
                conn.execute(
                    "UPDATE outbox SET status = ?, code = ?, message = ?, warnings = ?, result = ?, detail = ?, seq = ?, "
                    "last_error = NULL, resolved_at = ? WHERE mutation_id = ?",
                    (
                        status,
                        outcome.code,
                        outcome.message,
                        _dumps(outcome.warnings),
                        _dumps(outcome.result),
                        None if outcome.detail is None else _dumps(outcome.detail),
                        outcome.seq,
                        now,
                        outcome.mutation_id,
                    ),
                )
                covered = outcome.seq is None or (cursor is not None and outcome.seq <= int(cursor))
                if status == "rejected" or covered:
                    _drop_overlay(conn, dirt, [outcome.mutation_id])
            return _replay(conn, dirt)

        return self.write(job)

    def requeue_from(self, client_seq: int) -> int:
        """The server lost mutations from ``client_seq`` on (it was restored from a backup): push them again."""

        def job(conn: sqlite3.Connection) -> int:
            # a server that lost them holds none of them, whatever it said it shared
            shared = conn.execute(
                "UPDATE outbox SET shared_at = NULL, shared_via = NULL WHERE client_seq >= ? "
                "AND status IN ('pending', 'sent') AND shared_at IS NOT NULL",
                (client_seq,),
            ).rowcount
            requeued = conn.execute(
                "UPDATE outbox SET status = 'sent', dismissed = 0 WHERE client_seq >= ? AND status IN ('applied', 'rejected')",
                (client_seq,),
            ).rowcount
            return int(shared + requeued)

        return self.write(job)

    def renew_client_identity(self, first_unsent_client_seq: int) -> str:
        """The server already holds other mutations under our client_seq numbers (this database was restored
        from a backup): continue under a new client id whose wire numbers start at 1 again."""

        def job(conn: sqlite3.Connection) -> str:
            client_id = new_id()
            _state_set(conn, "client_id", client_id)
            _state_set(conn, "seq_offset", first_unsent_client_seq - 1)
            return client_id

        return self.write(job)

    # -- confirmed state (sync engine only) --------------------------------------------------------
    def cursor(self) -> int | None:
        """The feed position the confirmed tables reflect; None before the first bootstrap finished."""
        value = self.state("cursor")
        return None if value is None else int(value)

    def apply_changes(
        self,
        changes: Sequence[Change],
        *,
        cursor: int,
        lan: LanPage | None = None,
        more_coming: bool = False,
    ) -> set[str]:
        """Apply one pulled page and move the cursor in one transaction; settle covered overlays.

        ``lan``: the page came from a clinic hub, with the LAN's mutations after the ``lan_after`` the
        pull sent (see ``lan_replay``); they are stored and replayed in the same transaction. ``None``
        (the central API answered): the LAN list this PC held is forgotten (those mutations are still in
        their own PCs' outboxes). Returns the entity kinds whose view changed.

        ``more_coming``: more confirmed pages follow at once (the feed has more, or a clinic hub is still
        relaying its backlog, each step of which settles more of the LAN list). New entries run now, but
        the re-runs this page's changes call for are held (``overlay_dirt``) and done with the page that
        ends the burst: after a day on the LAN, each page settles a few hundred entries and changes rows
        nearly every later entry read, so running them per page ran the whole list again per page."""

        def job(conn: sqlite3.Connection) -> set[str]:
            if _state_get(conn, "bootstrap") is not None:
                raise StoreError(
                    "a bootstrap is in progress; finish it before pulling", code="bootstrap_in_progress"
                )
            epoch = int(_state_get(conn, "epoch", 0))
            old = _confirmed_old(conn, changes)
            kinds = _upsert(conn, changes, epoch=epoch)
            _state_set(conn, "cursor", cursor)
            _state_set(conn, "last_pull", self.clock().isoformat())
            dirt = _Dirt()
            _touch_confirmed(conn, dirt, changes, old)
            _settle_overlay(conn, cursor, dirt)
            lan_replay(conn, lan, cursor=cursor, dirt=dirt)
            if more_coming:
                _hold_reruns(conn, dirt)
            else:
                _release_reruns(conn, dirt)
            return kinds | _replay(conn, dirt)

        return self._changed(self.write(job))

    def reruns_held(self) -> bool:
        """Whether re-runs wait for the end of a burst of pages (``apply_changes(more_coming=True)``)."""
        with self.reading() as view:
            return view.conn.execute("SELECT 1 FROM overlay_dirt LIMIT 1").fetchone() is not None

    def release_reruns(self) -> set[str]:
        """Do the held re-runs now (the burst ended without a page saying so: the pull failed, the
        app starts). Returns the entity kinds whose view changed."""

        def job(conn: sqlite3.Connection) -> set[str]:
            dirt = _Dirt()
            _release_reruns(conn, dirt)
            return _replay(conn, dirt)

        return self._changed(self.write(job))

    def lan_after(self) -> int:
        """The ``lan_after`` to send with the next pull: how far this PC has read the LAN list of the
        clinic hub it last pulled from (0: from the start)."""
        value = self.state(LAN_STATE)
        return int(value.get("after", 0)) if isinstance(value, dict) else 0

    def lan_hub(self) -> HubInfo | None:
        """The clinic hub whose LAN list this PC holds (as of its last pull), or None."""
        value = self.state(LAN_STATE)
        if not isinstance(value, dict) or not value.get("hub_id"):
            return None
        return HubInfo(
            hub_id=value["hub_id"],
            epoch=value["epoch"],
            upstream=bool(value.get("upstream", True)),
            backlog=int(value.get("backlog", 0)),
        )

    def lan_count(self) -> int:
        """Other PCs' mutations this PC holds from the clinic hub and shows on top of confirmed state."""
        with self.reading() as view:
            return int(view.conn.execute(f"SELECT count(*) FROM lan_mutation WHERE {_NOT_OWN}").fetchone()[0])

    def bootstrap_state(self) -> BootstrapState | None:
        value = self.state("bootstrap")
        return None if value is None else BootstrapState(**value)

    def begin_bootstrap(self, *, head: int, estimated: int) -> BootstrapState:
        """Start a (re-)bootstrap, or return the one in progress to resume it. Rows stay visible meanwhile;
        rows the new snapshot does not contain are removed when it finishes."""

        def job(conn: sqlite3.Connection) -> BootstrapState:
            value = _state_get(conn, "bootstrap")
            if value is not None:
                return BootstrapState(**value)
            state = BootstrapState(
                epoch=int(_state_get(conn, "epoch", 0)) + 1,
                after=0,
                head=head,
                estimated=estimated,
                applied=0,
            )
            _state_set(conn, "bootstrap", state.__dict__)
            return state

        return self.write(job)

    def apply_bootstrap_chunk(self, changes: Sequence[Change], *, checkpoint: int) -> BootstrapState:
        """Apply one verified chunk and its checkpoint in one transaction."""

        def job(conn: sqlite3.Connection) -> BootstrapState:
            value = _state_get(conn, "bootstrap")
            if value is None:
                raise StoreError("no bootstrap in progress", code="bootstrap_missing")
            state = BootstrapState(**value)
            _upsert(conn, changes, epoch=state.epoch)
            state = BootstrapState(
                **{**state.__dict__, "after": checkpoint, "applied": state.applied + len(changes)}
            )
            _state_set(conn, "bootstrap", state.__dict__)
            return state

        state = self.write(job)
        self._changed({change.kind for change in changes})
        return state

    def finish_bootstrap(self, *, cursor: int) -> set[str]:
        """Drop rows the snapshot no longer holds, set the cursor, end the bootstrap; one transaction."""

        def job(conn: sqlite3.Connection) -> set[str]:
            value = _state_get(conn, "bootstrap")
            if value is None:
                raise StoreError("no bootstrap in progress", code="bootstrap_missing")
            state = BootstrapState(**value)
            stale = conn.execute(
                "SELECT DISTINCT kind FROM entity WHERE epoch < ?", (state.epoch,)
            ).fetchall()
            for table in ("search_key", "search_text"):
                conn.execute(
                    f"DELETE FROM {table} WHERE (kind, id) IN (SELECT kind, id FROM entity WHERE epoch < ?)",
                    (state.epoch,),
                )
            conn.execute("DELETE FROM entity WHERE epoch < ?", (state.epoch,))
            _state_set(conn, "epoch", state.epoch)
            _state_set(conn, "cursor", cursor)
            _state_set(conn, "last_pull", self.clock().isoformat())
            conn.execute("DELETE FROM sync_state WHERE key IN ('bootstrap', 'reset_needed')")
            kinds = {row[0] for row in stale} | {
                k for (k,) in conn.execute("SELECT DISTINCT kind FROM entity")
            }
            # a new snapshot: the LAN list is read again from the start, and this PC's own pending
            # mutations run again on top of it
            conn.execute("DELETE FROM sync_state WHERE key = ?", (LAN_STATE,))
            conn.execute("DELETE FROM lan_mutation")
            return kinds | rebuild_overlay(conn)

        return self._changed(self.write(job))

    def note_exchange(self, *, clock_offset: float, at: dt.datetime) -> None:
        """A good exchange with the server: remember when, and the clock offset (server minus this PC)."""

        def job(conn: sqlite3.Connection) -> None:
            _state_set(conn, "clock_offset", round(clock_offset, 3))
            _state_set(conn, "last_sync", at.astimezone(dt.UTC).isoformat())

        self.write(job)

    def needs_bootstrap(self) -> bool:
        return (
            self.cursor() is None or self.state("bootstrap") is not None or bool(self.state("reset_needed"))
        )

    def mark_reset_needed(self, reason: str) -> None:
        """The server refused our cursor (410): re-bootstrap after pushing the outbox. The outbox stays."""
        self.set_state("reset_needed", reason)

    # -- support -----------------------------------------------------------------------------------
    def integrity_check(self) -> list[str]:
        """SQLite's full ``integrity_check``: ``["ok"]`` when the file is sound."""
        with self.reading() as view:
            return [row[0] for row in view.conn.execute("PRAGMA integrity_check").fetchall()]

    def counts(self) -> dict[str, Any]:
        with self.reading() as view:
            conn = view.conn
            return {
                "outbox": dict(
                    conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
                ),
                "entities": dict(conn.execute("SELECT kind, count(*) FROM entity GROUP BY kind").fetchall()),
                "overlay_rows": int(conn.execute("SELECT count(*) FROM overlay").fetchone()[0]),
                "lan_overlay_rows": int(
                    conn.execute("SELECT count(*) FROM overlay WHERE client_seq < 0").fetchone()[0]
                ),
                "lan_mutations": int(
                    conn.execute(f"SELECT count(*) FROM lan_mutation WHERE {_NOT_OWN}").fetchone()[0]
                ),
            }

    def backup_to(self, target: Path | str) -> Path:
        """A consistent copy of the live database through SQLite's online backup API."""
        target = Path(target)

        def job(conn: sqlite3.Connection) -> None:
            pass

        self.write(job)  # let queued writes finish first
        dst = crypto.raw_connect(target, self._key)  # a backup is encrypted under the same key
        try:
            with self.reading() as view:
                view.conn.backup(dst)
        finally:
            dst.close()
        return target

    @property
    def encrypted(self) -> bool:
        return self._key is not None


def backup_database(conn: sqlite3.Connection, path: Path, *, label: str, key: bytes | None = None) -> Path:
    """Copy an open database beside itself with SQLite's online backup API (never a file copy);
    encrypted under ``key`` like the store."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.{label}.{stamp}.bak")
    dst = crypto.raw_connect(target, key)
    try:
        conn.backup(dst)
    finally:
        dst.close()
    return target


def _state_get(conn: sqlite3.Connection, key: str, default: Any = None) -> Any:
    row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
    return default if row is None else json.loads(row[0])


def _state_set(conn: sqlite3.Connection, key: str, value: Any) -> None:
    conn.execute(
        "INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, _dumps(value)),
    )


# The key of this store's local pickup-code digests, {"id", "key" (hex)}: made when the store is made (or
# first opened by a version that knows it), kept in the (encrypted) file, never sent and never logged.
PICKUP_KEY_STATE = "pickup_local_key"


def _pickup_key_id(conn: sqlite3.Connection) -> str | None:
    """The id of the store's local digest key, registered in this process (None for a file without one:
    its pending view keeps the slow digests)."""
    value = _state_get(conn, PICKUP_KEY_STATE)
    if not value:
        return None
    pickup_rules.register_local_key(str(value["id"]), bytes.fromhex(value["key"]))
    return str(value["id"])


def _pickup_digests(key_id: str | None) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext() if key_id is None else pickup_rules.local_digests(key_id)


_UPSERT = (
    "INSERT INTO entity (kind, id, version, seq, epoch, data, k1, k2, k3, k4, k5, k6, k7, k8) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (kind, id) DO UPDATE SET version = excluded.version, seq = excluded.seq, "
    "epoch = excluded.epoch, data = excluded.data, k1 = excluded.k1, k2 = excluded.k2, k3 = excluded.k3, "
    "k4 = excluded.k4, k5 = excluded.k5, k6 = excluded.k6, k7 = excluded.k7, k8 = excluded.k8"
)


def _upsert(conn: sqlite3.Connection, changes: Sequence[Change], *, epoch: int) -> set[str]:
    """Write confirmed rows (server state wins) and refresh their search entries. Search entries are
    deleted only for rows that were already here (most pulled rows are new)."""
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    rows = []
    for change in changes:
        # Kinds this app version does not know yet are kept too: a newer app will read them.
        rows.append(
            (
                change.kind,
                change.id,
                change.version,
                change.seq,
                epoch,
                json.dumps(change.data, ensure_ascii=False, separators=(",", ":")),
                *schema.slots_of(change.kind, change.data),
            )
        )
        if change.kind in search.SEARCHABLE:
            by_kind.setdefault(change.kind, {})[change.id] = change.data
    existing: dict[str, set[str]] = {}
    for kind, items in by_kind.items():
        ids = list(items)
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                r[0]
                for r in conn.execute(
                    f"SELECT id FROM entity WHERE kind = ? AND id IN ({marks})", (kind, *chunk)
                )
            )
        existing[kind] = found
    conn.executemany(_UPSERT, rows)
    for kind, items in by_kind.items():
        old = existing[kind]
        search.index_rows(conn, kind, [(i, d) for i, d in items.items() if i in old])
        search.index_new_rows(conn, kind, [(i, d) for i, d in items.items() if i not in old])
    return {change.kind for change in changes}


def _insert_overlay(
    conn: sqlite3.Connection,
    mutation_id: str,
    client_seq: int,
    writes: Sequence[Entity],
    *,
    restricted: frozenset[str] = frozenset(),
) -> dict[tuple[str, str], tuple[int, str]]:
    """Write one position's rows; returns them as ``{(kind, id): (version, data)}``."""
    rows = []
    for written in writes:
        data = written.model_dump(mode="json")
        if written.KIND in restricted:
            data = _restricted(written.KIND, data)
        rows.append(
            (
                mutation_id,
                client_seq,
                written.KIND,
                written.id,
                written.version,
                json.dumps(data, ensure_ascii=False, separators=(",", ":")),
                *schema.slots_of(written.KIND, data),
            )
        )
    conn.executemany(
        "INSERT OR REPLACE INTO overlay (mutation_id, client_seq, kind, id, version, data, "
        "k1, k2, k3, k4, k5, k6, k7, k8) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return {(r[2], r[3]): (r[4], r[5]) for r in rows}


# -- replaying pending mutations -------------------------------------------------------------------
# A PC's view = confirmed rows + the LAN list's entries in hub order (positions ``_lan_seq(hub_seq)``,
# negative) + its own pending mutations the hub has not shared (positions ``client_seq``), each run
# through its shared handler on the state below its position. The overlay holds each position's writes
# and ``overlay_read`` what its handler read (``LocalView`` read tokens). When something changes — pulled
# confirmed rows, entries added, settled or rejected — only the positions whose reads match a changed row
# run again, in order, and after them those that read what a re-run wrote differently (transitively).
# The result equals a replay of everything from scratch (``rebuild_overlay``).

_BOTTOM = -(2**63)  # below every position: a change of confirmed rows


@dataclass
class _Dirt:
    """What changed under the overlay in one transaction: read tokens with the position after which
    they changed, positions to run whatever they read, and the entity kinds whose view changed."""

    tokens: dict[str, int] = field(default_factory=dict)
    forced: set[int] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)
    runs: dict[str, int] = field(default_factory=lambda: {"lan": 0, "own": 0, "kept": 0})

    def touch(self, tokens: set[str], position: int) -> list[str]:
        """Note ``tokens`` changed after ``position``; returns those that are new or now lower."""
        fresh = []
        for token in tokens:
            known = self.tokens.get(token)
            if known is None or position < known:
                self.tokens[token] = position
                fresh.append(token)
        return fresh


@dataclass
class _Replayer:
    """Everything one transaction's replay needs once: the session, scope, known read shapes."""

    conn: sqlite3.Connection
    cursor: int | None
    restricted: frozenset[str]
    session_staff: Staff | None
    campus_id: str | None
    device_id: str
    shapes: dict[str, set[tuple[str, ...]]]
    zone: dt.tzinfo | None  # the hospital's zone as this PC was told (None: its own): entries' ``today``
    pickup_key_id: str | None = None
    staff_cache: dict[str, Staff] = field(default_factory=dict)

    @classmethod
    def of(cls, conn: sqlite3.Connection) -> _Replayer:
        session_value = _state_get(conn, "session")
        cursor = _state_get(conn, "cursor")
        shapes: dict[str, set[tuple[str, ...]]] = {}
        for kind, fields in conn.execute("SELECT kind, fields FROM overlay_shape"):
            shapes.setdefault(kind, set()).add(tuple(json.loads(fields)))
        return cls(
            conn=conn,
            cursor=None if cursor is None else int(cursor),
            restricted=frozenset(_state_get(conn, "scope_view") or ()),
            session_staff=Staff.model_validate(session_value["staff"]) if session_value else None,
            campus_id=session_value.get("campus_id") if session_value else None,
            device_id=str(_state_get(conn, "device_id")),
            shapes=shapes,
            zone=clinic_time.zone_named(_state_get(conn, CLINIC_TIMEZONE_STATE)),
            pickup_key_id=_pickup_key_id(conn),
        )

    def pickup_digests(self) -> contextlib.AbstractContextManager[None]:
        """The store's local pickup-code digests for a handler run (``LocalStore.pickup_digests``)."""
        return _pickup_digests(self.pickup_key_id)

    def tokens(self, kind: str, entity_id: str, data: str | None) -> set[str]:
        return row_tokens(
            kind, entity_id, None if data is None else json.loads(data), self.shapes.get(kind, ())
        )

    def note_shapes(self, view: LocalView) -> None:
        new = [(k, f) for k, f in view.shapes if f not in self.shapes.get(k, set())]
        for kind, fields in new:
            self.shapes.setdefault(kind, set()).add(fields)
        if new:
            self.conn.executemany(
                "INSERT OR IGNORE INTO overlay_shape (kind, fields) VALUES (?, ?)",
                [(k, json.dumps(list(f))) for k, f in new],
            )

    def staff(self, view: LocalView, staff_id: str) -> Staff | None:
        data = view.get_data("staff", staff_id)  # read (and recorded) at this position every time
        if data is None:
            return None
        if data not in self.staff_cache:
            self.staff_cache[data] = Staff.model_validate_json(data)
        return self.staff_cache[data]

    def effect(
        self, position: int, view: LocalView
    ) -> tuple[str, list[Entity] | None, frozenset[str]] | None:
        """Run the mutation at ``position``: (mutation_id, its writes or None when the local rules refuse
        it, the kinds to show restricted), or None when nothing is at that position any more."""
        conn = self.conn
        cursor = self.cursor if self.cursor is not None else -1
        if position < 0:
            row = conn.execute(
                f"SELECT {', '.join('l.' + c.strip() for c in _LAN_COLUMNS.split(','))}, "
                "CASE WHEN b.mutation_id IS NULL THEN 0 "
                "WHEN (l.status = 'applied' AND coalesce(l.seq, 0) <= ?) OR b.status = 'rejected' "
                "OR (b.status = 'applied' AND coalesce(b.seq, 0) <= ?) THEN 2 ELSE 1 END "
                "FROM lan_mutation l LEFT JOIN outbox b ON b.mutation_id = l.mutation_id WHERE l.hub_seq = ?",
                (cursor, cursor, position + LAN_SEQ_BASE),
            ).fetchone()
            if row is None:
                return None
            (_, mutation_id, _, device_id, staff_id, campus_id, name, args, base_version, at, own) = row
            if own == 2:  # this PC's own, settled or rejected: no effect here
                conn.execute(
                    "UPDATE lan_mutation SET refused = 0 WHERE hub_seq = ?", (position + LAN_SEQ_BASE,)
                )
                return mutation_id, [], frozenset()
            # this user gets pickup-code digests blank (both copies): _insert_overlay blanks what a
            # replayed rx.review hashes before anything reads it, so the slow hash is not computed;
            # this PC's own writes are shown as it made them (no masking), like its other pending ones
            restricted = frozenset() if own else self.restricted
            unseen = not own and {"pickup_code", "rx"} <= self.restricted
            with self.pickup_digests(), pickup_rules.digests_unseen() if unseen else contextlib.nullcontext():
                writes = self._lan_effect(
                    view,
                    name,
                    json.loads(args),
                    staff_id,
                    device_id,
                    campus_id,
                    base_version,
                    at,
                    own=bool(own),
                )
            conn.execute(
                "UPDATE lan_mutation SET refused = ? WHERE hub_seq = ?",
                (0 if writes is not None else 1, position + LAN_SEQ_BASE),
            )
            return mutation_id, writes, restricted
        found = conn.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE client_seq = ? AND status IN ('pending', 'sent') "
            "AND mutation_id NOT IN (SELECT mutation_id FROM lan_mutation)",
            (position,),
        ).fetchone()
        if found is None:
            return None
        entry = _entry(found)
        spec = REGISTRY.get(entry.name)
        if spec is None:
            return entry.mutation_id, None, frozenset()
        staff = self.staff(view, entry.staff_id) or self.session_staff
        ctx = MutationContext(
            staff_id=entry.staff_id,
            roles=frozenset(staff.roles if staff else ()),
            device_id=self.device_id,
            campus_id=self.campus_id,
            now=entry.occurred_at,
            today=clinic_time.day_of(entry.occurred_at, self.zone),
            base_version=entry.base_version,
        )
        try:
            with self.pickup_digests():
                effect = spec.handler(view, spec.args.model_validate(entry.args), ctx)
        except (Rejected, ValidationError) as refusal:
            log.info("pending %s #%s does not pass the local rules: %s", entry.name, position, refusal)
            return entry.mutation_id, None, frozenset()
        return entry.mutation_id, list(effect.writes), frozenset()

    def _lan_effect(
        self,
        view: LocalView,
        name: str,
        args: dict[str, Any],
        staff_id: str,
        device_id: str,
        campus_id: str | None,
        base_version: int | None,
        occurred_at: str,
        *,
        own: bool,
    ) -> list[Entity] | None:
        """What one LAN entry writes under the local rules, or None when they refuse it. Staff roles come
        from the Staff row, never from the entry (this PC's session staff for its own entries when the
        row is not held)."""
        spec = REGISTRY.get(name)
        if spec is None:
            return None
        staff = self.staff(view, staff_id)
        fallback = self.session_staff if own else None
        if staff is None and fallback is not None and fallback.id == staff_id:
            staff = fallback
        roles = frozenset(staff.roles) if staff is not None and not staff.voided else frozenset()
        if not spec.roles & roles:
            log.info("LAN %s by staff %s: no role here may do it; not shown", name, staff_id)
            return None
        at = dt.datetime.fromisoformat(occurred_at)
        ctx = MutationContext(
            staff_id=staff_id,
            roles=roles,
            device_id=device_id,
            campus_id=campus_id,
            now=at,
            today=clinic_time.day_of(at, self.zone),
            base_version=base_version,
        )
        try:
            effect = spec.handler(view, spec.args.model_validate(args), ctx)
        except (Rejected, ValidationError) as refusal:
            log.info("LAN %s by staff %s does not pass the local rules: %s", name, staff_id, refusal)
            return None
        return list(effect.writes)


def _overlay_at(conn: sqlite3.Connection, position: int) -> dict[tuple[str, str], tuple[int, str]]:
    return {
        (kind, entity_id): (version, data)
        for kind, entity_id, version, data in conn.execute(
            "SELECT kind, id, version, data FROM overlay WHERE client_seq = ?", (position,)
        )
    }


def _readers(conn: sqlite3.Connection, token: str, after: int) -> list[int]:
    return [
        p
        for (p,) in conn.execute(
            "SELECT client_seq FROM overlay_read WHERE token = ? AND client_seq > ?", (token, after)
        )
    ]


def _remove(
    conn: sqlite3.Connection, dirt: _Dirt, positions: Sequence[int], replayer: _Replayer | None = None
) -> None:
    """Take the writes and reads of these positions out of the overlay (their mutation is settled,
    rejected, or moves to another position); what they wrote changes for the positions after them."""
    if not positions:
        return
    replayer = replayer or _Replayer.of(conn)
    old = {p: _overlay_at(conn, p) for p in positions}
    conn.executemany("DELETE FROM overlay WHERE client_seq = ?", [(p,) for p in positions])
    conn.executemany("DELETE FROM overlay_read WHERE client_seq = ?", [(p,) for p in positions])
    for position, rows in old.items():
        beneath = LocalView(conn, below=position)
        for (kind, entity_id), (_, data) in rows.items():
            dirt.kinds.add(kind)
            tokens = replayer.tokens(kind, entity_id, data)
            tokens |= replayer.tokens(kind, entity_id, beneath.get_data(kind, entity_id))
            dirt.touch(tokens, position)


def _confirmed_old(conn: sqlite3.Connection, changes: Sequence[Change]) -> dict[tuple[str, str], str | None]:
    """The confirmed data of the rows a page changes, before it is applied (only when something pending
    may have read them)."""
    if conn.execute("SELECT 1 FROM overlay_read LIMIT 1").fetchone() is None:
        return {}
    old: dict[tuple[str, str], str | None] = {(c.kind, c.id): None for c in changes}
    by_kind: dict[str, list[str]] = {}
    for c in changes:
        by_kind.setdefault(c.kind, []).append(c.id)
    for kind, ids in by_kind.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for entity_id, data in conn.execute(
                f"SELECT id, data FROM entity WHERE kind = ? AND id IN ({marks})", (kind, *chunk)
            ):
                old[(kind, entity_id)] = data
    return old


def _touch_confirmed(
    conn: sqlite3.Connection, dirt: _Dirt, changes: Sequence[Change], old: dict[tuple[str, str], str | None]
) -> None:
    if not old:
        return
    replayer = _Replayer.of(conn)
    for change in changes:
        tokens = replayer.tokens(change.kind, change.id, old.get((change.kind, change.id)))
        tokens |= row_tokens(change.kind, change.id, change.data, replayer.shapes.get(change.kind, ()))
        dirt.touch(tokens, _BOTTOM)


def _replay(conn: sqlite3.Connection, dirt: _Dirt) -> set[str]:
    """Run again, in position order, the forced positions and those whose reads the dirt touched, and
    then those whose reads a re-run changed. Returns the kinds whose view changed."""
    if not dirt.forced and not dirt.tokens:
        return dirt.kinds
    replayer = _Replayer.of(conn)
    heap: list[int] = []
    queued: set[int] = set()

    def queue_readers(tokens: Iterable[str], after: int) -> None:
        for token in tokens:
            for position in _readers(conn, token, after):
                if position not in queued:
                    queued.add(position)
                    heapq.heappush(heap, position)

    for position in dirt.forced:
        if position not in queued:
            queued.add(position)
            heapq.heappush(heap, position)
    by_position: dict[int, list[str]] = {}
    for token, after in dirt.tokens.items():
        by_position.setdefault(after, []).append(token)
    for after, tokens in by_position.items():
        queue_readers(tokens, after)
    while heap:
        position = heapq.heappop(heap)
        if position not in dirt.forced and _reads_hold(conn, position):
            dirt.runs["kept"] += 1
            continue  # every read returns what it did: the handler would write the same
        old = _overlay_at(conn, position)
        reads: dict[str, str] = {}
        view = LocalView(conn, below=position, reads=reads)
        outcome = replayer.effect(position, view)
        replayer.note_shapes(view)
        dirt.runs["lan" if position < 0 else "own"] += 1
        conn.execute("DELETE FROM overlay WHERE client_seq = ?", (position,))
        conn.execute("DELETE FROM overlay_read WHERE client_seq = ?", (position,))
        new: dict[tuple[str, str], tuple[int, str]] = {}
        if outcome is not None:
            mutation_id, writes, restricted = outcome
            conn.executemany(
                "INSERT INTO overlay_read (client_seq, token, seen) VALUES (?, ?, ?)",
                [(position, t, seen) for t, seen in reads.items()],
            )
            if writes:
                new = _insert_overlay(conn, mutation_id, position, writes, restricted=restricted)
        beneath = LocalView(conn, below=position)
        changed: set[str] = set()
        for key in old.keys() | new.keys():
            was, now = old.get(key), new.get(key)
            if was == now:
                continue
            kind, entity_id = key
            dirt.kinds.add(kind)
            hit: set[str] = set()
            for version in (was, now):
                data = version[1] if version is not None else beneath.get_data(kind, entity_id)
                hit |= replayer.tokens(kind, entity_id, data)
            changed.update(dirt.touch(hit, position))
        queue_readers(changed, position)
    return dirt.kinds


def _hold_reruns(conn: sqlite3.Connection, dirt: _Dirt) -> None:
    """Keep the dirt's changed tokens for the replay at the end of the burst (the lowest position
    each changed after); its forced positions still run now."""
    conn.executemany(
        "INSERT INTO overlay_dirt (token, after) VALUES (?, ?) "
        "ON CONFLICT (token) DO UPDATE SET after = min(after, excluded.after)",
        dirt.tokens.items(),
    )
    dirt.tokens.clear()


def _release_reruns(conn: sqlite3.Connection, dirt: _Dirt) -> None:
    """Add the held tokens to ``dirt`` (the caller's ``_replay`` runs what they call for)."""
    held = conn.execute("SELECT token, after FROM overlay_dirt").fetchall()
    if held:
        for token, after in held:
            dirt.touch({token}, after)
        conn.execute("DELETE FROM overlay_dirt")


def _reads_hold(conn: sqlite3.Connection, position: int) -> bool:
    """Whether every read of the mutation at ``position`` returns in the view below it what it returned
    when the mutation last ran (then it would write the same: handlers are pure)."""
    recorded = conn.execute(
        "SELECT token, seen FROM overlay_read WHERE client_seq = ?", (position,)
    ).fetchall()
    if not recorded:
        return False
    view = LocalView(conn, below=position)
    return all(seen != ALWAYS and view.fingerprint(token) == seen for token, seen in recorded)


def _all_positions(conn: sqlite3.Connection) -> set[int]:
    """Every position that holds a pending mutation: the LAN list's entries and this PC's own unshared."""
    positions = {_lan_seq(h) for (h,) in conn.execute("SELECT hub_seq FROM lan_mutation")}
    positions.update(
        p
        for (p,) in conn.execute(
            "SELECT client_seq FROM outbox WHERE status IN ('pending', 'sent') "
            "AND mutation_id NOT IN (SELECT mutation_id FROM lan_mutation)"
        )
    )
    return positions


def rebuild_overlay(conn: sqlite3.Connection) -> set[str]:
    """Replay every pending mutation from scratch, in order, on the confirmed state (inside the caller's
    transaction): what the incremental replay must equal, and how a store without read records starts."""
    kinds = {k for (k,) in conn.execute("SELECT DISTINCT kind FROM overlay")}
    conn.execute("DELETE FROM overlay")
    conn.execute("DELETE FROM overlay_read")
    conn.execute("DELETE FROM overlay_dirt")
    dirt = _Dirt(forced=_all_positions(conn), kinds=kinds)
    return _replay(conn, dirt)


def _drop_overlay(conn: sqlite3.Connection, dirt: _Dirt, mutation_ids: Sequence[str]) -> None:
    """These own mutations have their outcome: their writes leave the overlay, wherever they stand."""
    positions: set[int] = set()
    for mutation_id in mutation_ids:
        positions.update(
            p
            for (p,) in conn.execute(
                "SELECT DISTINCT client_seq FROM overlay WHERE mutation_id = ?", (mutation_id,)
            )
        )
        positions.update(
            p for (p,) in conn.execute("SELECT client_seq FROM outbox WHERE mutation_id = ?", (mutation_id,))
        )
        positions.update(
            _lan_seq(h)
            for (h,) in conn.execute("SELECT hub_seq FROM lan_mutation WHERE mutation_id = ?", (mutation_id,))
        )
    _remove(conn, dirt, sorted(positions))


def _settle_overlay(conn: sqlite3.Connection, cursor: int, dirt: _Dirt) -> None:
    """Drop the overlay of applied mutations whose writes the confirmed state now covers."""
    done = [
        p
        for (p,) in conn.execute(
            "SELECT DISTINCT o.client_seq FROM overlay o JOIN outbox b ON b.mutation_id = o.mutation_id "
            "WHERE b.status = 'applied' AND coalesce(b.seq, 0) <= ?",
            (cursor,),
        )
    ]
    _remove(conn, dirt, done)


# -- the clinic hub's LAN list ---------------------------------------------------------------------
# The mutations a clinic hub shares while the central API has not confirmed them. They are kept in
# ``lan_mutation`` (in hub order) and replayed through the shared handlers into the overlay with
# ``client_seq = hub_seq - LAN_SEQ_BASE``: negative, so below every own pending write (own client_seq
# >= 1) in ``LocalView``'s "newest write wins". This PC's own entries the hub shared are among them (same
# mutation_id as in the outbox): they run at their place in hub order, so other PCs' work built on them
# passes the local rules; each own mutation has overlay rows at one position only (the LAN one once its
# entry is held, its client_seq before and after), so it never shows twice. Only own entries the hub
# has not shared yet stay on top. Everything else reading the overlay sees them.

LAN_SEQ_BASE = 2**62
LAN_STATE = "lan"  # {"hub_id", "epoch", "after", "upstream", "backlog"}
_LAN_COLUMNS = (
    "hub_seq, mutation_id, client_id, device_id, staff_id, campus_id, name, args, base_version, occurred_at"
)


_NOT_OWN = "mutation_id NOT IN (SELECT mutation_id FROM outbox)"


def _lan_seq(hub_seq: int) -> int:
    return hub_seq - LAN_SEQ_BASE


def _lan_clear(conn: sqlite3.Connection, dirt: _Dirt) -> None:
    """Forget the LAN list and its overlay (another hub epoch, or a server that is not a hub); this PC's
    own entries in it go back on top, at their client_seq."""
    conn.execute("DELETE FROM sync_state WHERE key = ?", (LAN_STATE,))
    held = [_lan_seq(h) for (h,) in conn.execute("SELECT hub_seq FROM lan_mutation")]
    if not held:
        return
    own = [
        p
        for (p,) in conn.execute(
            "SELECT b.client_seq FROM outbox b JOIN lan_mutation l ON l.mutation_id = b.mutation_id "
            "WHERE b.status IN ('pending', 'sent')"
        )
    ]
    _remove(conn, dirt, held)
    conn.execute("DELETE FROM lan_mutation")
    dirt.forced.update(own)


def lan_replay(conn: sqlite3.Connection, page: LanPage | None, *, cursor: int, dirt: _Dirt) -> None:
    """Take one pull's LAN part (inside the page's transaction): store new pending entries (to run),
    take rejected ones out at once and applied ones once ``cursor`` covers them. The caller's
    ``_replay`` then runs what needs it."""
    if page is None:
        _lan_clear(conn, dirt)
        return
    hub = page.hub
    state = _state_get(conn, LAN_STATE)
    known = isinstance(state, dict) and state.get("hub_id") == hub.hub_id and state.get("epoch") == hub.epoch
    if known and 0 < page.sent_after < hub.lan_floor:
        known = False  # the hub pruned settled entries this PC never read: read the list again from 0
    entries: Sequence[LanMutation] = page.entries
    after = int(state.get("after", 0)) if known and isinstance(state, dict) else 0
    lan_next = page.lan_next
    if not known:
        if isinstance(state, dict) or conn.execute("SELECT 1 FROM lan_mutation LIMIT 1").fetchone():
            log.info(
                "clinic hub %s epoch %s: the LAN list is read again from the start", hub.hub_id, hub.epoch
            )
        _lan_clear(conn, dirt)
        identity = {"hub_id": hub.hub_id, "epoch": hub.epoch}
        seen = _state_get(conn, "lan_hub_seen")
        if seen is not None and seen != identity:
            # another hub, or this one rebuilt: it may not hold what the one before shared
            conn.execute(
                "UPDATE outbox SET shared_at = NULL, shared_via = NULL "
                "WHERE status IN ('pending', 'sent') AND shared_at IS NOT NULL"
            )
        _state_set(conn, "lan_hub_seen", identity)
        if page.sent_after:  # these entries follow a position in another list: ask again from 0
            entries, lan_next = [], 0
    gone: list[int] = []
    new_rows = []
    for entry in entries:
        after = max(after, entry.hub_seq)
        row = conn.execute(
            "SELECT hub_seq FROM lan_mutation WHERE mutation_id = ?", (entry.mutation_id,)
        ).fetchone()
        if entry.status == "rejected":
            if row is not None:
                conn.execute("DELETE FROM lan_mutation WHERE hub_seq = ?", (row[0],))
                gone.append(_lan_seq(row[0]))
            continue
        if row is not None:
            if entry.status == "applied":
                conn.execute(
                    "UPDATE lan_mutation SET status = 'applied', seq = ? WHERE hub_seq = ?",
                    (entry.seq, row[0]),
                )
            continue
        if entry.status == "applied" and (entry.seq is None or entry.seq <= cursor):
            continue  # confirmed and already in the pulled state
        new_rows.append(
            (
                entry.hub_seq,
                entry.mutation_id,
                entry.client_id,
                entry.device_id,
                entry.staff_id,
                entry.campus_id,
                entry.name,
                _dumps(entry.args),
                entry.base_version,
                entry.occurred_at.isoformat(),
                entry.status,
                entry.seq,
            )
        )
    if new_rows:
        # this PC's own entries the hub now shares leave their place on top: they run at their hub_seq
        ids = [r[1] for r in new_rows]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            gone.extend(
                p
                for (p,) in conn.execute(
                    f"SELECT client_seq FROM outbox WHERE mutation_id IN ({marks})", chunk
                )
            )
    conn.executemany(
        f"INSERT OR IGNORE INTO lan_mutation ({_LAN_COLUMNS}, status, seq) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        new_rows,
    )
    dirt.forced.update(_lan_seq(r[0]) for r in new_rows)
    # applied upstream and covered by the confirmed state: the pulled rows take over, no flicker. An own
    # entry whose outcome this PC has not stored yet keeps its (now effectless) row, so that nothing runs
    # it again on top of the confirmed state meanwhile
    settled = [
        h
        for (h,) in conn.execute(
            "SELECT hub_seq FROM lan_mutation WHERE status = 'applied' AND coalesce(seq, 0) <= ?", (cursor,)
        )
    ]
    gone.extend(_lan_seq(h) for h in settled)
    conn.executemany(
        "DELETE FROM lan_mutation WHERE hub_seq = ? AND mutation_id NOT IN "
        "(SELECT mutation_id FROM outbox WHERE status IN ('pending', 'sent'))",
        [(h,) for h in settled],
    )
    # settled and rejected entries leave before anything runs: what they wrote is what changed
    _remove(conn, dirt, gone)
    dirt.forced.difference_update(p for p in gone if p < 0)
    if lan_next is not None:
        after = lan_next
    _state_set(
        conn,
        LAN_STATE,
        {
            "hub_id": hub.hub_id,
            "epoch": hub.epoch,
            "after": after,
            "upstream": hub.upstream,
            "backlog": hub.backlog,
        },
    )


def _restricted(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """A LAN row in the form this PC's user receives confirmed rows of its kind (``scope_view``): the
    same masking the central API's feed applies, so another PC's mutation never widens what is seen."""
    if kind == "patient":
        return mask_patient_identifiers(data)
    if kind == "pickup_code":
        return {**data, "digest": ""}
    if kind == "rx" and data.get("pickup_code_hash"):
        return {**data, "pickup_code_hash": ""}
    return data
