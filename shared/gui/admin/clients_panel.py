"""The PCs that sync with the server and how far each has pushed (``GET /admin/clients``), newest first."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from shared.gui import theme
from shared.gui.admin.audit_panel import local_time
from shared.gui.admin.calls import call, error_text
from shared.gui.admin.client import AdminClient
from shared.gui.admin.texts import t
from shared.gui.widgets import Column, MessageLine, RowsModel, table_view


class ClientsPanel(QWidget):
    def __init__(self, client: AdminClient, lang: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.lang = lang
        self.staff_names: dict[str, str] = {}
        self.refresh_button = QPushButton(t("clients.refresh", lang))
        self.count = QLabel()
        self.message = MessageLine()
        never = t("clients.never", lang)
        self.model: RowsModel[dict[str, Any]] = RowsModel(
            [
                Column(t("clients.device", lang), lambda c: str(c["device_id"])),
                Column(
                    t("clients.staff", lang),
                    lambda c: self.staff_names.get(c.get("staff_id") or "", c.get("staff_id") or ""),
                ),
                Column(t("clients.last_seq", lang), lambda c: str(c.get("last_seq") or 0), align_right=True),
                Column(
                    t("clients.last_push", lang),
                    lambda c: local_time(c["last_push_at"]) if c.get("last_push_at") else never,
                    colour=lambda c: None if c.get("last_push_at") else theme.MUTED,
                ),  # fmt: skip
                Column(t("clients.created", lang), lambda c: local_time(c["created_at"])),
            ]
        )
        self.view = table_view(self.model, stretch=0)
        top = QHBoxLayout()
        top.addWidget(self.count, 1)
        top.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.message)
        self.refresh_button.clicked.connect(self.refresh)

    def refresh(self) -> None:
        self.refresh_button.setEnabled(False)
        call(self, self.client.clients, self._shown, self._failed, "admin-clients")

    def _shown(self, clients: list[dict[str, Any]]) -> None:
        self.refresh_button.setEnabled(True)
        rows = sorted(clients, key=lambda c: c.get("last_push_at") or c.get("created_at") or "", reverse=True)
        self.model.set_rows(rows)
        self.count.setText(t("clients.count", self.lang, count=len(rows)))

    def _failed(self, error: BaseException) -> None:
        self.refresh_button.setEnabled(True)
        self.message.show_message(error_text(error), "error")
