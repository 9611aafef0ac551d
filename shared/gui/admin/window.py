"""The administration window: reference data, staff, import, audit log, PCs and clinic hubs in tabs,
chosen by the signed-in role (三员分立): the system administrator (``admin``) gets every tab, the security
administrator the staff tab (credentials only) and the clinic hubs (which only it may enrol), the auditor
only the audit log."""

from __future__ import annotations

import functools
from typing import Any

from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMainWindow, QTabWidget, QVBoxLayout, QWidget

from shared.domain.entities import Staff
from shared.gui import theme
from shared.gui.admin.audit_panel import AuditPanel
from shared.gui.admin.client import AdminClient
from shared.gui.admin.clients_panel import ClientsPanel
from shared.gui.admin.code_sets_panel import CodeSetsPanel
from shared.gui.admin.hubs_panel import HubsPanel
from shared.gui.admin.import_panel import ImportPanel
from shared.gui.admin.pharmacy_panel import PharmacyPanel
from shared.gui.admin.price_panel import PricePanel
from shared.gui.admin.queue_panel import QueuePanel
from shared.gui.admin.reference_panel import ReferencePanel
from shared.gui.admin.rx_rules_panel import RxRulesPanel
from shared.gui.admin.settings_texts import s
from shared.gui.admin.staff_panel import StaffClient, StaffPanel
from shared.gui.admin.staff_panel import s as staff_text
from shared.gui.admin.texts import t
from shared.gui.ops import QueryOp


class AdminWindow(QMainWindow):
    def __init__(self, runtime: Any, lang: str) -> None:
        super().__init__()
        self.runtime = runtime
        self.lang = lang
        self.client = AdminClient(runtime.transport)
        self.setWindowTitle(t("title", lang))
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 6, 8, 4)
        top = QHBoxLayout()
        self.title_label = QLabel(t("title", lang))
        self.title_label.setProperty("role", "title")
        top.addWidget(self.title_label)
        top.addStretch(1)
        self.role_note = QLabel()
        self.role_note.setStyleSheet(f"color: {theme.MUTED};")
        top.addWidget(self.role_note)
        layout.addLayout(top)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.setStatusBar(runtime.status_bar(self))
        self.reference = ReferencePanel(runtime.bus, lang)
        self.queues = QueuePanel(runtime.bus, lang)
        self.pharmacies = PharmacyPanel(runtime.bus, lang)
        self.imports = ImportPanel(self.client, lang)
        self.audit = AuditPanel(self.client, lang)
        self.clients = ClientsPanel(self.client, lang)
        self.staff = StaffPanel(StaffClient(runtime.transport), runtime.bus, lang)
        self.code_sets = CodeSetsPanel(runtime.bus, lang)
        self.prices = PricePanel(runtime.bus, lang)
        self.rx_rules = RxRulesPanel(runtime.bus, lang)
        self.hubs = HubsPanel(self.client, lang)
        self.hubs.sig_audit_requested.connect(self.show_hub_audit)
        for panel in (self.reference, self.queues, self.pharmacies):
            panel.sig_history_requested.connect(self.show_history)
        # Every panel belongs to the window, shown in a tab or not (the auditor's and the security
        # administrator's windows show one): Qt then deletes each table before its model. A panel left
        # without a parent was Python's to free, and a collection that freed a model before its view crashed.
        self._unshown = QWidget(self)
        self._unshown.hide()
        for page in self.panels():
            page.setParent(self._unshown)
        for number in range(10):
            QShortcut(QKeySequence(f"Ctrl+{number + 1}"), self).activated.connect(
                functools.partial(self.tabs.setCurrentIndex, number)
            )
        self.resize(1366, 768)

    def panels(self) -> tuple[QWidget, ...]:
        return (
            self.reference,
            self.staff,
            self.prices,
            self.rx_rules,
            self.code_sets,
            self.queues,
            self.pharmacies,
            self.imports,
            self.audit,
            self.clients,
            self.hubs,
        )

    @property
    def roles(self) -> frozenset[str]:
        staff: Staff | None = self.runtime.staff
        return frozenset(staff.roles) if staff else frozenset()

    def start(self) -> None:
        """After a login: the tabs this user's role may use, then their data."""
        staff: Staff | None = self.runtime.staff
        self.setWindowTitle(f"{t('title', self.lang)} - {staff.name}" if staff else t("title", self.lang))
        self.tabs.clear()
        admin = "admin" in self.roles
        # staff: the records for the system administrator, the credentials for the security administrator
        staff_tab = admin or "security_admin" in self.roles
        if admin:
            self.tabs.addTab(self.reference, t("tab.reference", self.lang))
        if staff_tab:
            self.staff.set_roles(self.roles)
            self.tabs.addTab(self.staff, staff_text("tab", self.lang))
        if admin:
            self.tabs.addTab(self.prices, t("tab.prices", self.lang))
            self.tabs.addTab(self.rx_rules, t("tab.rx_rules", self.lang))
            self.tabs.addTab(self.code_sets, t("tab.code_sets", self.lang))
            self.tabs.addTab(self.queues, s("tab.queues", self.lang))
            self.tabs.addTab(self.pharmacies, s("tab.pharmacies", self.lang))
            self.tabs.addTab(self.imports, t("tab.import", self.lang))
        if admin or "auditor" in self.roles:
            self.tabs.addTab(self.audit, t("tab.audit", self.lang))
        if admin:
            self.tabs.addTab(self.clients, t("tab.clients", self.lang))
        if admin or "security_admin" in self.roles:
            self.tabs.addTab(self.hubs, t("tab.hubs", self.lang))
            self.hubs.audit_button.setVisible(admin)  # the security administrator reads no audit log
            self.hubs.refresh()
        if admin:
            self.role_note.setText("")
        elif "security_admin" in self.roles:
            self.role_note.setText(staff_text("role_note.security", self.lang))
        else:
            self.role_note.setText(t("role.auditor", self.lang))
        if staff_tab:
            self.staff.refresh()
        if admin:
            self.reference.reload()
            self.prices.reload()
            self.rx_rules.reload()
            self.code_sets.reload()
            self.queues.reload()
            self.pharmacies.reload()
            self.clients.refresh()
            QueryOp(
                parent=self,
                op=lambda store: {
                    s.id: f"{s.name} ({s.username})" for s in store.all(Staff, include_voided=True)
                },
                success=self._staff_names,
            ).run_in_background()
        else:
            # no sync engine runs for the auditor: show the login's state, not the start-up one
            engine, network = self.runtime.engine, self.runtime.network
            self.runtime.context.db.submit(
                lambda _store: engine.status(), on_success=network.relay_status, label="admin-status"
            )
        if admin or "auditor" in self.roles:
            self.audit.search()

    def show_history(self, _kind: str, code: str) -> None:
        """The audit log's entries of one reference row's edits (new, changed, retired), newest first."""
        self.audit.show_filtered(action="mutation.reference.", target=code)
        self.tabs.setCurrentWidget(self.audit)

    def show_hub_audit(self, hub_id: str) -> None:
        """The audit log's entries of what one clinic hub relayed and read, and its enrolment."""
        self.audit.show_filtered(hub=hub_id)
        self.tabs.setCurrentWidget(self.audit)

    def _staff_names(self, names: dict[str, str]) -> None:
        self.clients.staff_names = names
        self.clients.model.set_rows(self.clients.model.rows())

    def may_sync(self) -> bool:
        """The auditor reads the audit log online and keeps no copy of the hospital's data."""
        return "admin" in self.roles
