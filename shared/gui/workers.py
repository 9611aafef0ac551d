"""Worker threads: one database thread per app, one network thread for the sync engine, one-shot calls.

Threading rules (the reason this module exists): the GUI thread never waits for the database or the
network. Callables run on a worker; their results come back to the GUI thread through queued Qt
signals, so every callback given here runs on the GUI thread and may touch widgets.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import shiboken6
from PySide6.QtCore import QObject, QThread, Signal

from shared.sync.status import SyncState, SyncStatus

log = logging.getLogger(__name__)

T = TypeVar("T")
S = TypeVar("S")

SuccessCallback = Callable[[Any], object]
FailureCallback = Callable[[BaseException], object]


class SyncEngineLike(Protocol):
    """The part of ``shared.sync.SyncEngine`` the GUI uses; ``run`` blocks until ``stop_event`` is set."""

    def run(self, stop_event: threading.Event) -> None: ...

    def wake(self) -> None: ...

    def status(self) -> SyncStatus: ...


class _Relay(QObject):
    """Lives on the GUI thread; a worker emits on it and Qt queues the slot call onto the GUI thread.

    The relay itself is the receiver (not the worker or call that owns it), so a finished job is always
    delivered, even when the owner's C++ object was deleted meanwhile (its window closed): the owner
    then decides what a late answer means instead of Qt dropping it silently."""

    sig_job_finished = Signal(object)

    def __init__(self, on_finish: Callable[[Job[Any]], None]) -> None:
        super().__init__()
        self._on_finish = on_finish
        self.sig_job_finished.connect(self._relay)

    def _relay(self, job: Job[Any]) -> None:
        self._on_finish(job)


@dataclass(eq=False)
class Job(Generic[S]):
    """One unit of work for a worker; ``cancel()`` drops a job not started yet and silences its callbacks."""

    fn: Callable[[S], Any]
    on_success: SuccessCallback | None = None
    on_failure: FailureCallback | None = None
    label: str = ""
    id: int = 0
    result: Any = None
    error: BaseException | None = None
    cancelled: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.cancelled = True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ran (for shutdown and tests; never call it on the GUI thread)."""
        return self.done.wait(timeout)


def _deliver(job: Job[Any]) -> None:
    """GUI-thread side: call the job's callback; an error in a callback is logged with its traceback."""
    on_success, on_failure = job.on_success, job.on_failure
    # The callbacks are bound to widgets. A worker thread that still holds the job must not hold the
    # last reference to one: dropped off the GUI thread, PySide deletes the widget's C++ object later on
    # the GUI thread, after its parent may already have deleted it. Logging in crashed the apps that way.
    job.on_success = job.on_failure = None
    if job.cancelled:
        return
    receiver = getattr(on_success if job.error is None else on_failure, "__self__", None)
    if isinstance(receiver, QObject) and not shiboken6.isValid(receiver):
        log.debug("job %r finished after the widget it answers was deleted", job.label)
        return
    if job.error is None:
        if on_success is not None:
            on_success(job.result)
    elif on_failure is not None:
        on_failure(job.error)
    else:
        log.error("background job %r failed and nobody handled it", job.label, exc_info=job.error)


def _execute(job: Job[S], arg: S) -> None:
    try:
        job.result = job.fn(arg)
    except Exception as error:  # noqa: BLE001 - handed to the failure callback on the GUI thread
        job.error = error
    finally:
        job.done.set()


