"""Network faults between a client and the real server, injected by a TCP proxy: nothing is lost or doubled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.domain.entities import Patient
from shared.errors import TransientError
from shared.protocol.models import MutationEnvelope
from shared.sync import SyncState
from tests.faults.proxy import FaultProxy
from tests.faults.support import assert_exactly_once, assert_same_view, assert_store_sound, mutation_log
from tests.support.api import ApiUser, patient_args
from tests.support.server import ServerProcess
from tests.sync.support import ClientPC, make_client


@pytest.fixture
def proxy(shared_server: ServerProcess) -> Iterator[FaultProxy]:
    proxy = FaultProxy(shared_server.port).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def pc(proxy: FaultProxy, tmp_path: Path) -> Iterator[ClientPC]:
    client = make_client(tmp_path / "pc.db", proxy.url, "nurse3")
    yield client
    client.close()


def record_patients(pc: ClientPC, count: int) -> list[str]:
    return [
        pc.store.record("patient.register", patient_args(name=f"故障测试{n}")).mutation_id
        for n in range(count)
    ]


def test_a_dropped_push_request_is_retried_and_applied_exactly_once(
    pc: ClientPC, proxy: FaultProxy, shared_server: ServerProcess
) -> None:
    ids = record_patients(pc, 3)
    proxy.drop_requests(1)
    status = pc.sync()
    assert status.state is SyncState.OFFLINE and status.pending == 3
    assert all(rows == [] for rows in mutation_log(shared_server, ids).values()), "the request never arrived"
    assert pc.sync().state is SyncState.ONLINE
    assert_exactly_once(shared_server, pc.store)
    assert_store_sound(pc.store, expected_mutations=ids)


def test_a_push_answer_lost_after_the_server_committed_is_replayed_not_applied_twice(
    pc: ClientPC, proxy: FaultProxy, shared_server: ServerProcess
) -> None:
    ids = record_patients(pc, 5)
    proxy.drop_responses(1)
    status = pc.sync()
    assert status.state is SyncState.OFFLINE
    log = mutation_log(shared_server, ids)
    assert all(len(rows) == 1 for rows in log.values()), "the server committed before the answer was lost"
    # the PC cannot know the server has them: pending (with the attempt counted), pushed again as replays
    assert {(e.status, e.attempts) for e in pc.store.outbox()} == {("pending", 1)}
    assert pc.sync().state is SyncState.ONLINE
    assert_exactly_once(shared_server, pc.store)
    for entry in pc.store.outbox():
        stored = mutation_log(shared_server, [entry.mutation_id])[entry.mutation_id][0]
        stored_result = (
            json.loads(stored["result"]) if isinstance(stored["result"], str) else stored["result"]
        )
        assert entry.result == stored_result
        patient = pc.store.get(Patient, entry.args["id"])
        assert patient is not None and patient.mrn == entry.result["mrn"]  # type: ignore[index]


def test_a_connection_cut_mid_page_keeps_the_cursor_and_the_next_pull_completes(
    pc: ClientPC, proxy: FaultProxy, shared_server: ServerProcess
) -> None:
    other = ApiUser(shared_server.url, "nurse4")
    try:
        envelopes = [other.envelope("patient.register", patient_args(name=f"批量{n}")) for n in range(300)]
        assert other.push(*envelopes).status_code == 200
    finally:
        other.close()
    cursor = pc.store.cursor()
    proxy.cut_responses_after(20_000)
    pc.engine.pull_limit = 1000
    status = pc.sync()
    assert status.state is SyncState.OFFLINE
    assert proxy.stats["responses_cut"] == 1
    assert pc.store.cursor() == cursor, "a half page is never applied"
    assert pc.sync().state is SyncState.ONLINE
    assert_same_view(shared_server, pc.store, "nurse3")


def test_a_bootstrap_cut_mid_stream_resumes_after_its_last_verified_checkpoint(
    proxy: FaultProxy, shared_server: ServerProcess, tmp_path: Path
) -> None:
    pc = make_client(tmp_path / "new.db", proxy.url, "nurse3", bootstrap=False)
    try:
        proxy.cut_responses_after(700_000)
        with pytest.raises(TransientError):
            pc.engine.bootstrap()
        state = pc.store.bootstrap_state()
        assert state is not None and state.after > 0 and state.applied > 0
        assert pc.store.needs_bootstrap()
        resumed_from = state.after
        reports = []
        pc.engine.bootstrap(progress=reports.append)
        assert pc.store.bootstrap_state() is None
        assert reports[0].applied > state.applied > 0, f"resumed after {resumed_from}, not from zero"
        assert pc.sync().state is SyncState.ONLINE
        assert_same_view(shared_server, pc.store, "nurse3")
    finally:
        pc.close()


def test_a_duplicated_push_returns_the_stored_outcomes_and_changes_nothing(
    pc: ClientPC, shared_server: ServerProcess
) -> None:
    ids = record_patients(pc, 2)
    envelopes = [
        MutationEnvelope(
            mutation_id=e.mutation_id,
            client_seq=e.client_seq,
            name=e.name,
            args=e.args,
            base_version=e.base_version,
            occurred_at=e.occurred_at,
        )
        for e in pc.store.outbox()
    ]
    first = pc.transport.push(pc.store.client_id, envelopes)
    second = pc.transport.push(pc.store.client_id, envelopes)
    assert [o.replayed for o in second.outcomes] == [True, True]
    assert [(o.status, o.result, o.seq) for o in first.outcomes] == [
        (o.status, o.result, o.seq) for o in second.outcomes
    ]
    pc.store.apply_outcomes(first.outcomes)
    pc.store.apply_outcomes(second.outcomes)
    assert pc.sync().state is SyncState.ONLINE
    assert_exactly_once(shared_server, pc.store)
    assert_store_sound(pc.store, expected_mutations=ids)


def test_a_network_outage_mid_request_leaves_the_work_pending_until_it_returns(
    pc: ClientPC, proxy: FaultProxy, shared_server: ServerProcess
) -> None:
    proxy.set_offline(True)
    ids = record_patients(pc, 4)
    for _ in range(3):
        status = pc.sync()
        assert status.state is SyncState.OFFLINE and status.pending == 4
    assert pc.store.get(Patient, pc.store.outbox()[0].args["id"]) is not None
    proxy.set_offline(False)
    assert pc.sync().state is SyncState.ONLINE
    assert_exactly_once(shared_server, pc.store)
    assert_store_sound(pc.store, expected_mutations=ids)


def test_the_run_loop_backs_off_while_offline_and_pushes_as_soon_as_the_network_returns(
    pc: ClientPC, proxy: FaultProxy, shared_server: ServerProcess
) -> None:
    import threading
    import time

    pc.engine.long_poll_seconds = 5
    stop = threading.Event()
    proxy.set_offline(True)
    runner = threading.Thread(target=pc.engine.run, args=(stop,), daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while pc.engine.status().state is not SyncState.OFFLINE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pc.engine.status().state is SyncState.OFFLINE
        entry = pc.store.record("patient.register", patient_args(name="恢复后推送"))
        pc.engine.wake()
        time.sleep(0.5)
        assert pc.store.entry(entry.mutation_id).status in ("pending", "sent")  # type: ignore[union-attr]
        proxy.set_offline(False)
        deadline = time.monotonic() + 10
        while pc.engine.status().pending and time.monotonic() < deadline:
            time.sleep(0.05)
        status = pc.engine.status()
        assert status.pending == 0, status
        assert any(s.state is SyncState.OFFLINE for s in pc.statuses)
    finally:
        stop.set()
        runner.join(15)
    assert_exactly_once(shared_server, pc.store)
