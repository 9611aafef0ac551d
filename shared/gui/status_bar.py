"""The sync status bar every app shows: connection state, "sync now", pending, last sync, needs
attention, errors."""

from __future__ import annotations

import datetime as dt
import html
import logging
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QPainter, QPaintEvent, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QStatusBar,
    QToolButton,
    QWidget,
)

from shared import clinic_time
from shared.gui import theme
from shared.gui.attention import AttentionDialog, OutboxStoreLike
from shared.gui.ops import ErrorReport, OpBus, OpChanges, OpContext, QueryOp
from shared.gui.workers import NetworkWorker
from shared.i18n import DEFAULT_LANGUAGE, register, tr
from shared.sync.status import SyncState, SyncStatus

log = logging.getLogger(__name__)

ATTENTION_SHORTCUT = "Ctrl+Shift+A"
SYNC_NOW_SHORTCUT = "Ctrl+Shift+S"

_STRINGS: dict[str, dict[str, str]] = {
    "gui.sync.state.online": {"zh_CN": "在线", "en": "Online", "zh_TW": "在線"},
    "gui.sync.state.syncing": {"zh_CN": "同步中", "en": "Syncing", "zh_TW": "同步中"},
    "gui.sync.state.offline": {"zh_CN": "离线", "en": "Offline", "zh_TW": "離線"},
    "gui.sync.state.auth_expired": {"zh_CN": "登录已过期", "en": "Login expired", "zh_TW": "登錄已過期"},
    "gui.sync.state.not_logged_in": {"zh_CN": "未登录", "en": "Not logged in", "zh_TW": "未登錄"},
    "gui.sync.tip.online": {
        "zh_CN": "已连接服务器，数据已同步",
        "en": "Connected to the server; up to date",
        "zh_TW": "已連接伺服器，資料已同步",
    },
    "gui.sync.tip.syncing": {
        "zh_CN": "正在与服务器交换数据",
        "en": "Exchanging data with the server",
        "zh_TW": "正在與伺服器交換資料",
    },
    "gui.sync.tip.offline": {
        "zh_CN": "无法连接服务器。可继续工作，操作保存在本机，恢复后自动上传",
        "en": "Server unreachable. Keep working: changes are kept on this PC and uploaded when it is back",
        "zh_TW": "無法連接伺服器。可繼續工作，操作保存在本機，恢復後自動上傳",
    },
    "gui.sync.tip.auth_expired": {
        "zh_CN": "登录已过期，本机继续工作，重新登录后才能上传",
        "en": "Login expired; work continues here, uploads wait for a new login",
        "zh_TW": "登錄已過期，本機繼續工作，重新登錄後才能上傳",
    },
    "gui.sync.tip.not_logged_in": {"zh_CN": "尚未登录", "en": "Nobody is logged in", "zh_TW": "尚未登錄"},
    "gui.sync.pending": {"zh_CN": "待上传 {count}", "en": "{count} to upload", "zh_TW": "待上傳 {count}"},
    "gui.sync.pending_tip": {
        "zh_CN": "已保存在本机、尚未被服务器确认的操作",
        "en": "Saved on this PC, not yet confirmed by the server",
        "zh_TW": "已保存在本機、尚未被伺服器確認的操作",
    },
    "gui.sync.pending_shared": {
        "zh_CN": "待上传 {count}（内网已共享 {shared}）",
        "en": "{count} to upload ({shared} shared on the LAN)",
        "zh_TW": "待上傳 {count}（內網已共享 {shared}）",
    },
    "gui.sync.pending_shared_tip": {
        "zh_CN": "{shared} 条已由本院中转服务器在内网共享，等待中心服务器确认；{unsent} 条尚未发出",
        "en": "{shared} shared on the clinic LAN by the clinic hub, waiting for the central server; {unsent} not sent yet",
        "zh_TW": "{shared} 條已由本院中轉伺服器在內網共享，等待中心伺服器確認；{unsent} 條尚未發出",
    },
    "gui.sync.via_hub": {"zh_CN": "经本院中转服务器", "en": "via clinic hub", "zh_TW": "經本院中轉伺服器"},
    "gui.sync.via_central": {"zh_CN": "直连中心服务器", "en": "central server", "zh_TW": "直連中心伺服器"},
    "gui.sync.hub_no_upstream": {
        "zh_CN": "中心服务器不可达，本院内网共享中",
        "en": "Central server unreachable; sharing on the clinic LAN",
        "zh_TW": "中心伺服器不可達，本院內網共享中",
    },
    "gui.sync.via_tip": {
        "zh_CN": "本机当前连接：{url}",
        "en": "This PC talks to {url}",
        "zh_TW": "本機當前連接：{url}",
    },
    "gui.sync.held": {
        "zh_CN": "另有 {count} 条由其他用户在本机记录，待其下次登录时上传",
        "en": "{count} more were recorded here by another user; they upload at that user's next login",
        "zh_TW": "另有 {count} 條由其他用戶在本機記錄，待其下次登錄時上傳",
    },
    "gui.sync.last_sync": {
        "zh_CN": "上次同步：{when}",
        "en": "Last sync: {when}",
        "zh_TW": "上次同步：{when}",
    },
    "gui.sync.never": {"zh_CN": "从未", "en": "never", "zh_TW": "從未"},
    "gui.time.just_now": {"zh_CN": "刚刚", "en": "just now", "zh_TW": "剛剛"},
    "gui.time.minutes_ago": {"zh_CN": "{n} 分钟前", "en": "{n} min ago", "zh_TW": "{n} 分鐘前"},
    "gui.time.hours_ago": {"zh_CN": "{n} 小时前", "en": "{n} h ago", "zh_TW": "{n} 小時前"},
    "gui.time.days_ago": {"zh_CN": "{n} 天前", "en": "{n} days ago", "zh_TW": "{n} 天前"},
    "gui.sync.attention": {
        "zh_CN": "需处理 {count}",
        "en": "{count} need attention",
        "zh_TW": "需處理 {count}",
    },
    "gui.sync.attention_tip": {
        "zh_CN": "服务器拒绝的操作，点击查看（{shortcut}）",
        "en": "Operations the server rejected; click to review ({shortcut})",
        "zh_TW": "伺服器拒絕的操作，點擊查看（{shortcut}）",
    },
    "gui.sync.clock_warning": {
        "zh_CN": "时钟偏差 {minutes} 分钟",
        "en": "Clock {minutes} min off",
        "zh_TW": "時鐘偏差 {minutes} 分鐘",
    },
    "gui.sync.clock_warning_tip": {
        "zh_CN": "本机时钟与服务器相差 {minutes} 分钟，请校准本机时间（同步不受影响）",
        "en": "This PC's clock is {minutes} min off the server; please correct it (syncing is not affected)",
        "zh_TW": "本機時鐘與伺服器相差 {minutes} 分鐘，請校準本機時間（同步不受影響）",
    },
    "gui.sync.bootstrap": {
        "zh_CN": "正在初始化数据",
        "en": "Loading initial data",
        "zh_TW": "正在初始化資料",
    },
    "gui.sync.relogin": {"zh_CN": "重新登录", "en": "Log in again", "zh_TW": "重新登錄"},
    "gui.sync.now": {"zh_CN": "立即同步", "en": "Sync now", "zh_TW": "立即同步"},
    "gui.sync.now_busy": {"zh_CN": "正在连接…", "en": "Connecting…", "zh_TW": "正在連接…"},
    "gui.sync.now_tip": {
        "zh_CN": "立即连接服务器上传并下载，不再等待下一次自动重试（{shortcut}）",
        "en": "Reach the server and exchange data now instead of waiting for the next automatic try ({shortcut})",
        "zh_TW": "立即連接伺服器上傳並下載，不再等待下一次自動重試（{shortcut}）",
    },
    "gui.error.repeated": {
        "zh_CN": "{message}（{count} 次）",
        "en": "{message} ({count}×)",
        "zh_TW": "{message}（{count} 次）",
    },
    "gui.error.dismiss": {"zh_CN": "关闭提示", "en": "Dismiss", "zh_TW": "關閉提示"},
}
for _key, _texts in _STRINGS.items():
    register(_key, _texts)


