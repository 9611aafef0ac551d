"""The pharmacy desk's main window: pharmacy chooser, the five screens, print-job counter, status bar.

``DeskState`` is what every screen shares: the runtime (ops, bus), language, site configuration, the
pharmacy served, who is logged in, the print queue and the signing-key folder. Screens talk to the
store only through ops and redraw when ``sig_operation_did_execute`` touches what they show.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from pharmacy_desk.payment import PaymentGateway, StubGateway
from pharmacy_desk.queries import pharmacies
from pharmacy_desk.texts import t
from shared import clinic_time
from shared.adapters.sms import FileSmsGateway, SmsGateway
from shared.domain.entities import Pharmacy, Staff
from shared.gui.app import ClientRuntime
from shared.gui.ops import OpChanges, QueryOp
from shared.gui.printers import PrintJobsButton
from shared.gui.printing import PrintQueue, QueuedJob
from shared.gui.widgets import MessageLine
from shared.security.device_keys import DeviceKeys
from shared.security.device_signing import remove_legacy_key_files
from shared.site import SiteConfig
from shared.sync.status import SyncStatus

log = logging.getLogger(__name__)


class DeskState(QObject):
    """Shared by the screens; ``sig_pharmacy_changed`` fires when the pharmacy served changes."""

    sig_pharmacy_changed = Signal(str)
    sig_message = Signal(str, str)  # text, level
    sig_print_recorded = Signal(str, str)  # print record id, desk printer kind

    def __init__(
        self,
        runtime: ClientRuntime,
        *,
        site: SiteConfig,
        data_folder: Path,
        lang: str,
        clock: Callable[[], dt.datetime] | None = None,
        payment_gateway: PaymentGateway | None = None,
        sms_gateway: SmsGateway | None = None,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        # takes the money where the pharmacy wants payment before the pickup code (local stub by default)
        self.payment_gateway: PaymentGateway = payment_gateway or StubGateway()
        # texts the pickup code to the patient (local stub by default: a file of messages)
        self.sms_gateway: SmsGateway = sms_gateway or FileSmsGateway(data_folder / "sms" / "outbox.jsonl")
        self.site = site
        self.lang = lang
        self.data_folder = data_folder
        self._keys: DeviceKeys | None = None  # this PC's signing keys (OS key store), made on first use
        remove_legacy_key_files(data_folder)  # sealed key files of earlier versions: never kept again
        self.print_queue = PrintQueue(
            lambda: self.site,
            data_folder=data_folder,
            spool=data_folder / "print_spool",
            lang=lang,
            context=runtime.context,
            parent=self,
        )
        self.print_queue.sig_print_recorded.connect(self.sig_print_recorded)
        self.pharmacy_id: str = ""
        self.pharmacy_name: str = ""
        self.pharmacy_campus: str = ""
        self._clock = clock or clinic_time.now

    # -- who and where ------------------------------------------------------------------------------

    @property
    def staff(self) -> Staff | None:
        return self.runtime.staff

    @property
    def campus_id(self) -> str | None:
        return self.runtime.campus_id

    @property
    def keys(self) -> DeviceKeys:
        """This install's signing keys (first used on the DB thread: it reads the device id)."""
        if self._keys is None:
            self._keys = DeviceKeys(self.runtime.store.device_id)
        return self._keys

    @keys.setter
    def keys(self, value: DeviceKeys) -> None:
        self._keys = value

    def now(self) -> dt.datetime:
        return self._clock()

    def today(self) -> dt.date:
        return clinic_time.day_of(self.now())

    def set_pharmacy(self, pharmacy: Pharmacy | None) -> None:
        new_id = pharmacy.id if pharmacy else ""
        self.pharmacy_name = pharmacy.name if pharmacy else ""
        self.pharmacy_campus = pharmacy.campus_id if pharmacy else ""
        if new_id != self.pharmacy_id:
            self.pharmacy_id = new_id
            self.sig_pharmacy_changed.emit(new_id)

    def message(self, text: str, level: str = "info") -> None:
        self.sig_message.emit(text, level)

    def print_document(
        self,
        kind: str,
        title: str,
        content: str,
        data: bytes,
        *,
        ref_id: str = "",
        reprint: bool = False,
        on_done: Callable[[QueuedJob], object] | None = None,
    ) -> QueuedJob:
        """Queue a document for its printer; the outcome shows in the message line (failures are kept).

        ``ref_id`` names the printed row: once the job reaches its printer (at once, or by a retry,
        also after a restart from the spool) it is recorded with ``print.record``, ``reprint`` marked."""
        lang = self.lang

        def done(job: QueuedJob) -> None:
            doc = t(f"doc.{job.job.kind}", lang)
            if job.state != "sent":
                self.message(t("print.failed", lang, doc=doc, reason=job.error), "error")
            elif job.record_warning:
                self.message(t("print.not_recorded", lang, reason=job.record_warning), "warning")
            else:
                self.message(t("print.sent", lang, doc=doc, printer=job.where), "ok")
            if on_done is not None:
                on_done(job)

        return self.print_queue.print(
            kind,
            title,
            content,  # type: ignore[arg-type]
            data,
            ref_id=ref_id,
            reprint=reprint,
            on_done=done,
        )


