"""The 410 reset path with a non-empty outbox, and a PC clock two hours off."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

from shared.domain.entities import Patient
from shared.errors import TransientError
from shared.store import LocalStore
from shared.sync import SyncState
from tests.faults.support import assert_exactly_once, assert_same_view, assert_store_sound
from tests.support.api import ApiUser, patient_args
from tests.support.server import ServerProcess
from tests.sync.support import ClientPC, make_client

ROOT = Path(__file__).resolve().parents[2]


def compact(server: ServerProcess) -> None:
    """Run the server's retention job: every older cursor now gets 410."""
    subprocess.run(
        [sys.executable, "-m", "shared.cli", "sync-compact", "--db", server.db_url],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


class Scripted:
    """Wraps a client's transport: logs the calls; can run an action before the first pull (the user
    records while a long-poll is out) and fail chosen push calls as the network would."""

    def __init__(self, pc: ClientPC) -> None:
        self.calls: list[str] = []
        self.before_first_pull: Any = None
        self.fail_pushes: set[int] = set()
        transport = pc.transport
        self._push, self._pull, self._bootstrap = transport.push, transport.pull, transport.bootstrap
        transport.push, transport.pull, transport.bootstrap = self.push, self.pull, self.bootstrap  # type: ignore[method-assign]

    def push(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("push")
        if self.calls.count("push") in self.fail_pushes:
            raise TransientError("network cut (scripted)", code="network")
        return self._push(*args, **kwargs)

    def pull(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("pull")
        if self.before_first_pull is not None:
            action, self.before_first_pull = self.before_first_pull, None
            action()
        return self._pull(*args, **kwargs)

    def bootstrap(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("bootstrap")
        return self._bootstrap(*args, **kwargs)


def test_a_410_with_a_non_empty_outbox_pushes_first_then_rebootstraps_and_keeps_everything(
    server: ServerProcess, tmp_path: Path
) -> None:
    pc = make_client(tmp_path / "pc.db", server.url, "nurse3")
    try:
        other = ApiUser(server.url, "nurse1")  # the reader's campus (patients are need-to-know)
        other.push_one("patient.register", patient_args(name="压缩前"))
        compact(server)
        other.push_one("patient.register", patient_args(name="压缩后"))
        other.close()
        script = Scripted(pc)
        ids: list[str] = []
        script.before_first_pull = lambda: ids.extend(
            pc.store.record("patient.register", patient_args(name=f"重置{n}")).mutation_id for n in range(5)
        )
        script.fail_pushes = {1}  # the reset's own push is cut: the outbox must survive that too
        status = pc.sync()
        assert script.calls == ["pull", "push"]
        assert status.state is SyncState.OFFLINE and status.pending == 5
        assert pc.store.state("reset_needed") == "cursor_expired"
        assert_store_sound(pc.store, expected_mutations=ids)
        pc.store.close()  # the app is closed and opened again meanwhile: the reset is still owed
        pc.store = pc.engine.store = LocalStore.open(tmp_path / "pc.db", app="workstation")
        assert pc.store.needs_bootstrap()
        status = pc.sync()
        assert status.state is SyncState.ONLINE and status.pending == 0
        assert script.calls[2:4] == ["push", "bootstrap"], script.calls
        assert pc.store.state("reset_needed") is None
        assert_store_sound(pc.store, expected_mutations=ids)
        assert_exactly_once(server, pc.store)
        assert_same_view(server, pc.store, "nurse3")
        assert {p.name for p in pc.store.search_patients("压缩")} == {"压缩前", "压缩后"}
    finally:
        pc.close()


def test_a_pc_clock_two_hours_off_warns_without_blocking_sync(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    def skewed() -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)

    pc = make_client(tmp_path / "pc.db", shared_server.url, "nurse3", clock=skewed)
    try:
        entry = pc.store.record("patient.register", patient_args(name="时钟测试"))
        status = pc.sync()
        assert status.state is SyncState.ONLINE and status.pending == 0
        assert status.clock_offset_seconds is not None and abs(status.clock_offset_seconds + 7200) < 60
        assert status.clock_warning
        assert "120" in status.message, status.message
        patient = pc.store.get(Patient, entry.args["id"])
        assert patient is not None and patient.updated_at is not None
        assert abs((patient.updated_at - dt.datetime.now(dt.UTC)).total_seconds()) < 60, (
            "the server's clock wins"
        )
        assert_exactly_once(shared_server, pc.store)
    finally:
        pc.close()


def test_a_token_that_expires_while_offline_keeps_the_work_and_the_push_resumes_after_login(
    demo_db_url: str, tmp_path: Path
) -> None:
    import time

    from tests.faults.proxy import FaultProxy
    from tests.support.api import DEMO_PASSWORD

    server = ServerProcess(
        demo_db_url, tmp_path / "server.log", env={"CLINIC_TOKEN_TTL_HOURS": "0.001"}
    ).start()
    proxy = FaultProxy(server.port).start()
    pc = make_client(tmp_path / "pc.db", proxy.url, "nurse3", bootstrap=False)
    try:
        login_at = time.monotonic()
        proxy.set_offline(True)
        ids = [
            pc.store.record("patient.register", patient_args(name=f"过期{n}")).mutation_id for n in range(3)
        ]
        assert pc.sync().state is SyncState.OFFLINE
        time.sleep(max(0.0, 4.0 - (time.monotonic() - login_at)))  # the 3.6 s token runs out meanwhile
        proxy.set_offline(False)
        status = pc.sync()
        assert status.state is SyncState.AUTH_EXPIRED and status.pending == 3
        assert pc.store.get(Patient, pc.store.outbox()[0].args["id"]) is not None
        ids.append(pc.store.record("patient.register", patient_args(name="过期后")).mutation_id)
        pc.engine.login("nurse3", DEMO_PASSWORD)
        status = pc.sync()
        assert status.state is SyncState.ONLINE and status.pending == 0
        assert_store_sound(pc.store, expected_mutations=ids)
        assert_exactly_once(server, pc.store)
    finally:
        pc.close()
        proxy.stop()
        server.stop()
