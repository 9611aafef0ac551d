"""App start-up: the QApplication (theme, Qt translations, error route) and the client runtime wiring.

Each app's ``main()`` reads like this::

    qt_app = create_app(sys.argv, app_name="workstation", lang=settings.lang)
    runtime = ClientRuntime.open(app="workstation", server_url=settings.server_url, lang=settings.lang)
    install_excepthook(runtime.bus)  # uncaught errors on any thread end up in the status bar's error line
    window = MainWindow(runtime)  # its status bar: runtime.status_bar(window)
    if runtime.ask_login(window) is None:
        return 0
    runtime.start_sync()
    idle = runtime.idle_lock(window, minutes=settings.idle_minutes)
    window.show()
    try:
        return qt_app.exec()
    finally:
        runtime.shutdown()
"""

from __future__ import annotations

import logging
import os
import ssl
import sys
import threading
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLibraryInfo, QLocale, QObject, QTranslator, Signal
from PySide6.QtWidgets import QApplication, QLabel, QStatusBar, QWidget

from shared.domain.entities import Campus, Staff
from shared.gui.idle import IdleLock
from shared.gui.login import LoginDialog, LoginMode, LoginResult
from shared.gui.ops import OpBus, OpContext
from shared.gui.status_bar import SyncStatusBar
from shared.gui.theme import apply_theme
from shared.gui.workers import BackgroundCall, DbWorker, NetworkWorker
from shared.i18n import DEFAULT_LANGUAGE, LANGUAGES
from shared.security import JsonFileVerifierStore, OfflineVerifier
from shared.store import LocalStore, data_dir
from shared.sync.engine import SyncEngine
from shared.sync.tokens import TokenStore
from shared.sync.transport import ApiTransport

log = logging.getLogger(__name__)

ORGANIZATION = "Clinic Suite"

_QT_LOCALES = {"zh_CN": "zh_CN", "en": "en_US", "zh_TW": "zh_TW"}


def create_app(
    argv: Sequence[str] | None = None, *, app_name: str = "clinic", lang: str = DEFAULT_LANGUAGE
) -> QApplication:
    """The process's QApplication (reused if one exists), themed and translated for ``lang``."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; use one of {LANGUAGES}")
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(list(argv or sys.argv[:1]))
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(app_name)
    QLocale.setDefault(QLocale(_QT_LOCALES[lang]))
    install_qt_translations(app, lang)
    apply_theme(app, lang)
    app.setProperty("clinic_lang", lang)
    return app


def install_qt_translations(app: QApplication, lang: str) -> QTranslator | None:
    """Translate Qt's own texts (standard buttons, context menus) into ``lang``; None if not shipped."""
    if lang == "en":
        return None
    translator = QTranslator(app)
    folder = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    if translator.load(f"qtbase_{lang}", folder) or translator.load(f"qt_{lang}", folder):
        app.installTranslator(translator)
        return translator
    log.info("no Qt translations for %s in %s", lang, folder)
    return None


class _ErrorRelay(QObject):
    """Carries an exception from any thread to the bus on the GUI thread."""

    sig_error = Signal(object)


_hook_state: dict[str, object] = {}


