"""Idle lock: after N minutes without keyboard or mouse input, cover the window and ask for the password.

Wiring in an app::

    idle = IdleLock(window=main_window, timeout_minutes=10, unlock=lambda window: LoginDialog.ask(
        window, mode=LoginMode.UNLOCK, username=session.username, display_name=session.staff.name,
        login=engine.login, verifier=verifier, lang=lang))
    idle.sig_sign_out_requested.connect(app_shell.sign_out)  # "switch user" on the lock screen
    idle.start()

The filter only watches input events on the whole application (cheap: it stores a monotonic time).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from shared.gui.login import LoginResult
from shared.i18n import DEFAULT_LANGUAGE, register, tr

log = logging.getLogger(__name__)

register("gui.idle.locked", {"zh_CN": "屏幕已锁定", "en": "Screen locked", "zh_TW": "螢幕已鎖定"})

ACTIVITY_EVENTS = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseButtonDblClick,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
        QEvent.Type.TouchUpdate,
        QEvent.Type.TabletPress,
        QEvent.Type.InputMethod,
    }
)

UnlockFn = Callable[[QWidget | None], LoginResult | None]


class PrivacyCover(QWidget):
    """An opaque panel over the whole window so patient data is not readable while the session is locked."""

    def __init__(self, window: QWidget, lang: str = DEFAULT_LANGUAGE) -> None:
        super().__init__(window)
        self.setObjectName("privacy-cover")
        self.setAutoFillBackground(True)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet("#privacy-cover { background: #eceff1; }")
        label = QLabel(tr("gui.idle.locked", lang))
        label.setProperty("role", "title")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        self.setGeometry(window.rect())
        self.raise_()


class IdleLock(QObject):
    """Emits ``sig_idle_lock`` after ``timeout_minutes`` without input; with ``unlock`` it also locks."""

    sig_idle_lock = Signal()
    sig_unlocked = Signal(object)  # LoginResult
    sig_sign_out_requested = Signal()

    def __init__(
        self,
        *,
        timeout_minutes: float = 10.0,
        window: QWidget | None = None,
        unlock: UnlockFn | None = None,
        lang: str = DEFAULT_LANGUAGE,
        clock: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if timeout_minutes <= 0:
            raise ValueError("timeout_minutes must be positive")
        self.timeout_seconds = timeout_minutes * 60.0
        self.window = window
        self.lang = lang
        self._unlock = unlock
        self._locked = False
        self._cover: PrivacyCover | None = None
        self._clock = clock
        self._last_activity = clock()
        self._check = QTimer(self)
        self._check.setInterval(max(20, min(5_000, int(self.timeout_seconds * 1000 / 10))))
        self._check.timeout.connect(self._tick)
        self._installed = False

    @property
    def locked(self) -> bool:
        return self._locked

    @property
    def cover(self) -> PrivacyCover | None:
        """The panel hiding the window while locked (None when unlocked or without a window)."""
        return self._cover

    @property
    def idle_seconds(self) -> float:
        return self._clock() - self._last_activity

    def start(self) -> None:
        """Install the application-wide event filter and start counting."""
        app = QCoreApplication.instance()
        if app is None:
            raise RuntimeError("create the QApplication before the idle lock")
        if not self._installed:
            app.installEventFilter(self)
            self._installed = True
        self.touch()
        self._check.start()

    def stop(self) -> None:
        self._check.stop()
        app = QCoreApplication.instance()
        if self._installed and app is not None:
            app.removeEventFilter(self)
        self._installed = False

    def touch(self) -> None:
        """Count as activity (e.g. a barcode scan that arrives outside Qt's input events)."""
        self._last_activity = self._clock()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind in ACTIVITY_EVENTS:
            if not self._locked:
                self._last_activity = self._clock()
        elif kind == QEvent.Type.Resize and self._cover is not None and watched is self.window:
            self._cover.setGeometry(self.window.rect())
        return False

    def _tick(self) -> None:
        if not self._locked and self.idle_seconds >= self.timeout_seconds:
            log.info("idle for %.0f s: locking the session", self.idle_seconds)
            self.lock()

    def lock(self) -> None:
        """Lock now (also the app's 'lock screen' shortcut); the unlock dialog follows on the event loop."""
        if self._locked:
            return
        self._locked = True
        if self.window is not None:
            self._cover = PrivacyCover(self.window, self.lang)
            self._cover.show()
        self.sig_idle_lock.emit()
        if self._unlock is not None:
            QTimer.singleShot(0, self._ask_unlock)

    def _ask_unlock(self) -> None:
        if not self._locked or self._unlock is None:
            return
        result = self._unlock(self.window)
        if result is None:
            self.sig_sign_out_requested.emit()  # the cover stays until the app calls release()
            return
        self.release()
        self.sig_unlocked.emit(result)

    def release(self) -> None:
        """Remove the cover and count from now (after an unlock or a fresh login)."""
        self._locked = False
        if self._cover is not None:
            self._cover.hide()
            self._cover.deleteLater()
            self._cover = None
        self.touch()
