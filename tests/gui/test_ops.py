"""Ops: CollectionOp/QueryOp run on the database thread; the bus tells every screen what changed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
import shiboken6
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from shared.errors import BusinessRuleViolation, TransientError
from shared.gui.ops import CollectionOp, OpBus, OpChanges, OpContext, QueryOp, describe_error
from shared.gui.workers import DbWorker
from tests.gui.conftest import make_context


class Notes:
    """A tiny store: a list of notes."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.thread: threading.Thread | None = None

    def add(self, text: str) -> int:
        self.thread = threading.current_thread()
        self.notes.append(text)
        return len(self.notes)


@pytest.fixture
def notes() -> Notes:
    return Notes()


@pytest.fixture
def ctx(notes: Notes, bus: OpBus) -> Iterator[OpContext]:
    yield from make_context(notes, bus)


def test_a_collection_op_succeeds_then_announces_its_changes_once(
    qtbot: QtBot, ctx: OpContext, notes: Notes
) -> None:
    screen = QWidget()
    qtbot.addWidget(screen)
    order: list[str] = []
    ctx.bus.sig_operation_did_execute.connect(lambda changes, initiator: order.append("bus"))
    with qtbot.waitSignal(ctx.bus.sig_operation_did_execute) as executed:
        CollectionOp(
            screen, lambda store: store.add("复诊"), changes=("note", OpChanges.OUTBOX), context=ctx
        ).success(lambda count: order.append(f"success {count}")).run_in_background()
    changes, initiator = executed.args
    assert order == ["success 1", "bus"]
    assert changes.touches("note") and changes.touches_outbox and not changes.from_sync
    assert initiator is screen
    assert notes.notes == ["复诊"] and notes.thread is not threading.current_thread()


def test_changes_returned_by_the_op_are_added_to_the_declared_ones(qtbot: QtBot, ctx: OpContext) -> None:
    with qtbot.waitSignal(ctx.bus.sig_operation_did_execute) as executed:
        CollectionOp(None, lambda store: OpChanges.of("patient"), context=ctx).run_in_background()
    assert executed.args[0].kinds == {"patient", OpChanges.OUTBOX}


def test_an_unhandled_failure_goes_to_the_one_error_display(
    qtbot: QtBot, ctx: OpContext, notes: Notes
) -> None:
    def refuse(store: Notes) -> None:
        raise BusinessRuleViolation("处方药品超过 5 种", code="rx.too_many_drugs")

    executed: list[object] = []
    ctx.bus.sig_operation_did_execute.connect(lambda *args: executed.append(args))
    with qtbot.waitSignal(ctx.bus.sig_error_reported) as reported:
        CollectionOp(None, refuse, context=ctx).run_in_background()
    report = reported.args[0]
    assert (report.message, report.code) == ("处方药品超过 5 种", "rx.too_many_drugs")
    assert executed == []  # nothing changed, so nothing to redraw


def test_a_failure_callback_keeps_the_error_inside_the_widget(qtbot: QtBot, ctx: OpContext) -> None:
    reported: list[object] = []
    ctx.bus.sig_error_reported.connect(reported.append)
    handled: list[BaseException] = []

    def refuse(store: Notes) -> None:
        raise BusinessRuleViolation("no")

    op = QueryOp(parent=None, op=refuse, success=lambda _r: None, context=ctx).failure(handled.append)
    op.run_in_background()
    qtbot.waitUntil(lambda: bool(handled))
    assert reported == []


def test_a_query_op_hands_back_its_result_and_announces_nothing(
    qtbot: QtBot, ctx: OpContext, notes: Notes
) -> None:
    notes.notes[:] = ["a", "b"]
    announced: list[object] = []
    ctx.bus.sig_operation_did_execute.connect(lambda *args: announced.append(args))
    results: list[list[str]] = []
    QueryOp(
        parent=None, op=lambda store: list(store.notes), success=results.append, context=ctx
    ).run_in_background()
    qtbot.waitUntil(lambda: bool(results))
    assert results == [["a", "b"]] and announced == []


def test_a_closed_screen_gets_no_callback_but_the_change_is_still_announced(
    qtbot: QtBot, ctx: OpContext
) -> None:
    release = threading.Event()
    screen = QWidget()
    called: list[object] = []
    op = CollectionOp(screen, lambda store: release.wait(5.0), context=ctx).success(called.append)
    op.run_in_background()
    screen.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(screen))
    with qtbot.waitSignal(ctx.bus.sig_operation_did_execute) as executed:
        release.set()
    assert called == [] and executed.args[1] is None


