"""Worker threads: the database thread, one-shot background calls and the sync engine's thread."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QThread, QTimer
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from shared.errors import StoreError
from shared.gui.ops import OpBus, OpChanges
from shared.gui.workers import _LIVE_CALLS, BackgroundCall, DbWorker, NetworkWorker
from shared.sync.status import SyncState, SyncStatus


def test_jobs_run_in_order_off_the_gui_thread_and_answer_on_it(qtbot: QtBot) -> None:
    gui_thread = threading.current_thread()
    worker = DbWorker(store=[])
    ran_on: list[threading.Thread] = []
    answered_on: list[threading.Thread] = []
    results: list[int] = []

    def job(n: int) -> Any:
        def run(store: list[int]) -> int:
            ran_on.append(threading.current_thread())
            store.append(n)
            return n

        return run

    def answered(n: int) -> None:
        answered_on.append(threading.current_thread())
        results.append(n)

    for n in range(5):
        worker.submit(job(n), on_success=answered)
    qtbot.waitUntil(lambda: len(results) == 5)
    assert results == [0, 1, 2, 3, 4]
    assert all(t is not gui_thread for t in ran_on) and len(set(ran_on)) == 1
    assert all(t is gui_thread for t in answered_on)
    assert worker.stop()


def test_the_gui_keeps_ticking_while_a_job_blocks_for_two_seconds(qtbot: QtBot) -> None:
    worker = DbWorker(store=object())
    release = threading.Event()
    ticks: list[int] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()

    job = worker.submit(lambda _store: release.wait(2.0))  # blocks the worker, never the GUI
    assert not job.done.is_set()  # submit() queued it and returned while it still runs
    qtbot.waitUntil(lambda: job.done.is_set(), timeout=5000)
    timer.stop()
    # 2 s at 20 ms is 100 ticks; a frozen GUI thread would have produced none.
    assert len(ticks) >= 40, len(ticks)
    assert worker.stop()


def test_a_failing_job_hands_its_error_to_the_failure_callback(qtbot: QtBot) -> None:
    worker = DbWorker(store=object())
    errors: list[BaseException] = []

    def broken(_store: object) -> None:
        raise StoreError("disk full", code="disk_full")

    with qtbot.waitSignal(worker.sig_job_failed) as blocker:
        worker.submit(broken, on_failure=errors.append, label="save")
    assert blocker.args[0] == "save"
    assert isinstance(errors[0], StoreError) and errors[0].code == "disk_full"
    assert worker.stop()


def test_the_opener_creates_the_store_on_the_worker_thread_and_closes_it_on_stop(qtbot: QtBot) -> None:
    class Store:
        opened_on: threading.Thread | None = None
        closed = False

        def close(self) -> None:
            self.closed = True

    created: list[Store] = []

    def opener() -> Store:
        store = Store()
        store.opened_on = threading.current_thread()
        created.append(store)
        return store

    worker = DbWorker(opener=opener)
    results: list[object] = []
    worker.submit(lambda store: store, on_success=results.append)
    qtbot.waitUntil(lambda: bool(results))
    assert results[0] is created[0]
    assert created[0].opened_on is not threading.current_thread()
    assert worker.stop()
    assert created[0].closed


def test_a_store_that_cannot_open_fails_every_job_with_the_reason(qtbot: QtBot) -> None:
    def opener() -> object:
        raise StoreError("the local database is damaged", code="store_corrupt")

    worker = DbWorker(opener=opener)
    errors: list[BaseException] = []
    worker.submit(lambda store: store, on_failure=errors.append)
    worker.stop()
    qtbot.waitUntil(lambda: bool(errors))
    assert getattr(errors[0], "code", None) == "store_corrupt"


def test_stop_runs_the_jobs_already_queued(qtbot: QtBot) -> None:
    done: list[int] = []
    worker = DbWorker(store=done)
    jobs = [worker.submit(lambda store, n=n: store.append(n)) for n in range(20)]
    assert worker.stop(5.0)
    assert done == list(range(20)) and all(job.done.is_set() for job in jobs)
    with pytest.raises(RuntimeError):
        worker.submit(lambda store: None)


def test_a_cancelled_background_call_never_calls_back(qtbot: QtBot) -> None:
    release = threading.Event()
    answers: list[object] = []
    call = BackgroundCall(lambda: release.wait(5.0), on_success=answers.append).start()
    call.cancel()
    release.set()
    assert call.wait(5.0)
    BackgroundCall(lambda: 42, on_success=answers.append).start()
    qtbot.waitUntil(lambda: answers == [42])


class FakeEngine:
    """Stands in for SyncEngine: reports from its own thread like the real one."""

    def __init__(self, on_status: Any = None, on_changes: Any = None, *, crash: bool = False) -> None:
        self.on_status = on_status
        self.on_changes = on_changes
        self.crash = crash
        self.woken = threading.Event()
        self.wakes = 0
        self.thread: threading.Thread | None = None

    def run(self, stop_event: threading.Event) -> None:
        self.thread = threading.current_thread()
        if self.crash:
            raise RuntimeError("engine bug")
        self.on_status(SyncStatus(SyncState.SYNCING, pending=2))
        self.on_changes({"patient", "visit"})
        self.on_status(SyncStatus(SyncState.ONLINE))
        while not stop_event.is_set():
            self.woken.wait(5.0)
            self.woken.clear()

    def wake(self) -> None:
        self.wakes += 1
        self.woken.set()

    def status(self) -> SyncStatus:
        return SyncStatus(SyncState.ONLINE)


def test_the_network_worker_relays_the_engine_reports_as_signals_and_stops_cleanly(qtbot: QtBot) -> None:
    worker = NetworkWorker()
    engine = FakeEngine(worker.relay_status, worker.relay_changes)
    statuses: list[SyncStatus] = []
    worker.sig_status_changed.connect(statuses.append)
    with qtbot.waitSignal(worker.sig_changes_pulled) as pulled:
        worker.start_engine(engine)
    assert pulled.args == [{"patient", "visit"}]
    qtbot.waitUntil(lambda: worker.last_status.state is SyncState.ONLINE)
    assert [s.state for s in statuses] == [SyncState.SYNCING, SyncState.ONLINE]
    assert engine.thread is not threading.current_thread()
    assert not isinstance(engine.thread, QThread)
    with qtbot.waitSignal(worker.sig_stopped):
        assert worker.stop(5.0)
    assert not worker.is_running()


def test_an_engine_crash_is_reported_not_swallowed(qtbot: QtBot) -> None:
    worker = NetworkWorker()
    with qtbot.waitSignal(worker.sig_engine_crashed) as crashed:
        worker.start_engine(FakeEngine(worker.relay_status, worker.relay_changes, crash=True))
    assert isinstance(crashed.args[0], RuntimeError)


def test_following_the_bus_announces_pulls_and_wakes_the_engine_after_local_edits(qtbot: QtBot) -> None:
    bus = OpBus()
    worker = NetworkWorker()
    engine = FakeEngine(worker.relay_status, worker.relay_changes)
    worker.follow(bus)
    with qtbot.waitSignal(bus.sig_operation_did_execute) as executed:
        worker.start_engine(engine)
    changes, initiator = executed.args
    assert changes.from_sync and changes.touches("patient") and initiator is None
    before = engine.wakes
    bus.sig_operation_did_execute.emit(OpChanges.of("patient", OpChanges.OUTBOX), None)
    assert engine.wakes == before + 1
    bus.sig_operation_did_execute.emit(OpChanges.of("patient"), None)  # nothing to push
    assert engine.wakes == before + 1
    assert worker.stop(5.0)


def test_a_delivered_call_keeps_no_widget_alive_for_the_thread_that_ran_it(qtbot: QtBot) -> None:
    """The worker thread of a call still holds the call (and its job) for a moment after the answer was
    delivered. If that kept the widget whose method got the answer alive, the thread could drop the last
    reference to it off the GUI thread: PySide then deleted the widget's C++ object a second time, and
    logging in crashed the apps (the login dialog was that widget)."""

    answers: list[int] = []

    class Dialog(QWidget):
        def answered(self, value: int) -> None:
            answers.append(value)

    dialog = Dialog()
    call = BackgroundCall(lambda: 42, on_success=dialog.answered).start()
    qtbot.waitUntil(lambda: answers == [42])
    still_held_by_the_thread = call  # as the thread's target holds it
    gone = weakref.ref(dialog)
    del dialog
    gc.collect()
    assert gone() is None, "the delivered call still refers to the dialog"
    assert still_held_by_the_thread.wait(1)


def test_a_call_whose_owner_was_deleted_finishes_harmlessly(qtbot: QtBot) -> None:
    """A call parented to a dialog that closed (its C++ object deleted) before the answer came back: the
    answer is dropped, nothing is emitted on the deleted call ("Signal source has been deleted" under
    load, when the answer came late), and the next call works."""
    release = threading.Event()
    answers: list[object] = []

    class Dialog(QWidget):
        def answered(self, value: object) -> None:
            answers.append(value)

    dialog = Dialog()
    call = BackgroundCall(
        lambda: release.wait(10.0), on_success=dialog.answered, label="late", parent=dialog
    ).start()
    finished: list[bool] = []
    call.sig_finished.connect(lambda: finished.append(True))
    dialog.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(dialog), timeout=10_000)
    release.set()
    assert call.wait(10.0)
    delivered = BackgroundCall(lambda: 7, on_success=answers.append).start()
    qtbot.waitUntil(lambda: answers == [7], timeout=10_000)  # events after the late one were delivered
    assert delivered.wait(10.0) and finished == [] and call not in _LIVE_CALLS


def test_an_answer_that_deletes_the_calls_owner_is_harmless(qtbot: QtBot) -> None:
    """The login dialog's answer closes the dialog, and the call parented to it goes with it: the call
    must not emit on itself afterwards ("Signal source has been deleted" in ``_finish``)."""
    dialog = QWidget()
    deleted: list[bool] = []

    def answered(_value: object) -> None:
        shiboken6.delete(dialog)
        deleted.append(True)

    call = BackgroundCall(lambda: 1, on_success=answered, label="login", parent=dialog)
    finished: list[bool] = []
    call.sig_finished.connect(lambda: finished.append(True))
    call.start()
    qtbot.waitUntil(lambda: deleted == [True], timeout=10_000)
    assert call.wait(10.0) and finished == [] and call not in _LIVE_CALLS


def test_a_job_finishing_after_its_worker_was_deleted_is_still_answered(qtbot: QtBot) -> None:
    """The window that owned the database worker went away between the job's end and its delivery: the
    answer still arrives (ops check their own receivers) and nothing is emitted on the deleted worker."""
    owner = QWidget()
    worker = DbWorker(store=object(), parent=owner)
    failures: list[BaseException] = []

    def fails(_store: object) -> None:
        raise StoreError("disk full", code="store_full")

    job = worker.submit(fails, on_failure=failures.append)
    assert job.wait(10.0) and worker.stop(10.0)  # delivery is queued, not run yet
    shiboken6.delete(owner)  # takes the worker with it
    assert not shiboken6.isValid(worker)
    qtbot.waitUntil(lambda: len(failures) == 1, timeout=10_000)
    assert getattr(failures[0], "code", None) == "store_full"


def test_an_answer_for_a_deleted_widget_is_dropped(qtbot: QtBot) -> None:
    release = threading.Event()

    class Screen(QWidget):
        def answered(self, _value: object) -> None:
            self.setWindowTitle("answered")  # would raise: its C++ object is gone

    screen = Screen()
    call = BackgroundCall(lambda: release.wait(10.0), on_success=screen.answered).start()
    shiboken6.delete(screen)
    release.set()
    assert call.wait(10.0)
    qtbot.waitUntil(lambda: call not in _LIVE_CALLS, timeout=10_000)