def relative_time(when: dt.datetime | None, now: dt.datetime, lang: str = DEFAULT_LANGUAGE) -> str:
    """'刚刚', '5 分钟前', '3 小时前', '2 天前' or the date; ``None`` reads 'never'."""
    if when is None:
        return tr("gui.sync.never", lang)
    seconds = (now - when).total_seconds()
    if seconds < 60:
        return tr("gui.time.just_now", lang)
    if seconds < 3600:
        return tr("gui.time.minutes_ago", lang, n=int(seconds // 60))
    if seconds < 86400:
        return tr("gui.time.hours_ago", lang, n=int(seconds // 3600))
    if seconds < 7 * 86400:
        return tr("gui.time.days_ago", lang, n=int(seconds // 86400))
    return clinic_time.local(when).strftime("%Y-%m-%d")


def server_text(status: SyncStatus, lang: str = DEFAULT_LANGUAGE) -> str:
    """Which server this PC talks to, for the status bar: the clinic hub (and whether the hub reaches
    the central server) or the central server; empty with one server configured."""
    role = getattr(status, "server_role", "")
    if role == "hub":
        if getattr(status, "hub_upstream", None) is False:
            return tr("gui.sync.hub_no_upstream", lang)
        return tr("gui.sync.via_hub", lang)
    if role == "central":
        return tr("gui.sync.via_central", lang)
    return ""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _counts(store: OutboxStoreLike) -> tuple[int, int]:
    count = getattr(store, "needs_attention_count", None)
    return store.pending_count(), int(count()) if callable(count) else len(store.needs_attention())


class ElidedLabel(QLabel):
    """A one-line label that shrinks with an ellipsis instead of widening the window (full text in the tooltip)."""

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), 80), hint.height())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        self.style().drawItemText(
            painter,
            rect,
            int(self.alignment()),
            self.palette(),
            self.isEnabled(),
            text,
            self.foregroundRole(),
        )


def _set_role(widget: QWidget, role: str) -> None:
    widget.setProperty("role", role)
    widget.style().unpolish(widget)
    widget.style().polish(widget)


class SyncStatusBar(QStatusBar):
    """Renders a ``SyncStatus`` and the app's errors; put it at the bottom of each main window.

    Feed it with ``set_status`` (or ``bind_network``) and ``show_error`` (or ``bind_bus``). With an
    ``OpContext`` it also refreshes the pending / needs-attention counts right after local ops, and
    the needs-attention button opens ``AttentionDialog`` on that context.
    """

    sig_attention_requested = Signal()
    sig_login_requested = Signal()
    sig_sync_requested = Signal()

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        lang: str = DEFAULT_LANGUAGE,
        context: OpContext | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("sync-status-bar")
        self.setSizeGripEnabled(False)
        self.lang = lang
        self._context = context
        self._clock = clock
        self._status = SyncStatus(SyncState.NOT_LOGGED_IN)
        self._error: ErrorReport | None = None
        self._error_count = 0
        self._network: NetworkWorker | None = None

        self.state_label = QLabel()
        self.state_label.setObjectName("sync-state")
        self.state_label.setTextFormat(Qt.TextFormat.RichText)
        self.pending_label = QLabel()
        self.pending_label.setObjectName("sync-pending")
        self.last_sync_label = QLabel()
        self.last_sync_label.setObjectName("sync-last")
        self.attention_button = QToolButton()
        self.attention_button.setObjectName("sync-attention")
        self.attention_button.setProperty("role", "attention")
        self.attention_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.attention_button.setToolTip(tr("gui.sync.attention_tip", lang, shortcut=ATTENTION_SHORTCUT))
        self.relogin_button = QToolButton()
        self.relogin_button.setObjectName("sync-relogin")
        self.relogin_button.setProperty("role", "link")
        self.relogin_button.setText(tr("gui.sync.relogin", lang))
        self.relogin_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.sync_button = QToolButton()
        self.sync_button.setObjectName("sync-now")
        self.sync_button.setProperty("role", "link")
        self.sync_button.setText(tr("gui.sync.now", lang))
        self.sync_button.setToolTip(tr("gui.sync.now_tip", lang, shortcut=SYNC_NOW_SHORTCUT))
        self.sync_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.clock_label = QLabel()
        self.clock_label.setObjectName("sync-clock")
        self.clock_label.setProperty("role", "warning")
        self.bootstrap_bar = QProgressBar()
        self.bootstrap_bar.setObjectName("sync-bootstrap")
        self.bootstrap_bar.setRange(0, 100)
        self.bootstrap_bar.setFixedWidth(150)
        self.bootstrap_bar.setFormat(tr("gui.sync.bootstrap", lang) + " %p%")
        self.error_label = ElidedLabel()
        self.error_label.setObjectName("sync-error")
        self.error_label.setProperty("role", "error")
        self.error_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.error_close = QToolButton()
        self.error_close.setObjectName("sync-error-close")
        self.error_close.setText("×")
        self.error_close.setAutoRaise(True)
        self.error_close.setToolTip(tr("gui.error.dismiss", lang))

        # Left to right: the state, then the error line (its close button right after the text) taking
        # the free space, then the counters on the right.
        error_area = QWidget()
        error_layout = QHBoxLayout(error_area)
        error_layout.setContentsMargins(8, 0, 0, 0)
        error_layout.setSpacing(2)
        error_layout.addWidget(self.error_label, 0)
        error_layout.addWidget(self.error_close, 0)
        error_layout.addStretch(1)
        self.error_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        error_area.setMinimumWidth(0)
        self.addWidget(self.state_label)
        self.addWidget(self.sync_button)
        self.addWidget(self.relogin_button)
        self.addWidget(error_area, 1)
        self.addPermanentWidget(self.bootstrap_bar)
        self.addPermanentWidget(self.clock_label)
        self.addPermanentWidget(self.pending_label)
        self.addPermanentWidget(self.last_sync_label)
        self.addPermanentWidget(self.attention_button)

        self.attention_button.clicked.connect(self.open_attention)
        self.relogin_button.clicked.connect(self.sig_login_requested)
        self.error_close.clicked.connect(self.clear_error)
        self._shortcut = QShortcut(QKeySequence(ATTENTION_SHORTCUT), self)
        self._shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        self._shortcut.activated.connect(self.open_attention)
        self.sync_button.clicked.connect(self.sync_now)
        self._sync_shortcut = QShortcut(QKeySequence(SYNC_NOW_SHORTCUT), self)
        self._sync_shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        self._sync_shortcut.activated.connect(self.sync_now)
        # "sync now" says it is trying until the engine reports, or a few seconds pass (a probe that
        # finds the server still away changes no status)
        self._sync_feedback = QTimer(self)
        self._sync_feedback.setSingleShot(True)
        self._sync_feedback.setInterval(3000)
        self._sync_feedback.timeout.connect(self._sync_done)

        self._ticker = QTimer(self)
        self._ticker.setInterval(15_000)  # relative times stay fresh without churn
        self._ticker.timeout.connect(self._render_last_sync)
        self._ticker.start()

        self._render()
        self.clear_error()

    # -- inputs -----------------------------------------------------------------------------------

    @property
    def status(self) -> SyncStatus:
        return self._status

    def set_status(self, status: SyncStatus) -> None:
        changed = status.state is not self._status.state
        self._status = status
        if changed and self._sync_feedback.isActive():
            self._sync_feedback.stop()
            self._sync_done()
        self._render()

    def bind_network(self, worker: NetworkWorker) -> None:
        """Show the worker's status; "sync now" wakes its engine."""
        self._network = worker
        worker.sig_status_changed.connect(self.set_status)
        self.set_status(worker.last_status)

    def bind_bus(self, bus: OpBus) -> None:
        """Show the bus's errors here and refresh counts after local ops that change the outbox."""
        bus.sig_error_reported.connect(self.show_error)
        bus.sig_operation_did_execute.connect(self._operation_executed)

    def _operation_executed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.from_sync or not changes.touches(OpChanges.OUTBOX, OpChanges.ATTENTION):
            return
        if (self._context or OpContext.current_or_none()) is None:
            return
        QueryOp(parent=self, op=_counts, success=self._set_counts, context=self._context).failure(
            lambda error: log.warning("could not count the outbox: %s", error)
        ).run_in_background()

    def _set_counts(self, counts: tuple[int, int]) -> None:
        pending, attention = counts
        self.set_status(replace(self._status, pending=pending, needs_attention=attention))

    def show_error(self, report: ErrorReport) -> None:
        """The one place errors appear: one line, repeated messages counted instead of stacked."""
        if self._error is not None and self._error.message == report.message:
            self._error_count += 1
        else:
            self._error, self._error_count = report, 1
        text = report.message
        if self._error_count > 1:
            text = tr("gui.error.repeated", self.lang, message=report.message, count=self._error_count)
        self.error_label.setText(text)
        self.error_label.setToolTip(f"{report.message}\n({report.code})")
        self.error_label.show()
        self.error_close.show()

    def clear_error(self) -> None:
        self._error, self._error_count = None, 0
        self.error_label.clear()
        self.error_label.hide()
        self.error_close.hide()

    @property
    def error_text(self) -> str:
        return self.error_label.text() if self._error is not None else ""

    # -- actions ----------------------------------------------------------------------------------

    def sync_now(self) -> None:
        """Push and pull now, or probe a server out of reach now, instead of waiting for the next
        automatic try (the engine runs on its own thread: nothing blocks here)."""
        self.sig_sync_requested.emit()
        if self._network is not None:
            self._network.wake()
        self.sync_button.setEnabled(False)
        self.sync_button.setText(tr("gui.sync.now_busy", self.lang))
        self._sync_feedback.start()

    def _sync_done(self) -> None:
        self.sync_button.setEnabled(True)
        self.sync_button.setText(tr("gui.sync.now", self.lang))

    def open_attention(self) -> None:
        self.sig_attention_requested.emit()
        AttentionDialog.ask(self.window(), context=self._context, lang=self.lang)

    # -- rendering --------------------------------------------------------------------------------

    def _render(self) -> None:
        status, lang = self._status, self.lang
        colour = theme.state_colour(status.state)
        name = html.escape(tr(f"gui.sync.state.{status.state.value}", lang))
        via = server_text(status, lang)
        self.state_label.setText(
            f'<span style="color:{colour}">●</span>&nbsp;<b style="color:{colour}">{name}</b>'
            + (f"&nbsp;·&nbsp;{html.escape(via)}" if via else "")
        )
        tip = tr(f"gui.sync.tip.{status.state.value}", lang)
        self.state_label.setToolTip(f"{tip}\n{status.message}" if status.message else tip)
        self.relogin_button.setVisible(status.state is SyncState.AUTH_EXPIRED)
        self.sync_button.setVisible(status.state in (SyncState.ONLINE, SyncState.OFFLINE))  # not mid-sync

        shared = min(int(getattr(status, "shared", 0) or 0), status.pending)
        if shared:
            self.pending_label.setText(
                tr("gui.sync.pending_shared", lang, count=status.pending, shared=shared)
            )
        else:
            self.pending_label.setText(tr("gui.sync.pending", lang, count=status.pending))
        held = int(getattr(status, "held_for_other_login", 0) or 0)
        tip = tr("gui.sync.pending_tip", lang)
        if shared:
            tip += "\n" + tr(
                "gui.sync.pending_shared_tip", lang, shared=shared, unsent=status.pending - shared
            )
        self.pending_label.setToolTip(f"{tip}\n{tr('gui.sync.held', lang, count=held)}" if held else tip)
        _set_role(
            self.pending_label, "warning" if status.pending and status.state is not SyncState.ONLINE else ""
        )

        self.attention_button.setText(tr("gui.sync.attention", lang, count=status.needs_attention))
        self.attention_button.setVisible(status.needs_attention > 0)

        if status.clock_warning and status.clock_offset_seconds is not None:
            minutes = max(1, round(abs(status.clock_offset_seconds) / 60))
            self.clock_label.setText("⚠ " + tr("gui.sync.clock_warning", lang, minutes=minutes))
            self.clock_label.setToolTip(tr("gui.sync.clock_warning_tip", lang, minutes=minutes))
            self.clock_label.show()
        else:
            self.clock_label.hide()

        if status.bootstrap_progress is not None:
            self.bootstrap_bar.setValue(round(max(0.0, min(1.0, status.bootstrap_progress)) * 100))
            self.bootstrap_bar.show()
        else:
            self.bootstrap_bar.hide()
        self._render_last_sync()

    def _render_last_sync(self) -> None:
        when = self._status.last_sync
        self.last_sync_label.setText(
            tr("gui.sync.last_sync", self.lang, when=relative_time(when, self._clock(), self.lang))
        )
        self.last_sync_label.setToolTip(clinic_time.local(when).strftime("%Y-%m-%d %H:%M:%S") if when else "")
