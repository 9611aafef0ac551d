"""Ops in Anki's style: CollectionOp changes the local store, QueryOp reads it; one app-wide OpBus.

A screen never touches the store itself. It builds an op with a callable that receives the store, runs
it on the app's database thread, and gets its result back on the GUI thread::

    CollectionOp(self, lambda store: store.record("queue.call", args), changes=("queue", OpChanges.OUTBOX))
        .success(lambda _result: self.show_called())
        .run_in_background()

    QueryOp(parent=self, op=lambda store: store.search_patients(text), success=self.model.set_rows)
        .run_in_background()

When a CollectionOp succeeds, ``OpBus.sig_operation_did_execute(changes, initiator)`` fires once; every
screen connects to it and redraws only if ``changes.touches(...)`` what it shows (the ``initiator``
lets the screen that caused the change skip a redundant reload). Pulled server changes arrive on the
same signal with ``changes.from_sync`` set (see ``NetworkWorker.follow``). A failure without a failure
callback goes to ``OpBus.sig_error_reported``, which the app shows in its one error display.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

import shiboken6
from PySide6.QtCore import QObject, Signal

from shared.errors import SuiteError, TransientError
from shared.gui.workers import DbWorker, Job
from shared.i18n import DEFAULT_LANGUAGE, register, tr

log = logging.getLogger(__name__)

T = TypeVar("T")

register(
    "gui.error.unexpected",
    {
        "zh_CN": "程序内部错误（{kind}），已记录日志；请重试，如反复出现请联系信息科",
        "en": "Internal error ({kind}), logged; please retry and call IT if it keeps happening",
        "zh_TW": "程式內部錯誤（{kind}），已記錄日誌；請重試，如反覆出現請聯繫資訊科",
    },
)
register(
    "gui.error.network",
    {
        "zh_CN": "无法连接服务器，已保存在本机，恢复后自动上传",
        "en": "Server unreachable; saved on this PC and uploaded when it is back",
        "zh_TW": "無法連接伺服器，已保存在本機，恢復後自動上傳",
    },
)


@dataclass(frozen=True)
class OpChanges:
    """What an op changed: entity kinds (``"patient"``, ``"queue_ticket"`` …) plus the flags below."""

    OUTBOX: ClassVar[str] = "outbox"  # a mutation was recorded: pending count changed, push soon
    ATTENTION: ClassVar[str] = "attention"  # the needs-attention list changed

    kinds: frozenset[str] = frozenset()
    source: Literal["local", "sync"] = "local"

    @classmethod
    def of(cls, *kinds: str) -> OpChanges:
        return cls(frozenset(kinds))

    @classmethod
    def sync(cls, kinds: Iterable[str]) -> OpChanges:
        """Changes pulled from the server."""
        return cls(frozenset(kinds), "sync")

    def touches(self, *kinds: str) -> bool:
        return not self.kinds.isdisjoint(kinds)

    @property
    def touches_outbox(self) -> bool:
        return self.OUTBOX in self.kinds

    @property
    def from_sync(self) -> bool:
        return self.source == "sync"

    def __contains__(self, kind: object) -> bool:
        return kind in self.kinds

    def __bool__(self) -> bool:
        return bool(self.kinds)

    def __or__(self, other: OpChanges) -> OpChanges:
        source: Literal["local", "sync"] = "local" if "local" in (self.source, other.source) else "sync"
        return OpChanges(self.kinds | other.kinds, source)


@dataclass(frozen=True)
class ErrorReport:
    """One error for the one error display: a translated message, a stable code and the exception."""

    message: str
    code: str
    error: BaseException | None = None


def describe_error(error: BaseException, lang: str = DEFAULT_LANGUAGE) -> ErrorReport:
    """Turn an exception into what people read; anything not a SuiteError is a bug and says so."""
    if isinstance(error, TransientError):
        return ErrorReport(error.message or tr("gui.error.network", lang), error.code, error)
    if isinstance(error, SuiteError):
        return ErrorReport(error.message, error.code, error)
    if isinstance(error, ConnectionError | TimeoutError):
        return ErrorReport(tr("gui.error.network", lang), TransientError.code, error)
    return ErrorReport(tr("gui.error.unexpected", lang, kind=type(error).__name__), "unexpected", error)


class OpBus(QObject):
    """App-wide signals: what changed, which error to show, whether an op is running."""

    sig_operation_did_execute = Signal(object, object)  # OpChanges, initiator (the op's parent) or None
    sig_error_reported = Signal(object)  # ErrorReport
    sig_busy_changed = Signal(bool)  # True while at least one op is in flight

    def __init__(self, lang: str = DEFAULT_LANGUAGE, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lang = lang
        self._running = 0

    def report_error(self, error: BaseException) -> ErrorReport:
        """Log ``error`` and hand it to the error display (GUI thread)."""
        report = describe_error(error, self.lang)
        if report.code == "unexpected":
            log.error("unexpected error", exc_info=error)
        else:
            log.info("reported error %s: %s", report.code, report.message)
        self.sig_error_reported.emit(report)
        return report

    def _op_started(self) -> None:
        self._running += 1
        if self._running == 1:
            self.sig_busy_changed.emit(True)

    def _op_ended(self) -> None:
        self._running -= 1
        if self._running == 0:
            self.sig_busy_changed.emit(False)

    @property
    def busy(self) -> bool:
        return self._running > 0


class OpContext:
    """Where ops run (the app's DbWorker) and where they report (its OpBus). One per app process."""

    _current: ClassVar[OpContext | None] = None

    def __init__(self, db: DbWorker, bus: OpBus) -> None:
        self.db = db
        self.bus = bus

    def install(self) -> OpContext:
        """Make this the context ops use when none is passed (the app does this once at start)."""
        OpContext._current = self
        return self

    @classmethod
    def current(cls) -> OpContext:
        if cls._current is None:
            raise RuntimeError("no OpContext installed: call OpContext(db, bus).install() at app start")
        return cls._current

    @classmethod
    def current_or_none(cls) -> OpContext | None:
        return cls._current

    # A window may name its app's context in an ``op_context`` attribute: ops started by its widgets without a context use that one, not the
    # process's installed context. Matters where several apps share one process (tests).
    ATTRIBUTE: ClassVar[str] = "op_context"

    @classmethod
    def of(cls, parent: QObject | None) -> OpContext | None:
        """The context a widget's window names (``op_context``), else the installed one."""
        node = parent
        while node is not None and _alive(node):
            found = getattr(node, cls.ATTRIBUTE, None)
            if isinstance(found, OpContext):
                return found
            node = node.parent()
        return cls._current

    @classmethod
    def uninstall(cls) -> None:
        cls._current = None


def _alive(obj: object) -> bool:
    return not isinstance(obj, QObject) or shiboken6.isValid(obj)


class _Op(Generic[T]):
    def __init__(self, parent: QObject | None, op: Callable[[Any], T], context: OpContext | None) -> None:
        self._parent = parent
        self._op = op
        self._context = context
        self._success: Callable[[T], Any] | None = None
        self._failure: Callable[[BaseException], Any] | None = None
        self._job: Job[Any] | None = None

    def failure(self, failure: Callable[[BaseException], Any] | None) -> _Op[T]:
        """Handle errors yourself (e.g. show them inside the widget); otherwise they go to the bus."""
        self._failure = failure
        return self

    def cancel(self) -> None:
        """Drop the op if it has not started; silence its callbacks if it has."""
        if self._job is not None:
            self._job.cancel()

    def _context_or_none(self, label: str) -> OpContext | None:
        """The op's context; None (the op is dropped, and logged) once the app is shutting down: a late
        answer starting another op during teardown must be harmless, not raise in a Qt callback."""
        context = self._context or OpContext.of(self._parent)
        if context is None or not _alive(context.bus) or context.db.stopping:
            log.info("op %r dropped: the app is shutting down", label)
            return None
        return context

    def _submit(self, on_success: Callable[[T], None], label: str) -> None:
        context = self._context_or_none(label)
        if context is None:
            return
        bus = context.bus

        def succeeded(result: T) -> None:
            if _alive(bus):
                bus._op_ended()
            on_success(result)

        def failed(error: BaseException) -> None:
            if _alive(bus):
                bus._op_ended()
            if self._failure is not None and _alive(self._parent):
                self._failure(error)
            elif _alive(bus):
                bus.report_error(error)
            else:
                log.warning("op %r failed after the app shut down: %s", label, error)

        bus._op_started()
        self._job = context.db.submit(self._op, on_success=succeeded, on_failure=failed, label=label)


class CollectionOp(_Op[T]):
    """An op that changes the local store (normally: records a mutation in the outbox).

    ``changes`` are the kinds the op touches; by default just ``OpChanges.OUTBOX``. When the op returns
    an ``OpChanges`` (or an object with a ``changes: OpChanges`` attribute) they are added.
    """

    def __init__(
        self,
        parent: QObject | None,
        op: Callable[[Any], T],
        *,
        changes: Iterable[str] = (OpChanges.OUTBOX,),
        context: OpContext | None = None,
    ) -> None:
        super().__init__(parent, op, context)
        self._changes = OpChanges(frozenset(changes))

    def success(self, success: Callable[[T], Any] | None) -> CollectionOp[T]:
        self._success = success
        return self

    def failure(self, failure: Callable[[BaseException], Any] | None) -> CollectionOp[T]:
        super().failure(failure)
        return self

    def run_in_background(self, *, initiator: object | None = None) -> CollectionOp[T]:
        """Queue the op on the database thread; callbacks and the bus signal follow on the GUI thread."""
        label = getattr(self._op, "__name__", "collection-op")
        context = self._context_or_none(label)
        if context is None:
            return self
        initiator = initiator if initiator is not None else self._parent

        def done(result: T) -> None:
            changes = self._changes
            extra = result if isinstance(result, OpChanges) else getattr(result, "changes", None)
            if isinstance(extra, OpChanges):
                changes = changes | extra
            try:
                if self._success is not None and _alive(self._parent):
                    self._success(result)
            finally:
                if _alive(context.bus):  # gone when the app shut down while the op ran
                    context.bus.sig_operation_did_execute.emit(
                        changes, initiator if _alive(initiator) else None
                    )

        self._context = context
        self._submit(done, label)
        return self


class QueryOp(_Op[T]):
    """A read-only op: runs on the database thread, hands its result to ``success`` on the GUI thread."""

    def __init__(
        self,
        *,
        parent: QObject | None,
        op: Callable[[Any], T],
        success: Callable[[T], Any],
        context: OpContext | None = None,
    ) -> None:
        super().__init__(parent, op, context)
        self._success = success

    def failure(self, failure: Callable[[BaseException], Any] | None) -> QueryOp[T]:
        super().failure(failure)
        return self

    def run_in_background(self) -> QueryOp[T]:
        def done(result: T) -> None:
            if self._success is not None and _alive(self._parent):
                self._success(result)

        self._submit(done, getattr(self._op, "__name__", "query-op"))
        return self
