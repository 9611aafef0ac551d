"""Group commit on a real SQLite file: pushes queued together share one transaction, a rejection or a
failure undoes only its own mutation or push, the audit chain stays one entry per mutation, in order.
On PostgreSQL: a group that loses a deadlock to another server process runs again."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import Connection, select

from server_stub.db.engine import Database
from server_stub.db.migrate import upgrade
from server_stub.db.tables import ENTITY_TABLES, audit_log, mutation_log
from server_stub.services import audit, push
from server_stub.services.group_commit import GroupCommitter
from tests.server.writer_support import count, envelope, principal, push_job, run_group
from tests.support.api import patient_args


def test_pushes_queued_together_commit_in_one_transaction_and_a_rejection_undoes_only_itself(
    db: Database,
) -> None:
    nurse = principal(db, "nurse1")
    doctor = principal(db, "doctor1")
    audit_before = count(db, audit_log)
    good = [patient_args(name=f"组提交{n}") for n in range(6)]
    jobs = [
        (push_job(nurse, "client-a", [envelope(1, "patient.register", good[0])]), 1),
        # a business rejection in the middle of a push: its neighbours in the push still apply
        (
            push_job(
                doctor,
                "client-b",
                [
                    envelope(1, "patient.register", good[1]),
                    envelope(2, "patient.register", patient_args(phone="12")),
                    envelope(3, "patient.register", good[2]),
                ],
            ),
            3,
        ),
        # a gap in client_seq: the mutation before the gap stays, the push answers SequenceError
        (
            push_job(
                nurse,
                "client-c",
                [envelope(1, "patient.register", good[3]), envelope(3, "patient.register", good[4])],
            ),
            2,
        ),
        (push_job(nurse, "client-d", [envelope(1, "no.such_mutation", {})]), 1),
        (push_job(doctor, "client-e", [envelope(1, "patient.register", good[5])]), 1),
    ]

    results, committer = run_group(db, jobs)

    assert committer.stats.transactions == 2  # the blocker alone, then all five pushes together
    assert committer.stats.largest == 5
    a, b, c, d, e = results
    assert [o.status for o in a.outcomes] == ["applied"]
    assert [o.status for o in b.outcomes] == ["applied", "rejected", "applied"]
    assert b.outcomes[1].code == "bad_phone"
    assert isinstance(c, push.SequenceError)
    assert [o["status"] for o in c.detail["outcomes"]] == ["applied"]
    assert d.invalid and d.outcomes[0].code == "unknown_mutation"
    assert e.outcomes[0].status == "applied"

    patients = ENTITY_TABLES["patient"]
    with db.read() as conn:
        stored = set(
            conn.execute(select(patients.c.id).where(patients.c.id.in_([g["id"] for g in good]))).scalars()
        )
        report = audit.verify(conn)
        logged = conn.execute(select(mutation_log.c.client_id, mutation_log.c.status)).all()
        seqs = [
            row.seq
            for row in conn.execute(
                select(mutation_log.c.seq)
                .where(mutation_log.c.status == "applied")
                .order_by(mutation_log.c.seq)
            )
        ]
    assert stored == {g["id"] for g in good} - {good[4]["id"]}
    assert report.ok, report.problems
    # one audit entry per mutation that reached a handler: 1 + 3 + 1 + 1 + 1 (the one after the gap: none)
    assert count(db, audit_log) - audit_before == 7
    assert sorted(s for _, s in logged).count("applied") == 5
    assert seqs == sorted(set(seqs))


def test_a_replay_inside_the_same_group_returns_the_stored_outcome(db: Database) -> None:
    nurse = principal(db, "nurse2")
    replayed = envelope(1, "patient.register", patient_args(name="重放"))
    jobs = [(push_job(nurse, "client-r", [replayed]), 1), (push_job(nurse, "client-r", [replayed]), 1)]

    (first, second), committer = run_group(db, jobs)

    assert committer.stats.largest == 2
    assert first.outcomes[0].status == "applied" and not first.outcomes[0].replayed
    assert second.outcomes[0].replayed
    assert second.outcomes[0].seq == first.outcomes[0].seq


def test_a_push_that_breaks_the_group_transaction_fails_alone(db: Database) -> None:
    """A failure only visible at COMMIT (a deferred constraint) fails the whole group's transaction;
    the committer then retries each push alone, so only the culprit fails."""
    with db.write() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE probe (id INTEGER PRIMARY KEY, "
            "parent INTEGER REFERENCES probe(id) DEFERRABLE INITIALLY DEFERRED)"
        )
    nurse = principal(db, "nurse3")

    def poison(conn: Connection) -> str:
        conn.exec_driver_sql("INSERT INTO probe (id, parent) VALUES (1, 999)")
        return "looked fine"

    good = [patient_args(name=f"邻居{n}") for n in range(2)]
    jobs = [
        (push_job(nurse, "client-p1", [envelope(1, "patient.register", good[0])]), 1),
        (poison, 1),
        (push_job(nurse, "client-p2", [envelope(1, "patient.register", good[1])]), 1),
    ]

    (first, broken, last), committer = run_group(db, jobs)

    assert committer.stats.retried_alone == 3
    assert first.outcomes[0].status == "applied"
    assert last.outcomes[0].status == "applied"
    assert isinstance(broken, Exception) and "FOREIGN KEY" in str(broken)
    patients = ENTITY_TABLES["patient"]
    with db.read() as conn:
        ids = set(
            conn.execute(select(patients.c.id).where(patients.c.id.in_([g["id"] for g in good]))).scalars()
        )
        assert conn.exec_driver_sql("SELECT count(*) FROM probe").scalar_one() == 0
        assert audit.verify(conn).ok
    assert ids == {g["id"] for g in good}


def test_apply_batch_alone_keeps_what_was_applied_before_a_sequence_gap(db: Database) -> None:
    nurse = principal(db, "nurse4")
    kept = patient_args(name="缺口前")
    with pytest.raises(push.SequenceError):
        push.apply_batch(
            db,
            client_id="client-gap",
            mutations=[
                envelope(1, "patient.register", kept),
                envelope(5, "patient.register", patient_args()),
            ],
            principal=nurse,
            timezone="Asia/Shanghai",
            lang="en",
        )
    patients = ENTITY_TABLES["patient"]
    with db.read() as conn:
        assert conn.execute(select(patients.c.id).where(patients.c.id == kept["id"])).first() is not None


def test_a_group_that_loses_a_deadlock_to_another_process_runs_again(pg_url: str) -> None:
    """Two committers (two server processes) whose groups lock the same two rows in opposite orders:
    PostgreSQL stops one of them; its committer runs that group again, and both groups stand."""
    upgrade(pg_url)
    first_db, second_db = Database.open(pg_url, pool_size=2), Database.open(pg_url, pool_size=2)
    with first_db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE probe (id INTEGER PRIMARY KEY, hits INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO probe VALUES (1, 0), (2, 0)")
    both_hold_one = threading.Barrier(2, timeout=10)

    def locking(first: int, second: int) -> Any:
        attempts = []

        def job(conn: Connection) -> int:
            attempts.append(1)
            conn.exec_driver_sql(f"UPDATE probe SET hits = hits + 1 WHERE id = {first}")
            if len(attempts) == 1:
                both_hold_one.wait()  # each holds its first row: the second update closes the circle
            conn.exec_driver_sql(f"UPDATE probe SET hits = hits + 1 WHERE id = {second}")
            return len(attempts)

        return job

    async def main() -> tuple[list[Any], list[GroupCommitter]]:
        committers = [GroupCommitter(first_db), GroupCommitter(second_db)]
        for committer in committers:
            await committer.start()
        try:
            results = await asyncio.gather(
                committers[0].run(locking(1, 2)), committers[1].run(locking(2, 1)), return_exceptions=True
            )
            return list(results), committers
        finally:
            for committer in committers:
                await committer.stop()

    try:
        results, committers = asyncio.run(main())
        with first_db.read() as conn:
            hits = dict(conn.exec_driver_sql("SELECT id, hits FROM probe").all())
    finally:
        first_db.dispose()
        second_db.dispose()
    assert sorted(map(str, results)) == ["1", "2"], results  # one ran once, the deadlock's loser twice
    assert sum(c.stats.lost_races for c in committers) == 1
    assert hits == {1: 2, 2: 2}  # the loser's first attempt left nothing behind