def test_the_bus_says_when_ops_are_in_flight(qtbot: QtBot, ctx: OpContext) -> None:
    release = threading.Event()
    with qtbot.waitSignal(ctx.bus.sig_busy_changed) as started:
        QueryOp(
            parent=None, op=lambda store: release.wait(5.0), success=lambda _r: None, context=ctx
        ).run_in_background()
    assert started.args == [True] and ctx.bus.busy
    with qtbot.waitSignal(ctx.bus.sig_busy_changed) as ended:
        release.set()
    assert ended.args == [False] and not ctx.bus.busy


def test_an_installed_context_is_used_when_none_is_given(
    qtbot: QtBot, ctx: OpContext, notes: Notes, caplog: pytest.LogCaptureFixture
) -> None:
    ctx.install()
    with qtbot.waitSignal(ctx.bus.sig_operation_did_execute):
        CollectionOp(None, lambda store: store.add("x")).run_in_background()
    assert notes.notes == ["x"]
    OpContext.uninstall()
    # the app shut down: an op started now (a late answer during teardown) is dropped and logged
    with caplog.at_level(logging.INFO, logger="shared.gui.ops"):
        CollectionOp(None, lambda store: store.add("y")).run_in_background()
    qtbot.wait(50)
    assert notes.notes == ["x"] and "shutting down" in caplog.text


def test_errors_read_as_people_expect() -> None:
    assert describe_error(TransientError("")).message.startswith("无法连接服务器")
    assert describe_error(ConnectionRefusedError(), "en").message.startswith("Server unreachable")
    bug = describe_error(KeyError("x"))
    assert bug.code == "unexpected" and "KeyError" in bug.message


def test_an_op_started_by_a_late_answer_after_the_context_was_uninstalled_is_dropped(
    qtbot: QtBot, ctx: OpContext, notes: Notes
) -> None:
    """Teardown under load: the app uninstalled its context while an op ran; the op's answer starts another
    op (relying on the installed context). That must be harmless ("no OpContext installed" was raised)."""
    ctx.install()
    release = threading.Event()
    answered: list[object] = []

    def then(_result: object) -> None:
        answered.append(_result)
        CollectionOp(None, lambda store: store.add("late")).run_in_background()
        QueryOp(parent=None, op=lambda store: store.notes, success=answered.append).run_in_background()

    CollectionOp(None, lambda store: release.wait(10.0), context=ctx).success(then).run_in_background()
    OpContext.uninstall()
    release.set()
    qtbot.waitUntil(lambda: answered == [True], timeout=10_000)
    qtbot.wait(100)
    assert notes.notes == [] and answered == [True]


def test_an_op_finishing_after_its_bus_was_deleted_is_harmless(qtbot: QtBot, notes: Notes) -> None:
    bus = OpBus()
    worker = DbWorker(notes)
    context = OpContext(worker, bus)
    release = threading.Event()
    done: list[object] = []
    CollectionOp(None, lambda store: release.wait(10.0), context=context).success(
        done.append
    ).run_in_background()
    CollectionOp(None, lambda store: 1 / 0, context=context).run_in_background()  # unhandled failure
    shiboken6.delete(bus)
    release.set()
    qtbot.waitUntil(lambda: done == [True], timeout=10_000)
    assert worker.stop(10.0)
    qtbot.wait(100)


def test_an_op_without_a_context_runs_on_the_one_its_window_names(
    qtbot: QtBot, ctx: OpContext, notes: Notes
) -> None:
    """Two apps in one process (the clinic-morning test): ops a window's widgets start without a context
    run on that window's app (``op_context``), not on the process's installed context."""
    other_notes = Notes()
    other = OpContext(DbWorker(other_notes), OpBus())
    try:
        other.install()  # another app installed its context first
        window = QWidget()
        qtbot.addWidget(window)
        window.op_context = ctx  # type: ignore[attr-defined]
        child = QWidget(window)
        with qtbot.waitSignal(ctx.bus.sig_operation_did_execute, timeout=10_000):
            CollectionOp(child, lambda store: store.add("mine")).run_in_background()
        assert notes.notes == ["mine"] and other_notes.notes == []
        with qtbot.waitSignal(other.bus.sig_operation_did_execute, timeout=10_000):
            CollectionOp(None, lambda store: store.add("no window")).run_in_background()
        assert other_notes.notes == ["no window"]
    finally:
        assert other.db.stop(5.0)
