"""Applying pushed mutations: idempotent by mutation_id, contiguous client_seq, outcomes stored so a
replay returns the very same answer. Inside a group's write transaction (``GroupCommitter``) a mutation
takes no savepoint on the group's first run and one on its second (``_with_retries``); the group's
clients and replay-log entries are read at its start (``prepare_group``), and its mutation log rows,
client sequences, feed positions and audit entries are written once at its end (``engine.pending``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from server_stub.db.engine import (
    Database,
    DatabaseBusy,
    drop_pending,
    pending,
    pending_mark,
    transaction_state,
)
from server_stub.db.tables import mutation_failure, mutation_log, sync_client
from server_stub.services import audit, contacts, desk_slots
from server_stub.services.auth import Principal
from server_stub.services.clock import local_today, utcnow
from server_stub.services.entities import ServerState, read_ahead, write_entities
from server_stub.services.group_commit import (
    WITHOUT_SAVEPOINTS,
    GroupCommitter,
    RunAgainWithSavepoints,
    lost_a_race,
)
from shared.domain import pickup
from shared.domain.entities import works_at
from shared.domain.event_time import bound_occurred_at
from shared.domain.mutations import REGISTRY, MutationContext, Rejected
from shared.errors import Conflict, SuiteError
from shared.i18n import tr
from shared.ids import new_id
from shared.protocol.models import MutationEnvelope, MutationOutcome

log = logging.getLogger(__name__)


class SequenceError(SuiteError):
    """The batch does not continue the client's sequence: nothing after the last good mutation is applied."""

    code = "client_seq_gap"


class ClientMismatch(SuiteError):
    code = "client_mismatch"


class MutationFailed(Exception):
    """A mutation's handling made the server fail; the failure is already counted (``mutation_failure``)."""

    def __init__(self, mutation_id: str, failures: int) -> None:
        super().__init__(f"mutation {mutation_id} made the server fail ({failures} of {MAX_FAILURES})")
        self.mutation_id = mutation_id
        self.failures = failures


# Mutations whose handler stores the digest of a new pickup code (``pickup.code_digest``: scrypt, 16 MiB,
# ~30 ms on a quiet core and 0.1-0.3 s on a busy one). Hashed ahead, outside the write transaction.
_ISSUES_A_CODE = frozenset({"rx.review", "rx.pay", "rx.pickup_reissue"})
_SIX_DIGITS = re.compile(r"\d{6}")
_HASHERS = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="code-hash")


def _new_codes(mutations: Sequence[MutationEnvelope]) -> list[tuple[str, str]]:
    """The (prescription, code) pairs whose digest these mutations' handlers will compute."""
    pairs: list[tuple[str, str]] = []
    for envelope in mutations:
        if envelope.name not in _ISSUES_A_CODE:
            continue
        rx_id, code = envelope.args.get("rx_id"), envelope.args.get("pickup_code")
        if (
            isinstance(rx_id, str)
            and 0 < len(rx_id) <= 64
            and isinstance(code, str)
            and _SIX_DIGITS.fullmatch(code)
            and not pickup.easy_to_guess(code)
        ):
            pairs.append((rx_id, code))
    return pairs


async def hash_codes_ahead(mutations: Sequence[MutationEnvelope]) -> None:
    """Compute the pickup-code digests the handlers of ``mutations`` will need (``pickup.code_digest``
    remembers them), on a few threads and before the push is queued for the group committer: the slow
    hash otherwise ran in the writer thread, one after another, holding the database's write lock
    (relayed backlogs spent two thirds of their time there, and pulls waited for the lock). Nothing is
    decided here: the handler computes the same digest (a pure function of the pair) and checks
    everything as before; a pair it never uses costs only the hash."""
    pairs = _new_codes(mutations)
    if not pairs:
        return
    loop = asyncio.get_running_loop()
    try:
        await asyncio.gather(
            *(loop.run_in_executor(_HASHERS, pickup.code_digest, rx, code) for rx, code in pairs)
        )
    except Exception:  # noqa: BLE001 - only a head start: the handler hashes (and fails) as before
        log.warning("hashing pickup codes ahead failed", exc_info=True)


def is_failure_of_a_mutation(error: BaseException) -> bool:
    """Whether a push's failure can be a mutation's fault (a bug, a value the database refuses), as
    opposed to the database being busy or unreachable, a lost race, or a protocol error."""
    excluded = (SuiteError, MutationFailed, RunAgainWithSavepoints, *_NOT_THE_MUTATIONS_FAULT)
    return isinstance(error, Exception) and not isinstance(error, excluded) and not lost_a_race(error)