def install_excepthook(bus: OpBus) -> None:
    """Send uncaught exceptions (GUI thread, Qt slots, worker threads) to ``bus.report_error``.

    The error is logged with its traceback and shown once in the app's error line; the app keeps
    running, because a bug in one screen must not cost the clinic its open work.
    """
    relay = _ErrorRelay(bus)
    relay.sig_error.connect(bus.report_error)
    _hook_state.update(relay=relay, sys=sys.excepthook, threading=threading.excepthook)

    def hook(kind: type[BaseException], error: BaseException, tb: types.TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, tb)
            return
        log.critical("uncaught error", exc_info=(kind, error, tb))
        relay.sig_error.emit(error.with_traceback(tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            hook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = hook
    threading.excepthook = thread_hook


def uninstall_excepthook() -> None:
    """Restore the previous hooks (tests)."""
    if "sys" in _hook_state:
        sys.excepthook = _hook_state.pop("sys")  # type: ignore[assignment]
        threading.excepthook = _hook_state.pop("threading")  # type: ignore[assignment]
        _hook_state.pop("relay", None)


VERIFIER_FILE = "verifiers.json"


@dataclass(eq=False)
class ClientRuntime:
    """One app process's offline-first machinery, wired once: local store, sync engine on the network
    thread, the database worker with its op context and bus, and the offline verifier.

    Build it on the GUI thread after ``create_app``. Screens use ``context``/``bus`` (through ops) and
    never ``store``/``engine`` directly; ``shutdown()`` stops both threads and closes the store.
    """

    app_name: str
    lang: str
    store: LocalStore
    transport: ApiTransport
    engine: SyncEngine
    network: NetworkWorker
    bus: OpBus
    context: OpContext
    verifier: OfflineVerifier
    current: LoginResult | None = None  # who is logged in (set by ask_login)
    data_folder: Path | None = None  # where the store, logs, prints and the print spool are
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def open(
        cls,
        *,
        app: str,
        server_url: str | Sequence[str],
        lang: str = DEFAULT_LANGUAGE,
        data_folder: str | os.PathLike[str] | None = None,
        tokens: TokenStore | None = None,
        verifier: OfflineVerifier | None = None,
        timeout: float = 15.0,
        engine_options: dict[str, Any] | None = None,
        install: bool = True,
        ca_certificate: str = "",
    ) -> ClientRuntime:
        """Open ``<data folder>/<app>.db`` and wire everything; ``install`` makes its OpContext current.

        ``ca_certificate`` pins the hospital's CA: an ``https://`` server is trusted only if its
        certificate chains to that PEM file (not to the system's CAs); empty means the system's CAs.
        """
        folder = data_dir(data_folder)
        store = LocalStore.open(folder / f"{app}.db", app=app, key="os")  # encrypted at rest
        verify = ssl.create_default_context(cafile=ca_certificate) if ca_certificate else True
        transport = ApiTransport(server_url, timeout=timeout, lang=lang, verify=verify)
        network = NetworkWorker()
        engine = SyncEngine(
            store,
            transport,
            on_status=network.relay_status,
            on_changes=network.relay_changes,
            tokens=tokens,
            lang=lang,
            **(engine_options or {}),
        )
        bus = OpBus(lang)
        context = OpContext(DbWorker(store), bus)
        if install:
            context.install()
        network.follow(bus)
        verifier = verifier or OfflineVerifier(JsonFileVerifierStore(Path(folder) / VERIFIER_FILE))
        runtime = cls(app, lang, store, transport, engine, network, bus, context, verifier)
        runtime.data_folder = Path(folder)
        context.db.submit(
            lambda _store: engine.status(), on_success=network.relay_status, label="first-status"
        )
        return runtime

    # -- widgets the apps reuse ------------------------------------------------------------------

    @property
    def staff(self) -> Staff | None:
        """Who is signed in: this run's login, else the session kept in the local store."""
        if self.current is not None:
            return self.current.staff
        session = self.store.session()
        return session.staff if session is not None else None

    @property
    def campus_id(self) -> str | None:
        """The campus chosen at login, else the signed-in staff member's own campus."""
        if self.current is not None:
            return self.current.campus_id or self.current.staff.campus_id
        session = self.store.session()
        if session is None:
            return None
        return session.campus_id or session.staff.campus_id

    def status_bar(self, parent: QWidget | None = None) -> SyncStatusBar:
        """A status bar bound to this runtime's network thread and bus (errors show in it)."""
        bar = SyncStatusBar(parent, lang=self.lang, context=self.context)
        bar.bind_network(self.network)
        bar.bind_bus(self.bus)
        show_update_notice(bar)
        return bar

    def campuses(self) -> list[tuple[str, str]]:
        """Campuses known locally as (id, name); called by the login dialog on a worker thread."""
        return [(campus.id, campus.name) for campus in self.store.all(Campus)]

    def ask_login(self, parent: QWidget | None = None, *, username: str = "") -> LoginResult | None:
        """The login dialog (online, offline fallback); remembers who logged in in ``current``."""
        previous = self.current
        result = LoginDialog.ask(
            parent,
            login=self.engine.login,
            setup=self.engine.setup_login,
            verifier=self.verifier,
            campuses=self.campuses,
            lang=self.lang,
            username=username or (previous.staff.username if previous else ""),
            campus_id=previous.campus_id if previous else None,
        )
        if result is not None:
            self.current = result
            self.network.wake()
        return result

    def ask_unlock(self, parent: QWidget | None = None) -> LoginResult | None:
        """The lock screen for the current user; None means 'switch user'."""
        if self.current is None:
            return self.ask_login(parent)
        staff = self.current.staff
        return LoginDialog.ask(
            parent,
            login=self.engine.login,
            verifier=self.verifier,
            lang=self.lang,
            mode=LoginMode.UNLOCK,
            username=staff.username,
            display_name=staff.name,
            campus_id=self.current.campus_id,
        )

    def idle_lock(self, window: QWidget, *, minutes: float = 10.0) -> IdleLock:
        """Lock ``window`` after ``minutes`` without input; unlock with the current user's password.

        Connect ``sig_sign_out_requested`` ('switch user' on the lock screen) to the app's sign-out,
        which calls ``sign_out``, then ``ask_login``, then ``lock.release()``.
        """
        lock = IdleLock(
            timeout_minutes=minutes, window=window, unlock=self.ask_unlock, lang=self.lang, parent=window
        )
        lock.start()
        return lock

    # -- lifecycle -------------------------------------------------------------------------------

    def start_sync(self) -> None:
        """Start the sync engine on the network thread (after a login, or at start with a saved token)."""
        if not self.network.is_running():
            self.network.start_engine(self.engine)

    def sign_out(self, on_done: Callable[[], None] | None = None) -> BackgroundCall:
        """Push what can be pushed, revoke the token and forget the session, off the GUI thread."""
        self.current = None
        return BackgroundCall(
            self.engine.logout,
            on_success=lambda _none: on_done() if on_done else None,
            on_failure=self.bus.report_error,
            label="logout",
        ).start()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the network and database threads, then close the transport and the store."""
        if self._closed:
            return
        self._closed = True
        self.network.stop(timeout)
        self.context.db.stop(timeout * 2)
        if OpContext.current_or_none() is self.context:
            OpContext.uninstall()
        self.transport.close()
        self.store.close()


class _UpdateNotice(QObject):
    """Carries the start-up update check's message from its worker thread to the status bar."""

    sig_update_available = Signal(str)


def show_update_notice(bar: QStatusBar) -> QLabel:
    """A permanent, hidden label in ``bar`` that shows the start-up update check's message when a newer
    verified release exists (``shared.update.startup``); the sync widgets stay visible."""
    from shared.update.startup import on_update_available

    label = QLabel(bar)
    label.setObjectName("update-available")
    label.setProperty("role", "info")
    label.hide()
    bar.addPermanentWidget(label)
    relay = _UpdateNotice(bar)

    def show(text: str) -> None:
        label.setText(text)
        label.show()

    relay.sig_update_available.connect(show)
    on_update_available(lambda result: relay.sig_update_available.emit(result.message))
    return label
