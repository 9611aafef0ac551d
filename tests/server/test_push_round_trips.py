"""Fewer statements per pushed mutation (issue 2): a group's audit entries are chained and written once
at the end of its transaction (one head read, one multi-row insert, one head update), and a mutation
runs in one SAVEPOINT, not two. Checked on a real SQLite file by counting the statements the writer
engine sends, and by reading back the audit chain, the replay log and the counters."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import event, func, select

from server_stub.db.engine import Database, pending_mark
from server_stub.db.tables import ENTITY_TABLES, audit_log, mutation_log, sync_client, sync_counter
from server_stub.seed.demo import seed_demo
from server_stub.services import audit, push
from server_stub.services.group_commit import GroupCommitter
from shared.domain.mutations import REGISTRY, Rejected
from shared.domain.mutations.base import Effect, MutationArgs, MutationContext, MutationSpec, StateReader
from tests.server.writer_support import envelope, principal, push_job, run_group
from tests.support.api import patient_args


class _Statements:
    """Every statement the writer engine sends while recording."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sent: list[str] = []

    def __enter__(self) -> _Statements:
        event.listen(self.db.writer, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.db.writer, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        self.sent.append(" ".join(statement.split()).upper())

    def count(self, prefix: str) -> int:
        return sum(1 for s in self.sent if s.startswith(prefix.upper()))


def _audit_targets(db: Database, since_id: int) -> list[str]:
    with db.read() as conn:
        return list(
            conn.execute(
                select(audit_log.c.target).where(audit_log.c.id > since_id).order_by(audit_log.c.id)
            ).scalars()
        )


def _last_audit_id(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.coalesce(func.max(audit_log.c.id), 0))).scalar_one())


def test_a_group_reads_and_writes_its_bookkeeping_once_and_needs_no_savepoint(db: Database) -> None:
    nurse = principal(db, "nurse1")
    doctor = principal(db, "doctor1")
    before = _last_audit_id(db)
    envelopes = {
        "a": [envelope(1, "patient.register", patient_args(name="往返一"), mutation_id="rt-a1")],
        "b": [
            envelope(1, "patient.register", patient_args(name="往返二"), mutation_id="rt-b1"),
            # refused before the handler wrote anything
            envelope(2, "patient.register", patient_args(phone="12"), mutation_id="rt-b2"),
            envelope(3, "patient.register", patient_args(name="往返三"), mutation_id="rt-b3"),
        ],
        "c": [envelope(1, "no.such_mutation", {}, mutation_id="rt-c1")],
    }
    jobs = [
        (push_job(nurse, "rt-client-a", envelopes["a"]), 1),
        (push_job(doctor, "rt-client-b", envelopes["b"]), 3),
        (push_job(nurse, "rt-client-c", envelopes["c"]), 1),
    ]

    with _Statements(db) as statements:
        results, committer = run_group(db, jobs)

    assert committer.stats.largest == 3
    a, b, c = results
    assert [o.status for o in a.outcomes] == ["applied"]
    assert [o.status for o in b.outcomes] == ["applied", "rejected", "applied"]
    assert b.outcomes[1].code == "bad_phone"
    assert c.outcomes[0].code == "unknown_mutation"
    # Five mutations, nothing to undo (the refusals came before any write): no savepoint; the clients
    # and the replay log read once; feed, log, client sequences and audit written once.
    assert statements.count("SAVEPOINT") == 0
    assert statements.count("SELECT SYNC_CLIENT") == 1
    assert statements.count("SELECT MUTATION_LOG") == 1
    assert statements.count("INSERT INTO SYNC_CLIENT") == 3  # three new clients
    assert statements.count("UPDATE SYNC_COUNTER") == 4  # three MRNs (in the handlers) and the feed
    assert statements.count("INSERT INTO CHANGE_INDEX") == 1
    assert statements.count("INSERT INTO MUTATION_LOG") == 1
    assert statements.count("UPDATE SYNC_CLIENT") == 1
    assert statements.count("INSERT INTO audit_log") == 1
    assert statements.count("UPDATE audit_head") == 1
    # One entry per mutation, in the order they were applied, and the chain still verifies.
    assert _audit_targets(db, before) == ["rt-a1", "rt-b1", "rt-b2", "rt-b3", "rt-c1"]
    with db.read() as conn:
        report = audit.verify(conn)
    assert report.ok, report.problems