class DbWorker(QThread):
    """The one database thread of an app: jobs run in submission order against ``store``.

    Give ``opener`` instead of ``store`` when the store must be created on the thread that uses it
    (SQLite connections are bound to their thread); the store is then opened when the thread starts
    and closed (if it has ``close()``) when the thread stops.
    """

    sig_store_opened = Signal()
    sig_job_failed = Signal(str, object)  # label, exception: for logging/diagnostics; callbacks still run

    def __init__(
        self,
        store: object | None = None,
        *,
        opener: Callable[[], object] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if (store is None) == (opener is None):
            raise ValueError("give exactly one of store or opener")
        self.setObjectName("db-worker")
        self._store = store
        self._opener = opener
        self._jobs: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        self._ids = itertools.count(1)
        self._relay = _Relay(self._finish)
        self._stopping = False

    @property
    def stopping(self) -> bool:
        """True once ``stop`` was called: no job is taken any more."""
        return self._stopping

    @property
    def store(self) -> object | None:
        """The store once opened; use it only inside jobs (on the worker thread)."""
        return self._store

    def submit(
        self,
        fn: Callable[[Any], T],
        *,
        on_success: Callable[[T], object] | None = None,
        on_failure: FailureCallback | None = None,
        label: str = "",
    ) -> Job[Any]:
        """Queue ``fn(store)``; the callbacks run later on the GUI thread. Starts the thread if needed."""
        if self._stopping:
            raise RuntimeError("the database worker is shutting down")
        job: Job[Any] = Job(
            fn, on_success, on_failure, label or getattr(fn, "__name__", "job"), next(self._ids)
        )
        self._jobs.put(job)
        if not self.isRunning():
            self.start()
        return job

    def run(self) -> None:  # the worker thread
        if self._opener is not None:
            try:
                self._store = self._opener()
            except Exception as error:  # noqa: BLE001 - every queued job fails with the reason
                log.exception("could not open the local store")
                self._fail_all(error)
                return
            self.sig_store_opened.emit()
        while True:
            job = self._jobs.get()
            if job is None:
                break
            if job.cancelled:
                job.done.set()
                continue
            _execute(job, self._store)
            self._relay.sig_job_finished.emit(job)
        if self._opener is not None:
            close = getattr(self._store, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # noqa: BLE001 - shutting down; log and go on
                    log.exception("closing the local store failed")

    def _fail_all(self, error: BaseException) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            job.error = error
            job.done.set()
            self._relay.sig_job_finished.emit(job)

    def _finish(self, job: Job[Any]) -> None:
        # A worker deleted with its window still answers its jobs (ops check their own receivers),
        # but it cannot emit any more.
        if job.error is not None and shiboken6.isValid(self):
            self.sig_job_failed.emit(job.label, job.error)
        _deliver(job)

    def stop(self, timeout: float = 10.0) -> bool:
        """Run the jobs already queued, then end the thread; True if it ended within ``timeout`` s."""
        self._stopping = True
        if not self.isRunning():
            return True
        self._jobs.put(None)
        return self.wait(int(timeout * 1000))


class BackgroundCall(QObject):
    """Run one blocking call (a login, a health check) on a daemon thread; callbacks on the GUI thread.

    A network call cannot be interrupted, so ``cancel()`` only silences the callbacks: the thread finishes
    on its own, and being a daemon it never holds the app's exit hostage.
    """

    sig_finished = Signal()

    def __init__(
        self,
        fn: Callable[[], T],
        *,
        on_success: Callable[[T], object] | None = None,
        on_failure: FailureCallback | None = None,
        label: str = "",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._job: Job[None] = Job(lambda _none: fn(), on_success, on_failure, label or "call")
        self._relay = _Relay(self._finish)
        self._thread = threading.Thread(target=self._run, name=f"call-{self._job.label}", daemon=True)
        _LIVE_CALLS.add(self)  # keep the Python wrapper alive until the callback ran

    def start(self) -> BackgroundCall:
        self._thread.start()
        return self

    def _run(self) -> None:
        _execute(self._job, None)
        self._relay.sig_job_finished.emit(self._job)

    def _finish(self, job: Job[None]) -> None:
        _LIVE_CALLS.discard(self)
        if not shiboken6.isValid(self):
            # Its parent (a dialog that closed) took the call with it: nobody is left to answer.
            log.debug("background call %r finished after its owner was deleted", job.label)
            job.on_success = job.on_failure = None
            return
        _deliver(job)
        # The answer may have closed the call's owner, deleting the call: then there is nobody to tell.
        if not job.cancelled and shiboken6.isValid(self):
            self.sig_finished.emit()

    def cancel(self) -> None:
        self._job.cancel()

    @property
    def cancelled(self) -> bool:
        return self._job.cancelled

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the call returned (tests and shutdown only)."""
        return self._job.wait(timeout)


_LIVE_CALLS: set[BackgroundCall] = set()


def run_in_background(
    fn: Callable[[], T],
    *,
    on_success: Callable[[T], object] | None = None,
    on_failure: FailureCallback | None = None,
    label: str = "",
) -> BackgroundCall:
    """Start ``fn()`` on a daemon thread; see ``BackgroundCall``."""
    return BackgroundCall(fn, on_success=on_success, on_failure=on_failure, label=label).start()


class NetworkWorker(QObject):
    """Runs ``SyncEngine.run(stop_event)`` on its own thread and relays what it reports as Qt signals.

    Wiring::

        worker = NetworkWorker()
        engine = SyncEngine(store, transport, on_status=worker.relay_status, on_changes=worker.relay_changes)
        worker.start_engine(engine)
        worker.follow(bus)  # pulled changes become operation_did_execute; local edits wake the engine

    ``relay_status``/``relay_changes`` may be called from any thread. The engine runs on a daemon thread
    rather than a QThread because a long-poll in flight cannot be interrupted: ``stop()`` asks the engine
    to stop, waits a bounded time, and a still-blocked request never keeps the app from exiting.
    """

    sig_status_changed = Signal(object)  # SyncStatus
    sig_changes_pulled = Signal(object)  # set[str] of entity kinds
    sig_engine_crashed = Signal(object)  # the exception that ended SyncEngine.run
    sig_stopped = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("network-worker")
        self._engine: SyncEngineLike | None = None
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_status = SyncStatus(SyncState.NOT_LOGGED_IN)
        self.sig_status_changed.connect(self._remember_status)

    @property
    def engine(self) -> SyncEngineLike | None:
        return self._engine

    @property
    def last_status(self) -> SyncStatus:
        """The latest status relayed (GUI thread)."""
        return self._last_status

    def relay_status(self, status: SyncStatus) -> None:
        """The engine's ``on_status`` callback (any thread)."""
        self.sig_status_changed.emit(status)

    def relay_changes(self, kinds: Iterable[str]) -> None:
        """The engine's ``on_changes`` callback (any thread)."""
        self.sig_changes_pulled.emit(set(kinds))

    def _remember_status(self, status: SyncStatus) -> None:
        self._last_status = status

    def start_engine(self, engine: SyncEngineLike) -> None:
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the network worker already runs an engine")
        self._engine = engine
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._run, name="network-worker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._engine is not None
        try:
            self._engine.run(self._stop_event)
        except Exception as error:  # noqa: BLE001 - reported to the GUI; the app decides what to show
            log.exception("the sync engine stopped with an error")
            self.sig_engine_crashed.emit(error)
        finally:
            self.sig_stopped.emit()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Ask the engine to sync now (after a local edit, or when the user clicks retry)."""
        if self._engine is not None:
            self._engine.wake()

    def follow(self, bus: QObject) -> None:
        """Join an ``OpBus``: pulled changes are announced on it, local changes to the outbox wake the engine."""
        from shared.gui.ops import OpChanges  # ops imports workers; the bus is duck-typed here

        def pulled(kinds: set[str]) -> None:
            bus.sig_operation_did_execute.emit(OpChanges.sync(kinds), None)  # type: ignore[attr-defined]

        def executed(changes: OpChanges, _initiator: object) -> None:
            if changes.touches_outbox and not changes.from_sync:
                self.wake()

        self.sig_changes_pulled.connect(pulled)
        bus.sig_operation_did_execute.connect(executed)  # type: ignore[attr-defined]

    def stop(self, timeout: float = 5.0) -> bool:
        """Set the stop event, wake the engine and wait up to ``timeout`` s; True if the thread ended."""
        self._stop_event.set()
        if self._engine is not None:
            try:
                self._engine.wake()
            except Exception:  # noqa: BLE001 - stopping anyway
                log.exception("waking the sync engine for shutdown failed")
        if self._thread is None:
            return True
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning(
                "the sync engine did not stop within %.1f s; leaving its daemon thread behind", timeout
            )
            return False
        return True
