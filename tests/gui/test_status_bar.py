"""The sync status bar: every SyncState, pending, last sync, clock skew, bootstrap, needs attention, errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget
from pytestqt.qtbot import QtBot

from shared.errors import BusinessRuleViolation
from shared.gui import theme
from shared.gui.attention import AttentionDialog
from shared.gui.ops import CollectionOp, ErrorReport, OpChanges, OpContext
from shared.gui.status_bar import SyncStatusBar, relative_time
from shared.gui.workers import NetworkWorker
from shared.sync.status import SyncState, SyncStatus
from tests.gui.conftest import record_rejected, save_screenshot
from tests.support.server import ServerProcess
from tests.sync.support import make_client, memory_keyring

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)

STATE_TEXT = {
    SyncState.ONLINE: "在线",
    SyncState.SYNCING: "同步中",
    SyncState.OFFLINE: "离线",
    SyncState.AUTH_EXPIRED: "登录已过期",
    SyncState.NOT_LOGGED_IN: "未登录",
}

EXAMPLES = {
    SyncState.ONLINE: SyncStatus(SyncState.ONLINE, last_sync=NOW - dt.timedelta(seconds=20)),
    SyncState.SYNCING: SyncStatus(
        SyncState.SYNCING, pending=3, last_sync=NOW - dt.timedelta(minutes=2), bootstrap_progress=0.42
    ),
    SyncState.OFFLINE: SyncStatus(
        SyncState.OFFLINE,
        pending=12,
        needs_attention=2,
        last_sync=NOW - dt.timedelta(minutes=47),
        clock_offset_seconds=-420.0,
        message="连接被拒绝",
    ),
    SyncState.AUTH_EXPIRED: SyncStatus(
        SyncState.AUTH_EXPIRED, pending=5, last_sync=NOW - dt.timedelta(hours=3)
    ),
    SyncState.NOT_LOGGED_IN: SyncStatus(SyncState.NOT_LOGGED_IN),
}


def in_window(qtbot: QtBot, bar: SyncStatusBar, width: int = 1100) -> QMainWindow:
    window = QMainWindow()
    window.setCentralWidget(QWidget())
    window.setStatusBar(bar)
    window.resize(width, 160)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.mark.parametrize("state", list(SyncState))
def test_each_sync_state_shows_its_name_in_its_colour(qtbot: QtBot, state: SyncState) -> None:
    bar = SyncStatusBar(clock=lambda: NOW)
    window = in_window(qtbot, bar)  # noqa: F841 - keeps the window (and the bar) alive
    bar.set_status(EXAMPLES[state])
    assert STATE_TEXT[state] in bar.state_label.text()
    assert theme.state_colour(state) in bar.state_label.text()
    assert bar.relogin_button.isVisible() == (state is SyncState.AUTH_EXPIRED)
    save_screenshot(bar, f"gui_status_bar_{state.value}")


def test_pending_last_sync_clock_warning_and_bootstrap_progress_are_shown(qtbot: QtBot) -> None:
    bar = SyncStatusBar(clock=lambda: NOW)
    window = in_window(qtbot, bar)  # noqa: F841 - keeps the window (and the bar) alive
    bar.set_status(EXAMPLES[SyncState.OFFLINE])
    assert bar.pending_label.text() == "待上传 12"
    assert bar.last_sync_label.text() == "上次同步：47 分钟前"
    assert bar.clock_label.isVisible() and bar.clock_label.text() == "⚠ 时钟偏差 7 分钟"
    assert "本机时钟与服务器相差 7 分钟" in bar.clock_label.toolTip()
    assert "连接被拒绝" in bar.state_label.toolTip()
    assert not bar.bootstrap_bar.isVisible()
    bar.set_status(EXAMPLES[SyncState.SYNCING])
    assert bar.bootstrap_bar.isVisible() and bar.bootstrap_bar.value() == 42
    assert not bar.clock_label.isVisible()


def test_relative_times_read_naturally() -> None:
    assert relative_time(None, NOW) == "从未"
    assert relative_time(NOW - dt.timedelta(seconds=30), NOW) == "刚刚"
    assert relative_time(NOW - dt.timedelta(minutes=5), NOW) == "5 分钟前"
    assert relative_time(NOW - dt.timedelta(hours=3), NOW, "en") == "3 h ago"
    assert relative_time(NOW - dt.timedelta(days=2), NOW, "zh_TW") == "2 天前"
    assert relative_time(NOW - dt.timedelta(days=30), NOW).startswith("2026-01-")


def test_the_needs_attention_button_appears_with_a_count_and_opens_the_list(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[QWidget | None] = []
    monkeypatch.setattr(
        AttentionDialog, "ask", classmethod(lambda cls, parent=None, **kw: opened.append(parent) or [])
    )
    bar = SyncStatusBar(clock=lambda: NOW)
    window = in_window(qtbot, bar)
    bar.set_status(SyncStatus(SyncState.ONLINE, needs_attention=0))
    assert not bar.attention_button.isVisible()
    bar.set_status(SyncStatus(SyncState.ONLINE, needs_attention=3))
    assert bar.attention_button.isVisible() and bar.attention_button.text() == "需处理 3"
    with qtbot.waitSignal(bar.sig_attention_requested):
        qtbot.mouseClick(bar.attention_button, Qt.MouseButton.LeftButton)
    assert opened == [window]
    with qtbot.waitActive(window):
        window.activateWindow()
    qtbot.keyClick(
        window.centralWidget(),
        Qt.Key.Key_A,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert len(opened) == 2  # keyboard first: Ctrl+Shift+A opens it too


def test_an_expired_login_offers_to_log_in_again(qtbot: QtBot) -> None:
    bar = SyncStatusBar()
    window = in_window(qtbot, bar)  # noqa: F841 - keeps the window (and the bar) alive
    bar.set_status(SyncStatus(SyncState.AUTH_EXPIRED))
    with qtbot.waitSignal(bar.sig_login_requested):
        qtbot.mouseClick(bar.relogin_button, Qt.MouseButton.LeftButton)


def test_errors_show_in_one_line_and_repeats_are_counted_not_stacked(
    qtbot: QtBot, context: OpContext
) -> None:
    bar = SyncStatusBar(context=context)
    window = in_window(qtbot, bar)  # noqa: F841 - keeps the window (and the bar) alive
    bar.bind_bus(context.bus)

    def refuse(store: object) -> None:
        raise BusinessRuleViolation("库存不足：阿莫西林胶囊")

    for _ in range(3):
        with qtbot.waitSignal(context.bus.sig_error_reported):
            CollectionOp(None, refuse, context=context).run_in_background()
    assert bar.error_text == "库存不足：阿莫西林胶囊（3 次）"
    assert bar.error_label.isVisible()
    save_screenshot(bar, "gui_status_bar_error")
    qtbot.mouseClick(bar.error_close, Qt.MouseButton.LeftButton)
    assert bar.error_text == "" and not bar.error_label.isVisible()


def test_the_bar_follows_the_network_worker(qtbot: QtBot) -> None:
    worker = NetworkWorker()
    bar = SyncStatusBar()
    window = in_window(qtbot, bar)  # noqa: F841 - keeps the window (and the bar) alive
    bar.bind_network(worker)
    with qtbot.waitSignal(worker.sig_status_changed):
        import threading

        threading.Thread(target=worker.relay_status, args=(SyncStatus(SyncState.OFFLINE, pending=4),)).start()
    assert bar.status.state is SyncState.OFFLINE and bar.pending_label.text() == "待上传 4"


def test_counts_refresh_from_the_real_store_right_after_a_local_edit(
    qtbot: QtBot, context: OpContext, store: object
) -> None:
    bar = SyncStatusBar(context=context)
    window = in_window(qtbot, bar)  # noqa: F841 - keeps the window (and the bar) alive
    bar.bind_bus(context.bus)
    bar.set_status(SyncStatus(SyncState.OFFLINE))
    record_rejected(store, 2)
    with qtbot.waitSignal(context.bus.sig_operation_did_execute):
        CollectionOp(
            None,
            lambda s: s.record(
                "patient.register",
                {"id": "p-1", "name": "李四", "sex": "M", "birth_date": "1990-01-01", "phone": "13912345678"},
            ),
            changes=("patient", OpChanges.OUTBOX),
            context=context,
        ).run_in_background()
    qtbot.waitUntil(lambda: bar.status.pending == 1)
    assert bar.status.needs_attention == 2 and bar.attention_button.text() == "需处理 2"
    assert bar.status.state is SyncState.OFFLINE


def test_english_and_traditional_chinese_render_too(qtbot: QtBot) -> None:
    for lang, text in (("en", "Offline"), ("zh_TW", "離線")):
        bar = SyncStatusBar(lang=lang, clock=lambda: NOW)
        window = in_window(qtbot, bar)  # noqa: F841
        bar.set_status(EXAMPLES[SyncState.OFFLINE])
        assert text in bar.state_label.text()
    save_screenshot(bar, "gui_status_bar_offline_zh_TW")


def test_mutations_held_for_another_user_are_explained_in_the_pending_tooltip(qtbot: QtBot) -> None:
    bar = SyncStatusBar()
    qtbot.addWidget(bar)
    bar.set_status(SyncStatus(SyncState.ONLINE, pending=2, held_for_other_login=2))
    assert "另有 2 条由其他用户在本机记录" in bar.pending_label.toolTip()


def test_a_full_bar_fits_a_900_pixel_window_by_eliding_the_error(qtbot: QtBot) -> None:
    bar = SyncStatusBar(clock=lambda: NOW)
    window = in_window(qtbot, bar, width=900)
    bar.set_status(dataclasses.replace(EXAMPLES[SyncState.OFFLINE], bootstrap_progress=0.3))
    bar.show_error(
        ErrorReport("库存不足：阿莫西林胶囊 0.25g×24粒，当前批次 2026-01 仅余 3 盒", "stock.short")
    )
    QApplication.processEvents()
    assert window.width() == 900 and bar.minimumSizeHint().width() <= 900
    assert "阿莫西林" in bar.error_label.toolTip()
    save_screenshot(bar, "gui_status_bar_narrow_window")


def test_the_start_up_update_check_shows_its_notice_without_hiding_the_sync_state(qtbot: QtBot) -> None:
    import threading

    from shared.gui.app import show_update_notice
    from shared.update import startup
    from shared.update.client import CheckResult

    bar = SyncStatusBar(None, lang="zh_CN")
    qtbot.addWidget(bar)
    bar.show()
    label = show_update_notice(bar)
    assert label.isHidden()
    result = CheckResult(app="triage", current="1.0.0", available=None, message="有新版本 1.1.0 可安装")
    try:
        worker = threading.Thread(target=startup._publish, args=(result,))  # as the checking thread does
        worker.start()
        worker.join()
        qtbot.waitUntil(label.isVisible, timeout=5_000)
        assert label.text() == "有新版本 1.1.0 可安装"
        assert bar.state_label.isVisible()
    finally:
        with startup._lock:
            startup._available.clear()


def test_sync_now_reaches_a_returned_server_at_once_instead_of_at_the_next_try(
    qtbot: QtBot, server: ServerProcess, tmp_path: Path
) -> None:
    """A real engine on its network thread, a server that went away and came back: the next
    automatic probe is minutes away (``probe_interval``), "sync now" gets the PC online at once."""
    with memory_keyring():
        pc = make_client(tmp_path / "pc.db", server.url, probe_interval=600.0, long_poll_seconds=5.0)
        worker = NetworkWorker()
        pc.engine.on_status = worker.relay_status
        bar = SyncStatusBar()
        window = in_window(qtbot, bar, width=1366)  # noqa: F841 - keeps the window (and the bar) alive
        bar.bind_network(worker)
        server.stop()
        worker.start_engine(pc.engine)
        try:
            qtbot.waitUntil(lambda: bar.status.state is SyncState.OFFLINE, timeout=30_000)
            assert bar.sync_button.isVisible() and bar.sync_button.text() == "立即同步"
            assert "Ctrl+Shift+S" in bar.sync_button.toolTip()
            save_screenshot(bar, "gui_status_bar_sync_now")
            server.start()
            with qtbot.waitSignal(bar.sig_sync_requested):
                qtbot.mouseClick(bar.sync_button, Qt.MouseButton.LeftButton)
            assert bar.sync_button.text() == "正在连接…" and not bar.sync_button.isEnabled()
            qtbot.waitUntil(lambda: bar.status.state is SyncState.ONLINE, timeout=30_000)
            qtbot.waitUntil(lambda: bar.sync_button.isEnabled(), timeout=10_000)
            assert bar.sync_button.text() == "立即同步"
        finally:
            worker.stop(10.0)
            pc.close()


def test_the_sync_now_button_is_there_only_when_a_sync_can_run(qtbot: QtBot) -> None:
    bar = SyncStatusBar(clock=lambda: NOW)
    window = in_window(qtbot, bar)  # noqa: F841 - keeps the window (and the bar) alive
    for state, shown in (
        (SyncState.ONLINE, True),
        (SyncState.OFFLINE, True),
        (SyncState.AUTH_EXPIRED, False),
        (SyncState.NOT_LOGGED_IN, False),
    ):
        bar.set_status(EXAMPLES[state])
        assert bar.sync_button.isVisible() is shown, state


@pytest.mark.parametrize(
    ("lang", "via_hub", "no_upstream", "central", "pending"),
    [
        ("zh_CN", "经本院中转服务器", "中心服务器不可达，本院内网共享中", "直连中心服务器", "待上传 9（内网已共享 7）"),
        ("en", "via clinic hub", "Central server unreachable; sharing on the clinic LAN", "central server",
         "9 to upload (7 shared on the LAN)"),
        ("zh_TW", "經本院中轉伺服器", "中心伺服器不可達，本院內網共享中", "直連中心伺服器", "待上傳 9（內網已共享 7）"),
    ],
)  # fmt: skip
def test_the_bar_says_which_server_answers_and_what_the_clinic_hub_shares(
    qtbot: QtBot, lang: str, via_hub: str, no_upstream: str, central: str, pending: str
) -> None:
    bar = SyncStatusBar(lang=lang, clock=lambda: NOW)
    window = in_window(qtbot, bar, width=1000)
    status = SyncStatus(SyncState.ONLINE, pending=9, shared=7, server_role="hub", hub_upstream=True)
    bar.set_status(status)
    assert via_hub in bar.state_label.text()
    bar.set_status(dataclasses.replace(status, hub_upstream=False))
    assert no_upstream in bar.state_label.text()
    assert bar.pending_label.text() == pending
    assert "7" in bar.pending_label.toolTip() and "2" in bar.pending_label.toolTip()
    QApplication.processEvents()
    assert bar.minimumSizeHint().width() <= window.width()
    save_screenshot(bar, f"gui_status_bar_clinic_hub_{lang}")
    bar.set_status(SyncStatus(SyncState.ONLINE, server_role="central"))
    assert central in bar.state_label.text() and bar.pending_label.text() in (
        "待上传 0",
        "0 to upload",
        "待上傳 0",
    )
    bar.set_status(SyncStatus(SyncState.ONLINE))
    assert central not in bar.state_label.text() and via_hub not in bar.state_label.text()
