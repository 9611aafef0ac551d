"""The audit log browser (auditor and admin): filter by who, what, target, PC, clinic hub and time, page back through
older entries, export the matching entries as CSV. Read-only by design: the server offers no way to
change or delete an entry, and this screen has none either."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from shared import clinic_time
from shared.gui import theme
from shared.gui.admin.calls import call, error_text
from shared.gui.admin.client import AdminClient, AuditQuery
from shared.gui.admin.texts import t
from shared.gui.widgets import Column, MessageLine, RowsModel, table_view

PAGE = 200


def parse_local_time(text: str) -> dt.datetime | None:
    """``2026-12-06``, ``2026-12-06 08:30`` (this PC's local time) -> an aware datetime; '' -> None;
    anything else raises ``ValueError``."""
    text = text.strip()
    if not text:
        return None
    value = dt.datetime.fromisoformat(text.replace("/", "-"))
    return clinic_time.aware(value)


def local_time(iso: str) -> str:
    return clinic_time.local(dt.datetime.fromisoformat(iso)).strftime("%Y-%m-%d %H:%M:%S")


def ask_save_file(parent: QWidget | None, title: str, suggested: str) -> Path | None:
    name, _ = QFileDialog.getSaveFileName(parent, title, suggested, "CSV (*.csv)")
    return Path(name) if name else None


def _detail(entry: dict[str, Any]) -> str:
    detail = entry.get("detail")
    if isinstance(detail, dict):
        # a mutation's result (what it changed: kind, code, version) before its bookkeeping
        first = {"result": detail["result"]} if "result" in detail else {}
        rest = {k: v for k, v in sorted(detail.items()) if k != "result"}
        return json.dumps({**first, **rest}, ensure_ascii=False)
    return str(detail or "")


class AuditPanel(QWidget):
    ask_save_file: Callable[[QWidget | None, str, str], Path | None] = staticmethod(ask_save_file)

    def __init__(self, client: AdminClient, lang: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.lang = lang
        self.entries: list[dict[str, Any]] = []
        self.next_before: int | None = None
        self.query = AuditQuery()
        self.busy = False
        self._generation = 0  # each search is a new generation; answers of older ones are dropped
        self.username = QLineEdit()
        self.action = QLineEdit()
        self.action.setPlaceholderText("reference.  /  auth.login")
        self.target = QLineEdit()
        self.device = QLineEdit()
        self.hub = QLineEdit()  # a clinic hub's id: what it relayed and read
        self.since = QLineEdit()
        self.until = QLineEdit()
        for box in (self.since, self.until):
            box.setPlaceholderText("2026-12-06 08:30")
        self.search_button = QPushButton(t("audit.search", lang))
        self.more_button = QPushButton(t("audit.more", lang))
        self.more_button.setEnabled(False)
        self.export_button = QPushButton(t("audit.export", lang))
        self.count = QLabel()
        notice = QLabel(t("audit.readonly", lang))
        notice.setStyleSheet(f"color: {theme.MUTED};")
        self.message = MessageLine()
        self.model: RowsModel[dict[str, Any]] = RowsModel(
            [
                Column(t("audit.col.id", lang), lambda e: str(e["id"]), align_right=True),
                Column(t("audit.col.at", lang), lambda e: local_time(e["at"])),
                Column(t("audit.username", lang), lambda e: e.get("username") or ""),
                Column(t("audit.device", lang), lambda e: e.get("device_id") or ""),
                Column(t("audit.col.action", lang), lambda e: e["action"]),
                Column(t("audit.col.target", lang), lambda e: e.get("target") or ""),
                Column(
                    t("audit.col.outcome", lang),
                    lambda e: e["outcome"],
                    colour=lambda e: (
                        theme.ERROR if e["outcome"] not in ("applied", "ok", "success") else None
                    ),
                ),  # fmt: skip
                Column(t("detail", lang), _detail),
            ]
        )
        self.view = table_view(self.model, stretch=7)
        grid = QGridLayout()
        fields = [
            ("audit.username", self.username),
            ("audit.action", self.action),
            ("audit.target", self.target),
            ("audit.device", self.device),
            ("audit.hub", self.hub),
            ("audit.since", self.since),
            ("audit.until", self.until),
        ]
        for i, (key, box) in enumerate(fields):
            grid.addWidget(QLabel(t(key, lang)), i // 4, (i % 4) * 2)
            grid.addWidget(box, i // 4, (i % 4) * 2 + 1)
        actions = QHBoxLayout()
        actions.addWidget(notice, 1)
        actions.addWidget(self.search_button)
        actions.addWidget(self.export_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.message, 1)
        bottom.addWidget(self.count)
        bottom.addWidget(self.more_button)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(actions)
        layout.addWidget(self.view, 1)
        layout.addLayout(bottom)
        self.search_button.clicked.connect(self.search)
        self.more_button.clicked.connect(self.more)
        self.export_button.clicked.connect(self.export)
        for box in (self.username, self.action, self.target, self.device, self.hub, self.since, self.until):
            box.returnPressed.connect(self.search)

    def _read_query(self) -> AuditQuery | None:
        try:
            since = parse_local_time(self.since.text())
            until = parse_local_time(self.until.text())
        except ValueError:
            self.message.show_message(t("audit.bad_time", self.lang), "error")
            return None
        return AuditQuery(
            username=self.username.text().strip(),
            action=self.action.text().strip(),
            target=self.target.text().strip(),
            device_id=self.device.text().strip(),
            hub_id=self.hub.text().strip(),
            since=since.isoformat() if since else "",
            until=until.isoformat() if until else "",
        )

    def show_filtered(self, **filters: str) -> None:
        """Set the filters given (``action``, ``target``, ``username``, ``device``, ``hub``), clear the
        others, search."""
        boxes = {
            "username": self.username,
            "action": self.action,
            "target": self.target,
            "device": self.device,
            "hub": self.hub,
        }
        for name, box in [*boxes.items(), ("since", self.since), ("until", self.until)]:
            box.setText(filters.get(name, ""))
            box.setCursorPosition(0)  # a long id shows its start
        self.search()

    def search(self) -> None:
        query = self._read_query()
        if query is None:
            return
        self.query = query
        self.entries = []
        self.model.set_rows([])  # the old answer's rows never stand for the new search's
        self._generation += 1
        self.busy = False  # a search still on its way is superseded: its answer is dropped
        self._fetch(None)

    def more(self) -> None:
        if self.next_before is not None:
            self._fetch(self.next_before)

    def _fetch(self, before: int | None) -> None:
        if self.busy:
            return
        self.busy = True
        query = self.query
        generation = self._generation
        call(
            self,
            lambda: self.client.audit_page(query, before=before, limit=PAGE),
            lambda answer: self._page(answer, generation),
            lambda error: self._failed(error, generation),
            "audit-page",
        )

    def _page(self, answer: dict[str, Any], generation: int) -> None:
        if generation != self._generation:
            return  # the answer to a search the user has since replaced
        self.busy = False
        self.entries.extend(answer["entries"])
        self.next_before = answer["next_before"]
        self.model.set_rows(self.entries)
        self.more_button.setEnabled(self.next_before is not None)
        self.count.setText(t("audit.count", self.lang, count=len(self.entries)))

    def _failed(self, error: BaseException, generation: int | None = None) -> None:
        if generation is not None and generation != self._generation:
            return
        self.busy = False
        self.message.show_message(error_text(error), "error")

    def export(self) -> None:
        query = self._read_query()
        if query is None:
            return
        suggested = f"audit-{clinic_time.now():%Y%m%d-%H%M}.csv"
        target = type(self).ask_save_file(self, t("audit.export", self.lang), suggested)
        if target is None:
            return
        call(
            self,
            lambda: self.client.export_audit(query, target),
            lambda path: self.message.show_message(t("audit.exported", self.lang, path=path), "ok"),
            self._failed,
            "audit-export",
        )
