"""Applying pushed mutations: idempotent by mutation_id, contiguous client_seq, one SAVEPOINT each
inside a (group) write transaction (none for a one-mutation push alone in its transaction), outcomes
stored so a replay returns the very same answer. Audit entries are deferred to the end of the
transaction (``audit.defer``): one head read, one multi-row insert and one head update per group."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from server_stub.db.engine import Database, transaction_state
from server_stub.db.tables import mutation_log, sync_client
from server_stub.services import audit
from server_stub.services.auth import Principal
from server_stub.services.clock import local_today, utcnow
from server_stub.services.entities import ServerState, write_entities
from server_stub.services.group_commit import ALONE, RunAgainWithSavepoints
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
_CLIENT = select(sync_client).where(sync_client.c.client_id == bindparam("b_client_id"))
_CLIENT_LOCKED = _CLIENT.with_for_update()
_NEW_CLIENT = insert(sync_client)
_LOG = insert(mutation_log)
_ADVANCE_CLIENT = (
    update(sync_client)
    .where(sync_client.c.client_id == bindparam("b_client_id"))
    .values(
        last_seq=bindparam("b_last_seq"), last_push_at=bindparam("b_now"), staff_id=bindparam("b_staff_id")
    )
)


def _client_row(conn: Connection, *, client_id: str, principal: Principal, now: dt.datetime) -> Any:
    row = conn.execute(_CLIENT_LOCKED, {"b_client_id": client_id}).first()
    if row is None:
        conn.execute(
            _NEW_CLIENT,
            {
                "client_id": client_id,
                "device_id": principal.device_id,
                "staff_id": principal.staff.id,
                "last_seq": 0,
                "created_at": now,
            },
        )
        row = conn.execute(_CLIENT, {"b_client_id": client_id}).first()
    return row


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
        lock_for_mutations(conn)
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


def lock_for_mutations(conn: Connection) -> None:
    """Take the audit chain's head row first in every transaction that applies mutations. Such
    transactions then queue on one lock instead of taking their row locks in different orders
    (PostgreSQL with several server processes could otherwise deadlock); they would meet on the
    audit head and the feed counter anyway. On SQLite the write lock already serialises them."""
    audit.lock_head(conn)


def apply_batch_in(
    conn: Connection,
    *,
    client_id: str,
    mutations: list[MutationEnvelope],
    principal: Principal,
    timezone: str,
    lang: str,
) -> PushResult:
    """Apply mutations in client order inside the caller's write transaction, each in a SAVEPOINT of
    its own, so a rejected or failing mutation undoes only itself. A replayed mutation returns its
    stored outcome; a gap in client_seq stops the batch with SequenceError. Whatever raises, the
    mutations before it are complete and the caller should still commit."""
    outcomes: list[MutationOutcome] = []
    invalid: list[MutationOutcome] = []
    last_seq = 0
    # A push of one mutation that has the group's transaction to itself needs no savepoint: if it
    # fails in any way, the committer rolls the transaction back and runs it again with savepoints.
    state = transaction_state(conn)
    alone = len(mutations) == 1 and state is not None and bool(state.get(ALONE))
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
        # The only work in its transaction (GroupCommitter.ALONE): no savepoint; any failure,
        # including a lost race or a refusal to undo, rolls it all back and runs it again with them.
        try:
            return work(conn)
        except Exception as error:
            raise RunAgainWithSavepoints(str(error)) from error
    # Audit entries are deferred to the end of the transaction (audit.defer): an attempt whose
    # savepoint is rolled back must take its entries with it.
    mark = audit.pending_mark(conn)
    for attempt in range(3):
        try:
            with conn.begin_nested():
                return work(conn)
        except (Conflict, IntegrityError) as error:
            audit.drop_pending(conn, mark)
            log.warning("write lost a race (attempt %d): %s", attempt + 1, error)
        except _RejectedAfterWrites as refusal:
            audit.drop_pending(conn, mark)
            outcome = refusal.outcome
            break
        except BaseException:
            audit.drop_pending(conn, mark)
            raise
    else:
        message = "concurrent changes kept colliding with this one; check the record and try again"
        if give_up is None:
            raise Conflict(message)
        try:
            with conn.begin_nested():
                return give_up(conn, message)
        except BaseException:
            audit.drop_pending(conn, mark)
            raise
    try:
        with conn.begin_nested():
            return reject(conn, outcome)
    except BaseException:
        audit.drop_pending(conn, mark)
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
    audit.defer(
        conn,
        at=now,
        action=f"mutation.{envelope.name}"[:64],
        outcome=status[:32],
        staff_id=principal.staff.id,
        username=principal.staff.username,
        device_id=principal.device_id,
        target=envelope.mutation_id,
        detail={**detail, "result": outcome.result, "seq": outcome.seq},
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
            rejection=rejection,
        )

    def reject(conn: Connection, outcome: MutationOutcome) -> MutationOutcome:
        return attempt(conn, rejection=outcome)

    return _with_retries(conn, attempt, attempt, reject, alone=alone)


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
        lock_for_mutations(conn)
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
    stored = conn.execute(_STORED, {"b_mutation_id": envelope.mutation_id}).first()
    if stored is not None:
        if stored.client_id != client_id:
            raise ClientMismatch(tr("sync.client_mismatch", lang))
        return _stored_outcome(stored)
    client = _client_row(conn, client_id=client_id, principal=principal, now=now)
    if client.device_id != principal.device_id:
        raise ClientMismatch(tr("sync.client_mismatch", lang))
    expected = client.last_seq + 1
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
    elif give_up is None:
        outcome = _run_handler(
            conn, envelope=envelope, principal=principal, timezone=timezone, lang=lang, now=now
        )
    else:
        outcome = MutationOutcome(
            mutation_id=envelope.mutation_id,
            client_seq=envelope.client_seq,
            status="rejected",
            code="conflict",
            message=give_up,
        )
    conn.execute(
        _LOG,
        {
            "mutation_id": envelope.mutation_id,
            "client_id": client_id,
            "client_seq": envelope.client_seq,
            "name": envelope.name,
            "staff_id": principal.staff.id,
            "device_id": principal.device_id,
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
            "received_at": now,
        },
    )
    conn.execute(
        _ADVANCE_CLIENT,
        {
            "b_client_id": client_id,
            "b_last_seq": envelope.client_seq,
            "b_now": now,
            "b_staff_id": principal.staff.id,
        },
    )
    _audit_outcome(
        conn,
        envelope=envelope,
        outcome=outcome,
        principal=principal,
        now=now,
        detail={"client_id": client_id, "client_seq": envelope.client_seq},
    )
    return outcome


def _run_handler(
    conn: Connection,
    *,
    envelope: MutationEnvelope,
    principal: Principal,
    timezone: str,
    lang: str,
    now: dt.datetime,
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
        campus_id=principal.campus_id,
        now=now,
        today=local_today(timezone, now),
        base_version=envelope.base_version,
        lang=lang,
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
    seq = write_entities(conn, effect.writes)
    return MutationOutcome(
        mutation_id=envelope.mutation_id,
        client_seq=envelope.client_seq,
        status="applied_with_warning" if effect.warnings else "applied",
        warnings=effect.warnings,
        result=effect.result,
        seq=seq,
    )