class _NoArgs(MutationArgs):
    pass


def _numbered_refusal(state: StateReader, _args: _NoArgs, ctx: MutationContext) -> Effect:
    state.next_number("rt_probe")
    raise Rejected("refused after taking a number", code="probe_refused")


@pytest.fixture
def numbered_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    """``test.numbered_refusal``: a mutation that takes a number, then refuses."""
    monkeypatch.setitem(
        REGISTRY,
        "test.numbered_refusal",
        MutationSpec(
            name="test.numbered_refusal",
            args=_NoArgs,
            roles=frozenset({"nurse"}),
            handler=_numbered_refusal,
        ),
    )


@pytest.mark.usefixtures("numbered_refusal")
def test_a_refusal_after_a_counter_write_undoes_the_write_and_is_still_stored(db: Database) -> None:
    nurse = principal(db, "nurse2")
    before = _last_audit_id(db)
    kept = patient_args(name="拒后仍在")
    envelopes = [
        envelope(1, "test.numbered_refusal", {}, mutation_id="rt-r1"),
        envelope(2, "patient.register", kept, mutation_id="rt-r2"),
        envelope(3, "test.numbered_refusal", {}, mutation_id="rt-r3"),
    ]

    (result,), _committer = run_group(db, [(push_job(nurse, "rt-client-r", envelopes), 3)])

    assert [(o.status, o.code) for o in result.outcomes] == [
        ("rejected", "probe_refused"),
        ("applied", None),
        ("rejected", "probe_refused"),
    ]
    with db.read() as conn:
        probe = conn.execute(select(sync_counter.c.value).where(sync_counter.c.name == "rt_probe")).first()
        stored = dict(
            conn.execute(
                select(mutation_log.c.mutation_id, mutation_log.c.status).where(
                    mutation_log.c.client_id == "rt-client-r"
                )
            ).all()
        )
        last_seq = conn.execute(
            select(sync_client.c.last_seq).where(sync_client.c.client_id == "rt-client-r")
        ).scalar_one()
        patients = ENTITY_TABLES["patient"]
        registered = conn.execute(select(patients.c.id).where(patients.c.id == kept["id"])).first()
        report = audit.verify(conn)
    assert probe is None or probe.value == 0  # the numbers taken before the refusals were undone
    assert stored == {"rt-r1": "rejected", "rt-r2": "applied", "rt-r3": "rejected"}
    assert last_seq == 3
    assert registered is not None
    assert _audit_targets(db, before) == ["rt-r1", "rt-r2", "rt-r3"]
    assert report.ok, report.problems

    # A replay returns the stored refusal without running the handler again.
    again = push.apply_batch(
        db,
        client_id="rt-client-r",
        mutations=envelopes[:1],
        principal=nurse,
        timezone="Asia/Shanghai",
        lang="en",
    )
    assert again.outcomes[0].replayed and again.outcomes[0].code == "probe_refused"
    assert _audit_targets(db, before) == ["rt-r1", "rt-r2", "rt-r3"]


def test_audit_entries_outside_a_write_transaction_are_appended_at_once(db: Database) -> None:
    before = _last_audit_id(db)
    with db.writer.begin() as conn:
        audit.defer(conn, at=dt.datetime.now(dt.UTC), action="probe.direct", outcome="ok", target="rt-direct")
        assert pending_mark(conn) == {}
    assert _audit_targets(db, before) == ["rt-direct"]
    with db.read() as conn:
        assert audit.verify(conn).ok