@dataclass
class PushResult:
    outcomes: list[MutationOutcome]
    last_client_seq: int
    # Mutations refused as malformed (unknown name, bad args) or forbidden; they are stored as rejected.
    invalid: list[MutationOutcome]

    @property
    def forbidden(self) -> bool:
        return any(o.code == "forbidden" for o in self.invalid)

    @property
    def head_seq(self) -> int:
        return max((o.seq or 0 for o in self.outcomes), default=0)


def _stored_outcome(row: Any) -> MutationOutcome:
    return MutationOutcome(
        mutation_id=row.mutation_id,
        client_seq=row.client_seq,
        status=row.status,
        code=row.code,
        message=row.message,
        warnings=row.warnings or [],
        result=row.result or {},
        detail=row.detail,
        seq=row.seq,
        replayed=True,
    )


def _format_validation(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "args"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


# Statements built once with bound parameters (see entities.py): each runs for every pushed mutation.
_STORED = select(mutation_log).where(mutation_log.c.mutation_id == bindparam("b_mutation_id"))
_STORED_MANY = select(mutation_log).where(mutation_log.c.mutation_id.in_(bindparam("b_ids", expanding=True)))
_CLIENT = select(sync_client).where(sync_client.c.client_id == bindparam("b_client_id"))
_CLIENT_LOCKED = _CLIENT.with_for_update()
_CLIENTS_LOCKED = (
    select(sync_client)
    .where(sync_client.c.client_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(sync_client.c.client_id)
    .with_for_update()
)
_FAILURES_MANY = select(mutation_failure.c.mutation_id, mutation_failure.c.failures).where(
    mutation_failure.c.mutation_id.in_(bindparam("b_ids", expanding=True))
)
_NEW_CLIENT = insert(sync_client)
_LOG = insert(mutation_log)
_ADVANCE_CLIENT = (
    update(sync_client)
    .where(sync_client.c.client_id == bindparam("b_client_id"))
    .values(
        last_seq=bindparam("b_last_seq"), last_push_at=bindparam("b_now"), staff_id=bindparam("b_staff_id")
    )
)

# What a write transaction that applies mutations keeps (``engine.transaction_state``) and collects
# (``engine.pending``): the mutation log rows and client sequence advances are written once, just
# before the commit, after the feed has given the mutations their sequences and before the audit
# entries (``before_commit`` orders: feed 0, log 10, clients 20, audit 30).
_LOGGED = "push_logged"  # mutation id -> stored outcome read at the group's start (None: not stored)
_CLIENTS = "push_clients"  # client id -> its sync_client row, read and locked at the group's start
_LOG_PENDING = "push_log_pending"
_TOUCHED = "push_touched"  # client and mutation ids with rows in the two pending lists
_ADVANCE_PENDING = "push_advance_pending"
_LOG_ORDER = 10
_ADVANCE_ORDER = 20
_FAILED = "push_failed"  # mutation id -> times its handling made the server fail, read at the group's start

# A mutation whose handling made the server fail this many times (counted in ``mutation_failure``,
# across pushes and restarts) is stored as rejected ('internal_error'): one poisoned entry never
# blocks its PC's queue. Failures of the database as a whole (busy, unreachable, a lost race) are
# not the mutation's fault and are not counted.
MAX_FAILURES = 3
_NOT_THE_MUTATIONS_FAULT = (DatabaseBusy, OperationalError, SQLAlchemyTimeoutError)


@dataclass(frozen=True)
class PushKeys:
    """What a queued push will touch, so the group's transaction reads it for all pushes at once."""

    client_id: str
    device_id: str
    staff_id: str
    mutation_ids: tuple[str, ...]
    # from the mutations' hints (``MutationSpec.reads_id_of`` / ``takes_numbers``)
    reads: tuple[tuple[str, str], ...] = ()
    numbers: tuple[str, ...] = ()

    @classmethod
    def of(cls, client_id: str, principal: Principal, mutations: list[MutationEnvelope]) -> PushKeys:
        reads: list[tuple[str, str]] = []
        numbers: list[str] = []
        for envelope in mutations:
            spec = REGISTRY.get(envelope.name)
            if spec is None:
                continue
            entity_id = envelope.args.get("id")
            if spec.reads_id_of and isinstance(entity_id, str):
                reads.append((spec.reads_id_of, entity_id))
            numbers.extend(spec.takes_numbers)
        return cls(
            client_id,
            principal.device_id,
            principal.staff.id,
            tuple(m.mutation_id for m in mutations),
            tuple(reads),
            tuple(numbers),
        )


@dataclass
class _Logged:
    """A mutation log row written at the end of the transaction (its outcome's ``seq`` is known then)."""

    client_id: str
    envelope: MutationEnvelope
    principal: Principal
    outcome: MutationOutcome
    received_at: dt.datetime
    # Answers to replays of this mutation within the same transaction; they get its ``seq`` too.
    replays: list[MutationOutcome] = field(default_factory=list)

    def replay(self) -> MutationOutcome:
        answer = self.outcome.model_copy(update={"replayed": True})
        self.replays.append(answer)
        return answer

    def row(self) -> dict[str, Any]:
        envelope, outcome = self.envelope, self.outcome
        return {
            "mutation_id": envelope.mutation_id,
            "client_id": self.client_id,
            "client_seq": envelope.client_seq,
            "name": envelope.name,
            "staff_id": self.principal.staff.id,
            "device_id": self.principal.device_id,
            "status": outcome.status,
            "code": outcome.code,
            "message": outcome.message,
            "warnings": outcome.warnings,
            "result": outcome.result,
            "detail": outcome.detail,
            "seq": outcome.seq,
            "occurred_at": envelope.occurred_at
            if envelope.occurred_at.tzinfo
            else envelope.occurred_at.replace(tzinfo=dt.UTC),
            "received_at": self.received_at,
        }


@dataclass(frozen=True)
class _Advance:
    client_id: str
    last_seq: int
    at: dt.datetime
    staff_id: str


def _write_log(conn: Connection, logged: list[_Logged]) -> None:
    for entry in logged:
        for answer in entry.replays:
            answer.seq = entry.outcome.seq
    if logged:
        conn.execute(_LOG, [entry.row() for entry in logged])


def _write_advances(conn: Connection, advances: list[_Advance]) -> None:
    latest = {advance.client_id: advance for advance in advances}
    if latest:
        conn.execute(
            _ADVANCE_CLIENT,
            [
                {
                    "b_client_id": a.client_id,
                    "b_last_seq": a.last_seq,
                    "b_now": a.at,
                    "b_staff_id": a.staff_id,
                }
                for a in latest.values()
            ],
        )


class _ClientRow(NamedTuple):
    client_id: str
    device_id: str
    last_seq: int


def _new_client_row(
    conn: Connection, *, client_id: str, device_id: str, staff_id: str, now: dt.datetime
) -> _ClientRow:
    conn.execute(
        _NEW_CLIENT,
        {
            "client_id": client_id,
            "device_id": device_id,
            "staff_id": staff_id,
            "last_seq": 0,
            "created_at": now,
        },
    )
    return _ClientRow(client_id, device_id, 0)


def _stored(conn: Connection, mutation_id: str) -> tuple[str, MutationOutcome] | None:
    """(client id, stored outcome) of a mutation already applied: earlier in this transaction, read at
    the group's start, or in the database."""
    state = transaction_state(conn)
    if state is not None and mutation_id in state.get(_TOUCHED, ()):
        for entry in reversed(_pending_list(conn, _LOG_PENDING)):
            if entry.envelope.mutation_id == mutation_id:
                return entry.client_id, entry.replay()
    known = state.get(_LOGGED) if state is not None else None
    if known is not None and mutation_id in known:
        row = known[mutation_id]
    else:
        row = conn.execute(_STORED, {"b_mutation_id": mutation_id}).first()
    return None if row is None else (row.client_id, _stored_outcome(row))


def _client_seq(
    conn: Connection, *, client_id: str, principal: Principal, now: dt.datetime
) -> tuple[str, int]:
    """(device id, last applied client_seq) of a sync client, its row locked for the transaction (a new
    client gets a row)."""
    state = transaction_state(conn)
    known = state.get(_CLIENTS) if state is not None else None
    row = known.get(client_id) if known is not None else None
    if row is None:
        row = conn.execute(_CLIENT_LOCKED, {"b_client_id": client_id}).first() or _new_client_row(
            conn, client_id=client_id, device_id=principal.device_id, staff_id=principal.staff.id, now=now
        )
    last_seq = int(row.last_seq)
    if state is not None and client_id in state.get(_TOUCHED, ()):
        for advance in reversed(_pending_list(conn, _ADVANCE_PENDING)):
            if advance.client_id == client_id:
                last_seq = advance.last_seq
                break
    return str(row.device_id), last_seq


def _pending_list(conn: Connection, key: str) -> list[Any]:
    state = transaction_state(conn)
    rows = state.get(key) if state is not None else None
    return rows if rows is not None else []


def apply_batch(
    db: Database,
    *,
    client_id: str,
    mutations: list[MutationEnvelope],
    principal: Principal,
    timezone: str,
    lang: str,
) -> PushResult:
    """One push in a write transaction of its own (tools and tests; the server groups pushes with
    ``GroupCommitter`` around ``apply_batch_in``). Mutations applied before a SequenceError or any
    other failure are committed, as ``apply_batch_in`` promises."""
    failure: Exception | None = None
    with db.write() as conn:
        try:
            result = apply_batch_in(
                conn,
                client_id=client_id,
                mutations=mutations,
                principal=principal,
                timezone=timezone,
                lang=lang,
            )
        except Exception as error:  # noqa: BLE001 - re-raised after the commit below
            failure = error
    if failure is not None:
        raise failure
    return result


def prepare_group(conn: Connection, keys: Sequence[Any] = ()) -> None:
    """The ``GroupCommitter``'s ``begin``: with the ``PushKeys`` of a group's pushes, read (and lock, in
    one order) the group's sync clients, creating new ones, and look up all of its mutation ids in the
    log: two statements per group instead of two per mutation; and read ahead what the mutations' hints
    name (their own rows, their numbers: ``entities.read_ahead``).

    Locks, on PostgreSQL with several server processes: a group locks its clients here, in client
    order; its handlers lock the rows and counters they write; at its end it takes the feed counter
    and then the audit chain's head (``entities.FEED_FLUSH_ORDER`` before ``audit.FLUSH_ORDER``), which
    every transaction needing both takes in that order, and commits. So groups of different processes
    apply their mutations side by side and queue only for the few end-of-group statements (patient
    numbers come from a sequence, migration 0009). Two groups that do lock the same rows in opposite
    orders are stopped by PostgreSQL's deadlock check, and the committer runs the loser again. On
    SQLite the write lock serialises whole transactions anyway."""
    state = transaction_state(conn)
    pushes = [k for k in keys if isinstance(k, PushKeys)]
    if state is None or not pushes:
        return
    now = utcnow()
    clients: dict[str, Any] = {
        row.client_id: row
        for row in conn.execute(_CLIENTS_LOCKED, {"b_ids": sorted({k.client_id for k in pushes})})
    }
    for k in pushes:
        if k.client_id not in clients:
            clients[k.client_id] = _new_client_row(
                conn, client_id=k.client_id, device_id=k.device_id, staff_id=k.staff_id, now=now
            )
    ids = sorted({mid for k in pushes for mid in k.mutation_ids})
    logged: dict[str, Any] = dict.fromkeys(ids)
    for start in range(0, len(ids), 900):  # under SQL parameter limits
        for row in conn.execute(_STORED_MANY, {"b_ids": ids[start : start + 900]}):
            logged[row.mutation_id] = row
    state[_CLIENTS] = clients
    state[_LOGGED] = logged
    failed: dict[str, int] = {}
    for start in range(0, len(ids), 900):
        for row in conn.execute(_FAILURES_MANY, {"b_ids": ids[start : start + 900]}):
            failed[row.mutation_id] = int(row.failures)
    state[_FAILED] = failed
    read_ahead(conn, [key for k in pushes for key in k.reads], [n for k in pushes for n in k.numbers])


def apply_batch_in(
    conn: Connection,
    *,
    client_id: str,
    mutations: list[MutationEnvelope],
    principal: Principal,
    timezone: str,
    lang: str,
    refuse: Callable[[MutationEnvelope], MutationOutcome] | None = None,
) -> PushResult:
    """Apply mutations in client order inside the caller's write transaction, each in a SAVEPOINT of
    its own, so a rejected or failing mutation undoes only itself. A replayed mutation returns its
    stored outcome; a gap in client_seq stops the batch with SequenceError. Whatever raises, the
    mutations before it are complete and the caller should still commit.

    ``refuse``: instead of running the handlers, store each new mutation as the permanent rejection
    it returns (in sequence and idempotent like any outcome: a relayed batch its hub may not bring)."""
    outcomes: list[MutationOutcome] = []
    invalid: list[MutationOutcome] = []
    last_seq = 0
    # In a group's first run mutations take no savepoint: if one fails where a savepoint was needed,
    # the committer rolls the transaction back and runs the group again with savepoints.
    state = transaction_state(conn)
    alone = state is not None and bool(state.get(WITHOUT_SAVEPOINTS))
    for envelope in mutations:
        try:
            outcome = _apply_one(
                conn,
                client_id=client_id,
                envelope=envelope,
                principal=principal,
                timezone=timezone,
                lang=lang,
                alone=alone,
                refused=None if refuse is None else refuse(envelope),
            )
        except SequenceError as error:
            # Tell the client what did get applied before the gap, so it can acknowledge those.
            previous = error.detail if isinstance(error.detail, dict) else {}
            error.detail = {**previous, "outcomes": [o.model_dump(mode="json") for o in outcomes]}
            raise
        outcomes.append(outcome)
        if outcome.code in ("unknown_mutation", "invalid_args", "forbidden") and not outcome.replayed:
            invalid.append(outcome)
        last_seq = max(last_seq, envelope.client_seq)
    if not mutations:
        value = conn.execute(
            select(sync_client.c.last_seq).where(sync_client.c.client_id == client_id)
        ).scalar_one_or_none()
        last_seq = int(value or 0)
    return PushResult(outcomes=outcomes, last_client_seq=last_seq, invalid=invalid)


async def isolate_failure(
    committer: GroupCommitter,
    work: functools.partial[PushResult],
    client_id: str,
    mutations: list[MutationEnvelope],
    principal: Principal,
) -> None:
    """A push failed as a whole (at commit, outside any mutation's savepoint): apply its mutations one
    transaction each, in order, until one fails, and count that failure against that mutation, so a
    poisoned mutation is still rejected after ``MAX_FAILURES`` tries. The ones before it stand.
    ``work``: the push's ``apply_batch_in`` with every argument but ``mutations`` bound."""
    for envelope in mutations:
        keys = PushKeys.of(client_id, principal, [envelope])
        try:
            await committer.run(functools.partial(work, mutations=[envelope]), size=1, keys=keys)
        except Exception as error:  # noqa: BLE001 - the push's own answer re-raises the original error
            if is_failure_of_a_mutation(error):
                count = functools.partial(note_failure, client_id=client_id, envelope=envelope, error=error)
                await committer.run(count)
            return


class _RejectedAfterWrites(Exception):
    """A handler refused after it had written (a numbering counter): its attempt is rolled back and
    the refusal recorded in a fresh savepoint (``_with_retries``)."""

    def __init__(self, outcome: MutationOutcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


def _with_retries(
    conn: Connection,
    work: Callable[[Connection], MutationOutcome],
    give_up: Callable[[Connection, str], MutationOutcome] | None,
    reject: Callable[[Connection, MutationOutcome], MutationOutcome],
    *,
    alone: bool = False,
) -> MutationOutcome:
    """Run ``work`` in a SAVEPOINT, again (up to three times) when a concurrent writer got there first:
    a version moved under us or a unique key was taken. The handler then decides afresh on the new
    state, so no rule is bypassed. If it keeps losing, ``give_up`` records a permanent rejection in a
    fresh savepoint (so a client's queue is never blocked), or the caller gets a 409 Conflict. A
    handler that refuses after writing has its attempt undone and ``reject`` records the refusal in a
    fresh savepoint (a handler that refuses before writing needs no undo: no extra savepoint)."""
    if alone:
        # A group's first run (GroupCommitter.WITHOUT_SAVEPOINTS): no savepoint; any failure,
        # including a lost race or a refusal to undo, rolls it all back and runs it again with them.
        # A sequence gap or a foreign mutation id is found before anything is written: no undo needed.
        try:
            return work(conn)
        except (SequenceError, ClientMismatch):
            raise
        except Exception as error:
            raise RunAgainWithSavepoints(str(error)) from error
    # Audit entries are deferred to the end of the transaction (audit.defer): an attempt whose
    # savepoint is rolled back must take its entries with it.
    mark = pending_mark(conn)
    for attempt in range(3):
        try:
            with conn.begin_nested():
                return work(conn)
        except (Conflict, IntegrityError) as error:
            drop_pending(conn, mark)
            log.warning("write lost a race (attempt %d): %s", attempt + 1, error)
        except _RejectedAfterWrites as refusal:
            drop_pending(conn, mark)
            outcome = refusal.outcome
            break
        except BaseException:
            drop_pending(conn, mark)
            raise
    else:
        message = "concurrent changes kept colliding with this one; check the record and try again"
        if give_up is None:
            raise Conflict(message)
        try:
            with conn.begin_nested():
                return give_up(conn, message)
        except BaseException:
            drop_pending(conn, mark)
            raise
    try:
        with conn.begin_nested():
            return reject(conn, outcome)
    except BaseException:
        drop_pending(conn, mark)
        raise


def _audit_outcome(
    conn: Connection,
    *,
    envelope: MutationEnvelope,
    outcome: MutationOutcome,
    principal: Principal,
    now: dt.datetime,
    detail: dict[str, Any],
) -> None:
    status = outcome.status if outcome.code is None else f"{outcome.status}:{outcome.code}"
    if principal.hub_id is not None:
        # relayed by a clinic hub: the hub, besides the staff member, PC and time that made it
        occurred = envelope.occurred_at
        detail = {
            **detail,
            "hub_id": principal.hub_id,
            "occurred_at": (occurred if occurred.tzinfo else occurred.replace(tzinfo=dt.UTC)).isoformat(),
        }
    audit.defer(
        conn,
        at=now,
        action=f"mutation.{envelope.name}"[:64],
        outcome=status[:32],
        staff_id=principal.staff.id,
        username=principal.staff.username,
        device_id=principal.device_id,
        target=envelope.mutation_id,
        # called when the entry is written, at the transaction's end, once the feed gave ``seq``
        detail=lambda: {**detail, "result": outcome.result, "seq": outcome.seq},
    )


def _apply_one(
    conn: Connection,
    *,
    client_id: str,
    envelope: MutationEnvelope,
    principal: Principal,
    timezone: str,
    lang: str,
    alone: bool = False,
    refused: MutationOutcome | None = None,
) -> MutationOutcome:
    def attempt(
        conn: Connection, give_up: str | None = None, rejection: MutationOutcome | None = None
    ) -> MutationOutcome:
        return _apply_in_transaction(
            conn,
            client_id=client_id,
            envelope=envelope,
            principal=principal,
            timezone=timezone,
            lang=lang,
            give_up=give_up,
            rejection=rejection or refused,
        )

    def reject(conn: Connection, outcome: MutationOutcome) -> MutationOutcome:
        return attempt(conn, rejection=outcome)

    try:
        return _with_retries(conn, attempt, attempt, reject, alone=alone)
    except (SequenceError, ClientMismatch, RunAgainWithSavepoints, *_NOT_THE_MUTATIONS_FAULT):
        raise
    except Exception as error:
        if alone or lost_a_race(error) or isinstance(error, MutationFailed):
            raise
        # Its savepoint is rolled back and the transaction goes on (the group commits the others):
        # count the failure there; at the limit, store the mutation as rejected instead of failing.
        failures = note_failure(conn, client_id=client_id, envelope=envelope, error=error)
        if failures < MAX_FAILURES:
            raise MutationFailed(envelope.mutation_id, failures) from error
        mark = pending_mark(conn)
        try:
            with conn.begin_nested():
                return reject(conn, _internal_error(envelope, lang))
        except BaseException:
            drop_pending(conn, mark)
            raise


def _internal_error(envelope: MutationEnvelope, lang: str) -> MutationOutcome:
    return MutationOutcome(
        mutation_id=envelope.mutation_id,
        client_seq=envelope.client_seq,
        status="rejected",
        code="internal_error",
        message=tr("sync.internal_error", lang, tries=MAX_FAILURES),
    )


def _count_failure(conn: Connection, *, client_id: str, envelope: MutationEnvelope, error: Exception) -> int:
    """Count one more failure of this mutation (in the caller's transaction); returns the count."""
    now = utcnow()
    row = conn.execute(
        select(mutation_failure.c.failures)
        .where(mutation_failure.c.mutation_id == envelope.mutation_id)
        .with_for_update()
    ).first()
    failures = (int(row.failures) if row is not None else 0) + 1
    values = {"failures": failures, "last_error": repr(error)[:2000], "last_failed_at": now}
    if row is None:
        conn.execute(
            insert(mutation_failure).values(mutation_id=envelope.mutation_id, client_id=client_id, **values)
        )
    else:
        conn.execute(
            update(mutation_failure)
            .where(mutation_failure.c.mutation_id == envelope.mutation_id)
            .values(**values)
        )
    state = transaction_state(conn)
    if state is not None and isinstance(state.get(_FAILED), dict):
        state[_FAILED][envelope.mutation_id] = failures
    return failures


def note_failure(conn: Connection, *, client_id: str, envelope: MutationEnvelope, error: Exception) -> int:
    """Count and log a failure of ``envelope``: inside its own savepoint (the handler failed), or outside it
    in a transaction of its own when its transaction failed as a whole, e.g. at commit (``isolate_failure``).
    Returns how many times it has failed."""
    failures = _count_failure(conn, client_id=client_id, envelope=envelope, error=error)
    log.error(
        "mutation %s (%s) made the server fail (%d of %d): %r",
        envelope.mutation_id,
        envelope.name,
        failures,
        MAX_FAILURES,
        error,
    )
    return failures


def _failures(conn: Connection, mutation_id: str) -> int:
    """How often this mutation made the server fail (read at the group's start, or now)."""
    state = transaction_state(conn)
    known = state.get(_FAILED) if state is not None else None
    if isinstance(known, dict):
        return int(known.get(mutation_id, 0))
    value = conn.execute(
        select(mutation_failure.c.failures).where(mutation_failure.c.mutation_id == mutation_id)
    ).scalar_one_or_none()
    return int(value or 0)


def apply_direct(
    db: Database, *, name: str, args: dict[str, Any], principal: Principal, timezone: str, lang: str
) -> MutationOutcome:
    """Run one mutation for a caller that is not a sync client (kiosks, phones, other hospital systems):
    the same handler, rules, writes and audit as a push, outside any client sequence and replay log, so
    the handler's own rules must make a retry harmless."""
    envelope = MutationEnvelope(
        mutation_id=new_id(), client_seq=1, name=name, args=args, occurred_at=utcnow()
    )

    def audited(conn: Connection, outcome: MutationOutcome, now: dt.datetime) -> MutationOutcome:
        _audit_outcome(
            conn, envelope=envelope, outcome=outcome, principal=principal, now=now, detail={"direct": True}
        )
        return outcome

    def work(conn: Connection) -> MutationOutcome:
        now = utcnow()
        outcome = _run_handler(
            conn, envelope=envelope, principal=principal, timezone=timezone, lang=lang, now=now
        )
        return audited(conn, outcome, now)

    with db.write() as conn:
        return _with_retries(conn, work, None, lambda conn, outcome: audited(conn, outcome, utcnow()))


def _apply_in_transaction(
    conn: Connection,
    *,
    client_id: str,
    envelope: MutationEnvelope,
    principal: Principal,
    timezone: str,
    lang: str,
    give_up: str | None = None,
    rejection: MutationOutcome | None = None,
) -> MutationOutcome:
    """Check the replay log and the client's sequence, run the handler (or, with ``give_up`` or
    ``rejection``, record that permanent rejection instead), store the outcome, advance the sequence
    and audit, all in ``conn``."""
    now = utcnow()
    stored = _stored(conn, envelope.mutation_id)
    if stored is not None:
        if stored[0] != client_id:
            raise ClientMismatch(tr("sync.client_mismatch", lang))
        return stored[1]
    device_id, last_seq = _client_seq(conn, client_id=client_id, principal=principal, now=now)
    if device_id != principal.device_id:
        raise ClientMismatch(tr("sync.client_mismatch", lang))
    expected = last_seq + 1
    if envelope.client_seq < expected:
        raise SequenceError(
            tr("sync.seq_reused", lang, seq=envelope.client_seq),
            code="client_seq_reused",
            detail={"expected": expected, "mutation_id": envelope.mutation_id},
        )
    if envelope.client_seq > expected:
        raise SequenceError(
            tr("sync.seq_gap", lang, expected=expected, got=envelope.client_seq),
            detail={"expected": expected, "mutation_id": envelope.mutation_id},
        )

    if rejection is not None:
        outcome = rejection
    elif give_up is None and _failures(conn, envelope.mutation_id) >= MAX_FAILURES:
        outcome = _internal_error(envelope, lang)  # it failed the server before: not run again
    elif give_up is None:
        outcome = _run_handler(
            conn,
            envelope=envelope,
            principal=principal,
            timezone=timezone,
            lang=lang,
            now=now,
            client_id=client_id,
        )
    else:
        outcome = MutationOutcome(
            mutation_id=envelope.mutation_id,
            client_seq=envelope.client_seq,
            status="rejected",
            code="conflict",
            message=give_up,
        )
    logged = _Logged(client_id, envelope, principal, outcome, now)
    advance = _Advance(client_id, envelope.client_seq, now, principal.staff.id)
    log_rows = pending(conn, _LOG_PENDING, _write_log, order=_LOG_ORDER)
    advances = pending(conn, _ADVANCE_PENDING, _write_advances, order=_ADVANCE_ORDER)
    if log_rows is None or advances is None:  # not in a Database.write transaction: write now
        _write_log(conn, [logged])
        _write_advances(conn, [advance])
    else:
        log_rows.append(logged)
        advances.append(advance)
        # Which ids have rows in those lists (a superset once a savepoint drops some): only those are
        # looked for there.
        touched = transaction_state(conn).setdefault(_TOUCHED, set())  # type: ignore[union-attr]
        touched.update((client_id, envelope.mutation_id))
    _audit_outcome(
        conn,
        envelope=envelope,
        outcome=outcome,
        principal=principal,
        now=now,
        detail={"client_id": client_id, "client_seq": envelope.client_seq},
    )
    return outcome


def _last_contact(
    conn: Connection, principal: Principal, client_id: str, client_seq: int
) -> dt.datetime | None:
    """When this PC last pulled for this staff member (``services.contacts``), or None when that bound
    does not hold for this mutation: another staff member's mutations, earlier in this install's queue,
    arrived since then, so this one was held behind them (``LocalStore.next_batch`` pushes one login's
    mutations at a time) and could not have been pushed at that contact."""
    contact = contacts.last_pull(conn, principal.staff.id, principal.device_id)
    if contact is None or not client_id:
        return contact
    for entry in _pending_list(conn, _LOG_PENDING):
        if (
            entry.client_id == client_id
            and entry.envelope.client_seq < client_seq
            and entry.principal.staff.id != principal.staff.id
            and entry.received_at >= contact
        ):
            return None
    if contacts.held_behind_others(
        conn, client_id=client_id, before_seq=client_seq, staff_id=principal.staff.id, since=contact
    ):
        return None
    return contact


def _run_handler(
    conn: Connection,
    *,
    envelope: MutationEnvelope,
    principal: Principal,
    timezone: str,
    lang: str,
    now: dt.datetime,
    client_id: str = "",
) -> MutationOutcome:
    def rejected(code: str, message: str, detail: Any = None) -> MutationOutcome:
        return MutationOutcome(
            mutation_id=envelope.mutation_id,
            client_seq=envelope.client_seq,
            status="rejected",
            code=code,
            message=message,
            detail=detail,
        )

    spec = REGISTRY.get(envelope.name)
    if spec is None:
        return rejected("unknown_mutation", tr("sync.unknown_mutation", lang, name=envelope.name))
    if not spec.roles & principal.roles:
        return rejected(
            "forbidden",
            tr("auth.forbidden", lang, roles=",".join(sorted(principal.roles)), action=envelope.name),
        )
    try:
        args = spec.args.model_validate(envelope.args)
    except ValidationError as error:
        return rejected(
            "invalid_args",
            tr("request.invalid", lang, detail=_format_validation(error)),
            detail=error.errors(include_url=False, include_context=False, include_input=False),
        )
    ctx = MutationContext(
        staff_id=principal.staff.id,
        roles=principal.roles,
        device_id=principal.device_id,
        # the token's campus, while the staff member is still assigned to it (else no campus at all)
        campus_id=principal.campus_id
        if principal.campus_id and works_at(principal.staff, principal.campus_id)
        else None,
        now=now,
        today=local_today(timezone, now),
        base_version=envelope.base_version,
        lang=lang,
        occurred_at=bound_occurred_at(envelope.occurred_at, received=now),
        last_contact=lambda: _last_contact(conn, principal, client_id, envelope.client_seq),
        desk_slot_of=lambda campus_id: desk_slots.assigned(
            conn, campus_id=campus_id, device_id=principal.device_id
        ),
    )
    # A handler only reads, except for numbering counters (ServerState notes those). A refusal before
    # any write has nothing to undo; a refusal after one is undone with the caller's savepoint
    # (``_with_retries``). So no savepoint of its own per mutation.
    state = ServerState(conn)
    try:
        effect = spec.handler(state, args, ctx)
    except Rejected as refusal:
        outcome = rejected(refusal.code, refusal.message, refusal.detail)
        if state.wrote:
            raise _RejectedAfterWrites(outcome) from refusal
        return outcome
    outcome = MutationOutcome(
        mutation_id=envelope.mutation_id,
        client_seq=envelope.client_seq,
        status="applied_with_warning" if effect.warnings else "applied",
        warnings=effect.warnings,
        result=effect.result,
    )

    def settle(seq: int) -> None:  # now, or when the transaction gives the feed its sequences
        outcome.seq = seq

    write_entities(conn, effect.writes, on_seq=settle, campus_id=principal.campus_id, today=ctx.today)
    return outcome
