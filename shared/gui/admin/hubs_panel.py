"""The clinic hubs (``/admin/hubs``): list them (name, campus, last seen, last relay, revoked), enrol one
(the server lets only the security administrator; the credential is shown once, in a copyable field with
a warning) and revoke one after a confirmation. The server decides who may do what; this screen shows
its answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from shared.gui import theme
from shared.gui.admin.audit_panel import local_time
from shared.gui.admin.calls import call, error_text
from shared.gui.admin.client import AdminClient
from shared.gui.admin.list_panel import ask_yes
from shared.gui.admin.texts import t
from shared.gui.widgets import Column, MessageLine, RowsModel, table_view


def ask_confirm(parent: QWidget | None, text: str) -> bool:
    return ask_yes(parent, " ", text)


class HubsPanel(QWidget):
    ask_confirm: Callable[[QWidget | None, str], bool] = staticmethod(ask_confirm)
    sig_audit_requested = Signal(str)  # a hub's id: show what it relayed and read

    def __init__(self, client: AdminClient, lang: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.lang = lang
        never = t("hubs.never", lang)

        def when(key: str) -> Callable[[dict[str, Any]], str]:
            return lambda h: local_time(h[key]) if h.get(key) else never

        def muted(key: str) -> Callable[[dict[str, Any]], str | None]:
            return lambda h: None if h.get(key) else theme.MUTED

        self.model: RowsModel[dict[str, Any]] = RowsModel(
            [
                Column(t("hubs.name", lang), lambda h: str(h["name"])),
                Column(
                    t("hubs.campus", lang), lambda h: str(h.get("campus_code") or h.get("campus_id") or "")
                ),
                Column(t("hubs.last_seen", lang), when("last_seen_at"), colour=muted("last_seen_at")),
                Column(t("hubs.last_relay", lang), when("last_relay_at"), colour=muted("last_relay_at")),
                Column(
                    t("hubs.status", lang),
                    lambda h: (
                        t("hubs.revoked_at", lang, at=local_time(h["revoked_at"]))
                        if h.get("revoked_at")
                        else t("hubs.active", lang)
                    ),
                    colour=lambda h: theme.ERROR if h.get("revoked_at") else None,
                ),
                Column(t("hubs.created", lang), when("created_at")),
                Column(t("hubs.id", lang), lambda h: str(h["id"])),
            ]
        )
        self.view = table_view(self.model, stretch=0)
        self.count = QLabel()
        self.refresh_button = QPushButton(t("hubs.refresh", lang))
        self.revoke_button = QPushButton(t("hubs.revoke", lang))
        self.audit_button = QPushButton(t("hubs.audit", lang))
        self.audit_button.setVisible(False)  # shown by the window when this user may read the audit log
        top = QHBoxLayout()
        top.addWidget(self.count, 1)
        top.addWidget(self.audit_button)
        top.addWidget(self.revoke_button)
        top.addWidget(self.refresh_button)

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText(t("hubs.name_hint", lang))
        self.campus_edit = QLineEdit()
        self.campus_edit.setPlaceholderText(t("hubs.campus_hint", lang))
        self.campus_edit.setMaximumWidth(200)
        self.enrol_button = QPushButton(t("hubs.enrol", lang))
        enrol = QHBoxLayout()
        enrol.addWidget(QLabel(t("hubs.name", lang)))
        enrol.addWidget(self.name_edit, 2)
        enrol.addWidget(QLabel(t("hubs.campus", lang)))
        enrol.addWidget(self.campus_edit, 1)
        enrol.addWidget(self.enrol_button)

        # The credential, once: a read-only field to copy from, with what to do with it.
        self.credential_box = QFrame()
        self.credential_box.setFrameShape(QFrame.Shape.StyledPanel)
        self.credential_warning = QLabel(t("hubs.credential_warning", lang))
        self.credential_warning.setWordWrap(True)
        self.credential_warning.setProperty("role", "error")
        self.credential_edit = QLineEdit()
        self.credential_edit.setReadOnly(True)
        self.credential_edit.setStyleSheet("font-family: monospace;")
        self.copy_button = QPushButton(t("hubs.copy", lang))
        self.done_button = QPushButton(t("hubs.done", lang))
        row = QHBoxLayout()
        row.addWidget(QLabel(t("hubs.credential", lang)))
        row.addWidget(self.credential_edit, 1)
        row.addWidget(self.copy_button)
        row.addWidget(self.done_button)
        box = QVBoxLayout(self.credential_box)
        box.addWidget(self.credential_warning)
        box.addLayout(row)
        self.credential_box.setVisible(False)

        self.message = MessageLine()
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addLayout(enrol)
        layout.addWidget(self.credential_box)
        layout.addWidget(self.message)
        self.refresh_button.clicked.connect(self.refresh)
        self.enrol_button.clicked.connect(self.enrol)
        self.revoke_button.clicked.connect(self.revoke)
        self.audit_button.clicked.connect(self._audit)
        self.copy_button.clicked.connect(self.copy_credential)
        self.done_button.clicked.connect(self.hide_credential)

    # -- listing --------------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.refresh_button.setEnabled(False)
        call(self, self.client.hubs, self._shown, self._failed, "admin-hubs")

    def _shown(self, hubs: list[dict[str, Any]]) -> None:
        self.refresh_button.setEnabled(True)
        self.model.set_rows(sorted(hubs, key=lambda h: (bool(h.get("revoked_at")), h.get("name") or "")))
        self.count.setText(t("hubs.count", self.lang, count=len(hubs)))

    def _failed(self, error: BaseException) -> None:
        for button in (self.refresh_button, self.enrol_button, self.revoke_button):
            button.setEnabled(True)
        self.message.show_message(error_text(error), "error")

    def selected(self) -> dict[str, Any] | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.row(rows[0].row()) if rows else None

    # -- enrol ----------------------------------------------------------------------------------------
    def enrol(self) -> None:
        name, campus = self.name_edit.text().strip(), self.campus_edit.text().strip()
        if not name or not campus:
            self.message.show_message(t("hubs.fill", self.lang), "error")
            return
        self.hide_credential()
        self.enrol_button.setEnabled(False)
        call(
            self, lambda: self.client.enrol_hub(name, campus), self._enrolled, self._failed, "admin-hub-enrol"
        )

    def _enrolled(self, hub: dict[str, Any]) -> None:
        self.enrol_button.setEnabled(True)
        self.name_edit.clear()
        self.campus_edit.clear()
        self.credential_edit.setText(str(hub["credential"]))
        self.credential_box.setVisible(True)
        self.credential_edit.setFocus()
        self.credential_edit.selectAll()
        self.message.show_message(t("hubs.enrolled", self.lang, name=hub["name"], id=hub["id"]), "ok")
        self.refresh()

    def copy_credential(self) -> None:
        QApplication.clipboard().setText(self.credential_edit.text())
        self.message.show_message(t("hubs.copied", self.lang), "ok")

    def hide_credential(self) -> None:
        """Forget the credential on screen (it is never shown again; the server keeps only its hash)."""
        self.credential_edit.clear()
        self.credential_box.setVisible(False)

    # -- revoke ---------------------------------------------------------------------------------------
    def revoke(self) -> None:
        hub = self.selected()
        if hub is None:
            self.message.show_message(t("select_row", self.lang), "error")
            return
        question = t("hubs.revoke_confirm", self.lang, name=hub["name"], id=hub["id"])
        if not type(self).ask_confirm(self, question):
            return
        self.revoke_button.setEnabled(False)
        call(
            self,
            lambda: self.client.revoke_hub(str(hub["id"])),
            lambda answer: self._revoked(hub, answer),
            self._failed,
            "admin-hub-revoke",
        )

    def _revoked(self, hub: dict[str, Any], answer: dict[str, Any]) -> None:
        self.revoke_button.setEnabled(True)
        key = "hubs.already" if answer.get("already") else "hubs.revoked_done"
        self.message.show_message(t(key, self.lang, name=hub["name"]), "ok")
        self.refresh()

    def _audit(self) -> None:
        hub = self.selected()
        if hub is None:
            self.message.show_message(t("select_row", self.lang), "error")
            return
        self.sig_audit_requested.emit(str(hub["id"]))
