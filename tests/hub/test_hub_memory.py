"""What a clinic hub keeps in memory so that its requests need not wait for its database thread: the LAN
board's pending count and the relay's next entries, and the replica's staff records, forgotten when a
replica page changes them. Real ``HubDb`` on a real SQLite file."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from server_stub.hub.board import LanBoard, Wakeup
from server_stub.hub.relay import plan_batches
from server_stub.hub.replica import Replica
from server_stub.hub.sessions import LoginPolicy, Sessions
from server_stub.hub.store import HubDb, HubStore
from server_stub.hub.upstream import Upstream
from shared.protocol.models import Change, LanMutation, MutationEnvelope, MutationOutcome

AT = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)


def entry(hub_seq: int, client: str, client_seq: int, status: str = "pending") -> LanMutation:
    return LanMutation(
        hub_seq=hub_seq,
        mutation_id=f"{client}-{client_seq}",
        client_id=client,
        client_seq=client_seq,
        device_id=f"pc-{client}",
        staff_id=f"staff-{client}",
        name="patient.register",
        args={},
        occurred_at=AT,
        status=status,  # type: ignore[arg-type]
    )


def test_the_board_counts_pending_entries_and_hands_the_relay_the_oldest_in_hub_order() -> None:
    async def main() -> None:
        board = LanBoard([(entry(1, "a", 1), True), (entry(2, "b", 1), True)], Wakeup())
        board.add([entry(3, "a", 2), entry(4, "a", 3), entry(5, "b", 2)])
        assert board.pending == 5
        assert [e.mutation_id for e in board.unsettled(3)] == ["a-1", "b-1", "a-2"]
        # answered by the central API and being stored: left out; then settled under a new hub_seq
        assert [e.mutation_id for e in board.unsettled(10, {"b-1", "a-2"})] == ["a-1", "a-3", "b-2"]
        board.add([entry(6, "b", 1, "applied"), entry(7, "a", 1, "rejected")])
        assert board.pending == 3
        assert [e.mutation_id for e in board.unsettled(10)] == ["a-2", "a-3", "b-2"]
        batches = plan_batches(board.unsettled(10), set())
        assert [(b.client_id, [m.client_seq for m in b.mutations]) for b in batches] == [
            ("a", [2, 3]),
            ("b", [2]),
        ]
        assert len(plan_batches(board.unsettled(10), set(), max_batches=1)) == 1
        board.drop(["b-1", "a-1", "a-2"], floor=7)  # pruned: the settled two, and one still pending
        assert board.pending == 2 and board.unsettled(10)[0].mutation_id == "a-3"
        board.add([entry(8, "a", 3, "applied"), entry(9, "b", 2, "applied")])
        assert board.pending == 0 and board.unsettled(10) == []

    asyncio.run(main())


def test_a_staff_record_is_read_once_and_read_again_after_the_replica_changed_it(tmp_path: Path) -> None:
    def staff(version: int, *, active: bool, roles: list[str]) -> Change:
        data = {"id": "s1", "username": "nurse1", "active": active, "roles": roles}
        return Change(seq=version, kind="staff", id="s1", version=version, data=data)

    async def main() -> None:
        db = HubDb(tmp_path / "hub.db")
        upstream = Upstream("http://127.0.0.1:9", "hub_x.secret")
        try:
            sessions = Sessions(db, LoginPolicy())
            replica = Replica(db, upstream, Wakeup(), on_change=sessions.replica_changed)
            assert await sessions.replica_staff("s1") is None
            await replica._store([staff(1, active=True, roles=["nurse"])], 1)
            first = await sessions.replica_staff("s1")
            assert first is not None and first["roles"] == ["nurse"]
            # written behind the hub's back (no replica page): the kept record answers
            await db.run(HubStore.store_changes, [staff(2, active=True, roles=["nurse", "doctor"])], 2)
            assert (await sessions.replica_staff("s1")) == first
            # a replica page that changes the record: read again
            await replica._store([staff(3, active=False, roles=["nurse"])], 3)
            now = await sessions.replica_staff("s1")
            assert now is not None and now["active"] is False and replica.head == 3 and replica.known
        finally:
            await upstream.stop()
            db.close()

    asyncio.run(main())


def test_outcomes_settle_in_one_go_each_once_under_new_hub_seqs_in_their_order(tmp_path: Path) -> None:
    store = HubStore(tmp_path / "hub.db")
    try:
        envelopes = [
            MutationEnvelope(
                mutation_id=f"m{n}", client_seq=n, name="patient.register", args={"n": n}, occurred_at=AT
            )
            for n in range(1, 6)
        ]
        appended = store.append(
            client_id="c1",
            device_id="pc1",
            staff_id="s1",
            campus_id=None,
            envelopes=envelopes,
            shareable=[True] * 5,
        )
        assert [e.hub_seq for e in appended.new] == [1, 2, 3, 4, 5]

        def outcome(n: int, status: str = "applied") -> MutationOutcome:
            return MutationOutcome(mutation_id=f"m{n}", client_seq=n, status=status, seq=100 + n)  # type: ignore[arg-type]

        settled = store.settle([outcome(3), outcome(1, "rejected"), outcome(3), outcome(9)])
        assert [(e.mutation_id, e.hub_seq, e.status, e.seq) for e in settled] == [
            ("m3", 6, "applied", 103),
            ("m1", 7, "rejected", 101),
        ]
        assert store.settle([outcome(1), outcome(3)]) == []  # settled already: ignored
        again = store.settle([outcome(2), outcome(5)])
        assert [(e.mutation_id, e.hub_seq) for e in again] == [("m2", 8), ("m5", 9)]
        assert [e.mutation_id for e, _shared in store.unsettled(10)] == ["m4"]
        more = store.append(
            client_id="c1",
            device_id="pc1",
            staff_id="s1",
            campus_id=None,
            envelopes=[envelopes[0].model_copy(update={"mutation_id": "m6", "client_seq": 6})],
            shareable=[True],
        )
        assert more.new[0].hub_seq == 10, "hub_seq goes on after the settled ones"
    finally:
        store.close()