@pytest.mark.usefixtures("numbered_refusal")
def test_a_group_first_runs_without_savepoints_and_again_with_them_only_when_needed(db: Database) -> None:
    """A group's first run takes no savepoints; when a push fails in a way a savepoint would have undone
    (a refusal after a counter write), the committer rolls back and runs the group again with
    savepoints, so the outcome is the same as before. A sequence gap, found before anything is
    written, needs no second run."""
    nurse = principal(db, "nurse3")
    before = _last_audit_id(db)
    kept = patient_args(name="独自提交")

    async def main() -> tuple[list[Any], GroupCommitter]:
        committer = GroupCommitter(db, begin=push.prepare_group)
        await committer.start()
        try:
            results = []
            for work in (
                push_job(
                    nurse, "rt-alone", [envelope(1, "patient.register", kept, mutation_id="rt-alone-1")]
                ),
                push_job(
                    nurse, "rt-alone", [envelope(2, "test.numbered_refusal", {}, mutation_id="rt-alone-2")]
                ),
                push_job(
                    nurse,
                    "rt-alone",
                    [envelope(4, "patient.register", patient_args(), mutation_id="rt-alone-4")],
                ),
                push_job(
                    nurse, "rt-alone", [envelope(1, "patient.register", kept, mutation_id="rt-alone-1")]
                ),
            ):
                try:
                    results.append(await committer.run(work))
                except Exception as error:  # noqa: BLE001 - compared below
                    results.append(error)
            return results, committer
        finally:
            await committer.stop()

    with _Statements(db) as statements:
        (applied, refused, gap, replay), committer = asyncio.run(main())

    assert committer.stats.largest == 1
    assert applied.outcomes[0].status == "applied"
    assert (refused.outcomes[0].status, refused.outcomes[0].code) == ("rejected", "probe_refused")
    assert isinstance(gap, push.SequenceError) and gap.detail["expected"] == 3
    assert replay.outcomes[0].replayed and replay.outcomes[0].seq == applied.outcomes[0].seq
    # Savepoints only in the refusal's second run: its attempt and its recorded rejection (two); none
    # for the applied push, the gap (found before anything was written) and the replay.
    assert statements.count("SAVEPOINT") == 2
    with db.read() as conn:
        probe = conn.execute(select(sync_counter.c.value).where(sync_counter.c.name == "rt_probe")).first()
        last_seq = conn.execute(
            select(sync_client.c.last_seq).where(sync_client.c.client_id == "rt-alone")
        ).scalar_one()
        report = audit.verify(conn)
    assert probe is None or probe.value == 0
    assert last_seq == 2
    assert _audit_targets(db, before) == ["rt-alone-1", "rt-alone-2"]
    assert report.ok, report.problems


def test_on_postgresql_a_group_of_registrations_reads_ahead_and_numbers_in_order(pg_url: str) -> None:
    """The group's start reads every registration's own row (one statement) and takes its patient numbers
    from the sequence (one statement); the handlers then send one statement each (the insert)."""
    seed_demo(pg_url, patients=30)
    db = Database.open(pg_url, pool_size=2)
    try:
        nurse = principal(db, "nurse1")
        taken = patient_args(name="已有患者")
        push.apply_batch(
            db,
            client_id="ra-first",
            mutations=[envelope(1, "patient.register", taken, mutation_id="ra-0")],
            principal=nurse,
            timezone="Asia/Shanghai",
            lang="en",
        )
        fresh = [patient_args(name=f"预读{n}") for n in range(5)]
        jobs = [
            (
                push_job(
                    nurse,
                    f"ra-client-{n}",
                    [envelope(1, "patient.register", args, mutation_id=f"ra-{n + 1}")],
                ),
                1,
            )
            for n, args in enumerate(fresh)
        ]
        # the same id again, in the same group: read ahead as taken, refused
        jobs.append(
            (
                push_job(
                    nurse, "ra-client-dup", [envelope(1, "patient.register", taken, mutation_id="ra-9")]
                ),
                1,
            )
        )

        with _Statements(db) as statements:
            results, _committer = run_group(db, jobs)

        outcomes = [r.outcomes[0] for r in results]
        assert [o.status for o in outcomes] == ["applied"] * 5 + ["rejected"]
        assert outcomes[-1].code == "duplicate_id"
        numbers = [int(o.result["mrn"][4:]) for o in outcomes[:5]]
        assert numbers == sorted(numbers) and len(set(numbers)) == 5
        assert statements.count("SELECT PATIENT.") == 1  # one read for all six, none per mutation
        assert statements.count("SELECT NEXTVAL") == 1  # six numbers in one statement
        assert statements.count("INSERT INTO PATIENT") == 5
        with db.read() as conn:
            assert audit.verify(conn).ok
    finally:
        db.dispose()
