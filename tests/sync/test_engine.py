"""The sync engine against a real server process: login, bootstrap, push, pull, long-poll, rejections."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from shared.domain.entities import Department, Drug, Patient, Staff, Visit
from shared.ids import new_id
from shared.store import LocalStore
from shared.sync import ApiTransport, SyncEngine, SyncState, TokenStore
from tests.support.api import DEMO_PASSWORD, ApiUser
from tests.support.server import ServerProcess
from tests.sync.support import ClientPC, MemoryKeyring, make_client


def register_args(**overrides: object) -> dict[str, object]:
    args: dict[str, object] = {"id": new_id(), "name": "测试患者", "sex": "F", "birth_date": "1980-05-01"}
    args.update(overrides)
    return args


@pytest.fixture
def pc(shared_server: ServerProcess, tmp_path: Path) -> ClientPC:
    client = make_client(tmp_path / "pc.db", shared_server.url)
    yield client  # type: ignore[misc]
    client.close()


def test_login_keeps_the_token_in_the_keyring_and_a_restarted_app_reuses_it(
    shared_server: ServerProcess, tmp_path: Path, in_memory_keyring: MemoryKeyring
) -> None:
    pc = make_client(tmp_path / "pc.db", shared_server.url, bootstrap=False)
    assert pc.store.session().staff.username == "nurse1"  # type: ignore[union-attr]
    assert any(account.startswith("workstation:") for _, account in in_memory_keyring.secrets)
    pc.close()
    store = LocalStore.open(tmp_path / "pc.db", app="workstation")
    transport = ApiTransport(shared_server.url)
    engine = SyncEngine(store, transport, tokens=TokenStore())
    try:
        assert transport.token is not None
        assert engine.sync_once().state is SyncState.ONLINE
    finally:
        transport.close()
        store.close()


def test_bootstrap_reports_progress_and_loads_reference_data_and_the_campus_scope(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    pc = make_client(tmp_path / "pc.db", shared_server.url, bootstrap=False)
    reports = []
    try:
        pc.engine.bootstrap(progress=reports.append)
        fractions = [r.fraction for r in reports]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
        assert any(s.bootstrap_progress is not None for s in pc.statuses)
        assert pc.engine.status().bootstrap_progress is None
        assert len(pc.store.all(Drug)) >= 500
        assert pc.store.search_drugs("amx"), "drug search works right after the bootstrap"
        session = pc.store.session()
        assert session is not None and session.campus_id
        campuses = {v.campus_id for v in pc.store.all(Visit)}
        assert campuses <= {session.campus_id}, "only this PC's campus is downloaded"
        assert pc.store.cursor() is not None
    finally:
        pc.close()


def test_a_recorded_mutation_is_pushed_applied_and_confirmed_by_the_pull(pc: ClientPC) -> None:
    entry = pc.store.record("patient.register", register_args(name="推送测试"))
    assert pc.engine.status().pending == 1
    status = pc.sync()
    assert status.state is SyncState.ONLINE and status.pending == 0
    done = pc.store.entry(entry.mutation_id)
    assert done is not None and done.status == "applied" and done.result and done.result["mrn"]
    assert pc.store.counts()["overlay_rows"] == 0
    confirmed = pc.store.get(Patient, entry.args["id"])
    assert confirmed is not None and confirmed.mrn == done.result["mrn"], (
        "the server-assigned MRN arrives by pull"
    )
    assert {"patient"} in pc.changed_kinds or any("patient" in k for k in pc.changed_kinds)


def test_a_conflicting_edit_is_rejected_with_the_servers_message_and_never_retried(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    a = make_client(tmp_path / "a.db", shared_server.url, "nurse1")
    b = make_client(tmp_path / "b.db", shared_server.url, "nurse3")  # same campus: it needs the patient
    try:
        entry = a.store.record("patient.register", register_args(name="冲突测试"))
        a.sync()
        b.sync()
        patient_id = entry.args["id"]
        a.store.record("patient.update", {"patient_id": patient_id, "phone": "13800000001"}, base_version=1)
        losing = b.store.record(
            "patient.update", {"patient_id": patient_id, "phone": "13800000002"}, base_version=1
        )
        assert a.sync().needs_attention == 0
        status = b.sync()
        assert status.needs_attention == 1 and status.pending == 0
        [attention] = b.store.needs_attention()
        assert attention.mutation_id == losing.mutation_id
        assert attention.code == "version_conflict" and attention.message
        assert attention.detail["server_state"]["phone"] == "13800000001"
        assert b.store.get(Patient, patient_id).phone == "13800000001"  # type: ignore[union-attr]
        b.sync()
        assert b.store.entry(losing.mutation_id).attempts == 1  # type: ignore[union-attr]
        b.store.dismiss(losing.mutation_id)
        assert b.engine.status().needs_attention == 0
    finally:
        a.close()
        b.close()


def test_a_mutation_the_server_refuses_for_the_role_is_stored_as_rejected(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    pc = make_client(tmp_path / "pc.db", shared_server.url, "pharmacist1")
    try:
        session = pc.store.session()
        assert session is not None
        # A stale role list on this PC lets the local check pass; the server has the last word.
        stale = Staff.model_validate({**session.staff.model_dump(), "roles": ["pharmacist", "doctor"]})
        pc.store.set_session(stale, session.campus_id)
        patient = pc.store.all(Patient)[0]
        department_id = next(d.id for d in pc.store.all(Department) if d.campus_id == session.campus_id)
        entry = pc.store.record(
            "visit.open", {"id": new_id(), "patient_id": patient.id, "department_id": department_id}
        )
        status = pc.sync()
        assert status.state is SyncState.ONLINE
        done = pc.store.entry(entry.mutation_id)
        assert done is not None and done.status == "rejected" and done.code == "forbidden"
        assert pc.store.get(Visit, entry.args["id"]) is None
    finally:
        pc.close()


def test_a_change_made_on_one_pc_wakes_the_other_pcs_long_poll(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    a = make_client(tmp_path / "a.db", shared_server.url, "nurse1", long_poll_seconds=20)
    b = make_client(tmp_path / "b.db", shared_server.url, "nurse3", long_poll_seconds=20)  # same campus
    stop = threading.Event()
    arrived = threading.Event()
    patient_id = new_id()
    b.engine.on_changes = lambda kinds: arrived.set() if b.store.get(Patient, patient_id) else None
    threads = [threading.Thread(target=pc.engine.run, args=(stop,), daemon=True) for pc in (a, b)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # both engines are now waiting in a long-poll
        a.store.record("patient.register", register_args(id=patient_id, name="实时测试"))
        a.engine.wake()
        # b's pull is a 20 s long-poll: the change arrives while it is open (the server answers it as the
        # change is committed), not when it ends. How fast is measured by benchmarks/call_latency.py.
        assert arrived.wait(15), "the change did not reach the other PC during its long-poll"
        deadline = time.monotonic() + 5
        while a.engine.status().state is not SyncState.ONLINE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert a.engine.status().state is SyncState.ONLINE and a.engine.status().pending == 0
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        a.close()
        b.close()


def test_work_continues_when_the_token_is_revoked_and_the_push_resumes_after_a_new_login(
    pc: ClientPC,
) -> None:
    pc.transport.logout()  # the server revokes the token, as an administrator or an expiry would
    entry = pc.store.record("patient.register", register_args(name="离线登录"))
    status = pc.sync()
    assert status.state is SyncState.AUTH_EXPIRED
    assert status.pending == 1 and status.message
    assert pc.store.get(Patient, entry.args["id"]) is not None, "the work stays visible"
    pc.store.record("patient.update", {"patient_id": entry.args["id"], "phone": "13811112222"})
    pc.engine.login("nurse1", DEMO_PASSWORD)
    status = pc.sync()
    assert status.state is SyncState.ONLINE and status.pending == 0
    assert [e.status for e in pc.store.outbox()] == ["applied", "applied"]


def test_an_unreachable_server_means_offline_with_pending_work_kept(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    pc = make_client(tmp_path / "pc.db", shared_server.url)
    pc.transport.close()
    pc.engine.transport = pc.transport = ApiTransport("http://127.0.0.1:9", timeout=1.0)
    pc.transport.set_token("whatever")
    try:
        pc.store.record("patient.register", register_args())
        status = pc.sync()
        assert status.state is SyncState.OFFLINE and status.pending == 1
        assert "离线" in status.message or "offline" in status.message.lower()
        [entry] = pc.store.outbox()
        # an entry is "sent" only once the server has it: a failed attempt is counted, the entry pending
        assert entry.status == "pending" and entry.attempts == 1 and entry.last_error
        delays = [pc.engine.backoff_delay() for _ in range(20)]
        assert len(set(delays)) > 1, "backoff has jitter"
    finally:
        pc.close()


def test_mutations_another_user_recorded_offline_wait_for_that_users_login(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    pc = make_client(tmp_path / "pc.db", shared_server.url, "nurse1")
    try:
        pc.transport.logout()
        first = pc.store.record("patient.register", register_args(name="甲护士登记"))
        pc.engine.logout()  # the token is already dead: nothing can be pushed, the outbox stays
        pc.engine.login("nurse2", DEMO_PASSWORD)
        second = pc.store.record("patient.register", register_args(name="乙护士登记"))
        status = pc.sync()
        assert status.pending == 2 and status.held_for_other_login == 2
        assert not pc.store.entry(first.mutation_id).resolved  # type: ignore[union-attr]
        pc.engine.login("nurse1", DEMO_PASSWORD)
        status = pc.sync()
        assert status.pending == 1, "nurse2's own entry now waits for nurse2"
        pc.engine.login("nurse2", DEMO_PASSWORD)
        assert pc.sync().pending == 0
        admin = ApiUser(shared_server.url, "admin")
        try:  # registered at two campuses: read each record (need-to-know feeds differ per campus)
            registered_by = {
                e.args["id"]: admin.http.get(f"/api/v1/patients/{e.args['id']}").json()["registered_by"]
                for e in (first, second)
            }
        finally:
            admin.close()
        assert registered_by[first.args["id"]] == first.staff_id
        assert registered_by[second.args["id"]] == second.staff_id != first.staff_id
    finally:
        pc.close()


def test_logging_in_at_another_campus_makes_the_pc_download_that_campus_instead(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    from shared.domain.entities import Appointment
    from shared.ids import reference_id

    east = reference_id("campus", "EAST")
    pc = make_client(tmp_path / "pc.db", shared_server.url, "admin")  # IT works at both campuses
    try:
        first = pc.store.session()
        assert first is not None and first.campus_id != east
        pc.engine.logout()
        pc.engine.login("admin", DEMO_PASSWORD, campus_id=east)
        assert pc.store.needs_bootstrap(), "the scope changed, so the snapshot must be fetched again"
        assert pc.sync().state is SyncState.ONLINE
        campuses = {a.campus_id for a in pc.store.all(Appointment)}
        assert campuses == {east}
    finally:
        pc.close()


def test_the_engine_says_plainly_when_this_pc_has_no_keyring(tmp_path: Path) -> None:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    store = LocalStore.open(tmp_path / "pc.db", app="workstation")
    transport = ApiTransport("http://127.0.0.1:9")
    try:
        engine = SyncEngine(store, transport)
        assert "keyring" in engine.status().message.lower() or "密钥环" in engine.status().message
    finally:
        keyring.set_keyring(previous)
        transport.close()
        store.close()