class PharmacyWindow(QMainWindow):
    """Review, dispensing, refunds and delivery, stock, printers; one tab each, Ctrl+1…5 to switch."""

    def __init__(self, state: DeskState) -> None:
        super().__init__()
        self.op_context = state.runtime.context  # ops of this window's screens run on this app's context
        from pharmacy_desk.printer_settings import test_page
        from pharmacy_desk.screens.dispense import DispenseScreen
        from pharmacy_desk.screens.returns import ReturnsScreen
        from pharmacy_desk.screens.review import ReviewScreen
        from pharmacy_desk.screens.stock import StockScreen
        from shared.gui.printers import PrintersScreen

        self.state = state
        lang = state.lang
        self.setWindowTitle(t("app.title", lang))
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 6, 8, 4)

        top = QHBoxLayout()
        self.title_label = QLabel(t("app.title", lang))
        self.title_label.setProperty("role", "title")
        top.addWidget(self.title_label)
        top.addStretch(1)
        self.jobs_button = PrintJobsButton(state.print_queue, lang)
        top.addWidget(self.jobs_button)
        pharmacy_label = QLabel(t("app.pharmacy", lang))
        self.pharmacy_combo = QComboBox()
        self.pharmacy_combo.setMinimumWidth(220)
        pharmacy_label.setBuddy(self.pharmacy_combo)
        top.addWidget(pharmacy_label)
        top.addWidget(self.pharmacy_combo)
        layout.addLayout(top)

        self.message_line = MessageLine(single_line=True)
        layout.addWidget(self.message_line)

        self.tabs = QTabWidget()
        self.review = ReviewScreen(state)
        self.dispense = DispenseScreen(state)
        self.returns = ReturnsScreen(state)
        self.stock = StockScreen(state)
        self.printers = PrintersScreen(state, "pharmacy", test_page=test_page)
        for screen, key in (
            (self.review, "tab.review"),
            (self.dispense, "tab.dispense"),
            (self.returns, "tab.returns"),
            (self.stock, "tab.stock"),
            (self.printers, "tab.printers"),
        ):
            self.tabs.addTab(screen, t(key, lang))
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.setStatusBar(state.runtime.status_bar(self))

        for number in range(5):
            shortcut = QShortcut(QKeySequence(f"Ctrl+{number + 1}"), self)
            shortcut.activated.connect(lambda n=number: self.tabs.setCurrentIndex(n))

        state.sig_message.connect(self.message_line.show_message)
        self.pharmacy_combo.currentIndexChanged.connect(self._pharmacy_chosen)
        self.review.sig_open_for_dispensing.connect(self.open_for_dispensing)
        state.runtime.bus.sig_operation_did_execute.connect(self._changed)
        state.runtime.network.sig_status_changed.connect(self._sync_status)
        self._pharmacies_tried_at: dt.datetime | None = None
        self._downloading = False
        self._pharmacies: list[Pharmacy] = []
        self.resize(1366, 768)

    # -- pharmacy ------------------------------------------------------------------------------------

    def load_pharmacies(self) -> None:
        """Fill the pharmacy chooser (after login, after a new PC's first download, when a pharmacy
        changes); the pharmacy chosen stays, else the site's pharmacy code is chosen when present."""
        campus = self.state.campus_id

        def loaded(found: list[Pharmacy]) -> None:
            self._pharmacies = found
            self.pharmacy_combo.blockSignals(True)
            self.pharmacy_combo.clear()
            for pharmacy in found:
                self.pharmacy_combo.addItem(pharmacy.name, pharmacy.id)
            wanted = next((i for i, p in enumerate(found) if p.id == self.state.pharmacy_id), None)
            if wanted is None:
                wanted = next((i for i, p in enumerate(found) if p.code == self.state.site.pharmacy), 0)
            self.pharmacy_combo.setCurrentIndex(wanted if found else -1)
            self.pharmacy_combo.blockSignals(False)
            self._pharmacy_chosen(self.pharmacy_combo.currentIndex())

        QueryOp(parent=self, op=lambda store: pharmacies(store, campus), success=loaded).run_in_background()

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.touches("pharmacy") and self.state.pharmacy_id:
            self.load_pharmacies()  # a name changed: the choice stays

    def _sync_status(self, status: SyncStatus) -> None:
        """A new PC has no pharmacies until its first download ends: choose one then (not during the
        download, whose prescriptions would otherwise be announced as new arrivals)."""
        if status.bootstrap_progress is not None:
            self._downloading = True
            return
        if self.state.pharmacy_id or self.state.staff is None:
            return
        just_downloaded, self._downloading = self._downloading, False
        if just_downloaded or (
            status.last_sync is not None and status.last_sync != self._pharmacies_tried_at
        ):
            self._pharmacies_tried_at = status.last_sync
            self.load_pharmacies()

    def _pharmacy_chosen(self, index: int) -> None:
        pharmacy = self._pharmacies[index] if 0 <= index < len(self._pharmacies) else None
        self.state.set_pharmacy(pharmacy)
        staff = self.state.staff
        self.setWindowTitle(
            t(
                "app.title_with",
                self.state.lang,
                pharmacy=pharmacy.name if pharmacy else t("app.no_pharmacy", self.state.lang),
                user=staff.name if staff else "",
            )
        )

    def open_for_dispensing(self, query: str) -> None:
        self.tabs.setCurrentWidget(self.dispense)
        self.dispense.search(query)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().closeEvent(event)
        app = QApplication.instance()
        if app is not None:
            app.processEvents()
