"""Run an import with its preview: choose the HIS export and its column mapping, let the server plan it
(added, changed, retired, refused with row and reason), then apply that plan in one audited batch. The
server does both with ``clinic import``'s code; this screen only sends the file and shows the answer. The
prescription rule table (``rx_rules``, a .json file) takes no mapping but a moment it applies from; its
preview lists each changed field (``ordinary.max_days`` 7 → 5)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from shared.gui import theme
from shared.gui.admin.calls import call, error_text
from shared.gui.admin.client import AdminClient
from shared.gui.admin.dated import EffectiveFrom, local_time
from shared.gui.admin.staff_panel import s as staff_text
from shared.gui.admin.texts import IMPORT_KIND_ORDER, kind_label, t
from shared.gui.widgets import Column, MessageLine, RowsModel, table_view

RX_RULES = "rx_rules"
SECTION_COLOURS = {"added": theme.OK, "changed": theme.BUSY, "retired": theme.WARN, "refused": theme.ERROR}


def ask_open_file(parent: QWidget | None, title: str, filters: str) -> Path | None:
    name, _ = QFileDialog.getOpenFileName(parent, title, "", filters)
    return Path(name) if name else None


def ask_confirm(parent: QWidget | None, text: str) -> bool:
    answer = QMessageBox.question(parent, t("import.apply", _lang(parent)), text)
    return answer == QMessageBox.StandardButton.Yes


def _lang(widget: QWidget | None) -> str:
    return str(getattr(widget, "lang", "zh_CN"))


class ImportPanel(QWidget):
    """Kind, file, mapping, "retire codes the file lacks"; Preview, then Apply the previewed plan."""

    ask_open_file: Callable[[QWidget | None, str, str], Path | None] = staticmethod(ask_open_file)
    ask_confirm: Callable[[QWidget | None, str], bool] = staticmethod(ask_confirm)

    def __init__(self, client: AdminClient, lang: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.lang = lang
        self.file: Path | None = None
        self.mapping: Path | None = None
        self.plan: dict[str, Any] | None = None
        self._previewed: tuple[Any, ...] | None = None  # the inputs the shown plan was made from
        self.busy = False
        self.kind_box = QComboBox()
        for kind in IMPORT_KIND_ORDER:
            self.kind_box.addItem(kind_label(kind, lang), kind)
        self.kind_box.addItem(staff_text("tab", lang), "staff")  # new people's setup codes come back once
        self.kind_box.addItem(t("tab.rx_rules", lang), RX_RULES)  # one JSON table, a dated version
        self.when = EffectiveFrom(lang)
        self.when_label = QLabel(t("import.effective", lang))
        self.file_label = QLabel(t("import.none", lang))
        self.mapping_label = QLabel(t("import.none", lang))
        choose_file = QPushButton(t("import.choose", lang))
        choose_mapping = QPushButton(t("import.choose", lang))
        self.mapping_title = QLabel(t("import.mapping", lang))
        self.choose_mapping = choose_mapping
        self.retire_missing = QCheckBox(t("import.retire_missing", lang))
        self.preview_button = QPushButton(t("import.preview", lang))
        self.apply_button = QPushButton(t("import.apply", lang))
        self.apply_button.setEnabled(False)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("font-weight: 600;")
        self.message = MessageLine()
        self.model: RowsModel[dict[str, str]] = RowsModel(
            [
                Column(
                    t("section", lang),
                    lambda r: t(f"section.{r['section']}", lang),
                    colour=lambda r: SECTION_COLOURS.get(r["section"]),
                ),  # fmt: skip
                Column(t("row", lang), lambda r: r["row"], align_right=True),
                Column(t("code", lang), lambda r: r["code"]),
                Column(t("detail", lang), lambda r: r["detail"]),
            ]
        )
        self.view = table_view(self.model, stretch=3)
        grid = QGridLayout()
        grid.addWidget(QLabel(t("kind", lang)), 0, 0)
        kind_row = QHBoxLayout()
        kind_row.addWidget(self.kind_box)
        kind_row.addStretch(1)
        grid.addLayout(kind_row, 0, 1)
        grid.addWidget(QLabel(t("import.file", lang)), 1, 0)
        grid.addWidget(self.file_label, 1, 1)
        grid.addWidget(choose_file, 1, 2)
        grid.addWidget(self.mapping_title, 2, 0)
        grid.addWidget(self.mapping_label, 2, 1)
        grid.addWidget(choose_mapping, 2, 2)
        grid.addWidget(self.when_label, 3, 0)
        grid.addWidget(self.when, 3, 1)
        grid.setColumnStretch(1, 1)
        actions = QHBoxLayout()
        actions.addWidget(self.retire_missing)
        actions.addStretch(1)
        actions.addWidget(self.preview_button)
        actions.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(actions)
        layout.addWidget(self.summary)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.message)
        choose_file.clicked.connect(self._choose_file)
        choose_mapping.clicked.connect(self._choose_mapping)
        self.preview_button.clicked.connect(self.preview)
        self.apply_button.clicked.connect(self.apply)
        self.kind_box.currentIndexChanged.connect(lambda _i: self._kind_changed())
        self.retire_missing.toggled.connect(lambda _on: self._inputs_changed())
        self.when.immediately.toggled.connect(lambda _on: self._inputs_changed())
        self.when.effective.dateTimeChanged.connect(lambda _at: self._inputs_changed())
        self._kind_changed()

    @property
    def kind(self) -> str:
        return str(self.kind_box.currentData())

    def set_kind(self, kind: str) -> None:
        self.kind_box.setCurrentIndex(self.kind_box.findData(kind))

    def _kind_changed(self) -> None:
        """A rule table has no columns to map nor codes to retire, but a moment it applies from."""
        rules = self.kind == RX_RULES
        for widget in (self.mapping_title, self.mapping_label, self.choose_mapping, self.retire_missing):
            widget.setVisible(not rules)
        self.when_label.setVisible(rules)
        self.when.setVisible(rules)
        self._inputs_changed()

    def set_file(self, path: Path | None) -> None:
        self.file = path
        self.file_label.setText(str(path) if path else t("import.none", self.lang))
        self._inputs_changed()

    def set_mapping(self, path: Path | None) -> None:
        self.mapping = path
        self.mapping_label.setText(str(path) if path else t("import.none", self.lang))
        self._inputs_changed()

    def _choose_file(self) -> None:
        filters = "JSON (*.json)" if self.kind == RX_RULES else "CSV / Excel (*.csv *.txt *.xlsx *.xls *.ods)"
        path = type(self).ask_open_file(self, t("import.file", self.lang), filters)
        if path is not None:
            self.set_file(path)

    def _choose_mapping(self) -> None:
        path = type(self).ask_open_file(self, t("import.mapping", self.lang), "TOML (*.toml)")
        self.set_mapping(path)

    def _inputs(self) -> tuple[Any, ...]:
        if self.kind == RX_RULES:
            return (self.kind, self.file, None, False, self.when.moment())
        return (self.kind, self.file, self.mapping, self.retire_missing.isChecked(), None)

    def _inputs_changed(self) -> None:
        if self._previewed is None or self.busy:
            return
        same = self._previewed == self._inputs()
        self.apply_button.setEnabled(same)
        if same:
            self.message.clear()
        else:
            self.message.show_message(t("import.changed_file", self.lang), "info")

    def _summary_text(self, plan: dict[str, Any]) -> str:
        if plan.get("kind") == RX_RULES:
            at = dt.datetime.fromisoformat(plan["effective_from"])
            when = t("dated.when_at", self.lang, at=local_time(at))
            return t("import.rx_summary", self.lang, changed=plan["summary"]["changed"], when=when)
        return t("import.summary", self.lang, **plan["summary"])

    def preview(self) -> None:
        self._run(dry_run=True)

    def apply(self) -> None:
        if self.plan is None or self._previewed != self._inputs():
            return
        if not type(self).ask_confirm(
            self, t("import.confirm", self.lang, summary=self._summary_text(self.plan))
        ):
            return
        self._run(dry_run=False)

    def _run(self, *, dry_run: bool) -> None:
        if self.file is None:
            self.message.show_message(t("import.no_file", self.lang), "warning")
            return
        if self.busy:
            return
        inputs = self._inputs()
        kind, path, mapping, retire, effective = inputs
        self.busy = True
        self.preview_button.setEnabled(False)
        self.apply_button.setEnabled(False)
        self.message.show_message(t("import.working", self.lang), "info")

        def work() -> dict[str, Any]:
            try:
                return self.client.run_import(
                    kind,
                    path,
                    mapping=mapping,
                    dry_run=dry_run,
                    retire_missing=retire,
                    effective_from=effective,
                )
            except OSError as error:  # the chosen file vanished or is locked by Excel
                from shared.errors import ValidationFailed

                raise ValidationFailed(
                    t("import.unreadable", self.lang, name=path.name, error=error)
                ) from error

        call(self, work, lambda plan: self._answered(plan, inputs), self._failed, "admin-import")

    def _answered(self, plan: dict[str, Any], inputs: tuple[Any, ...]) -> None:
        self.busy = False
        self.preview_button.setEnabled(True)
        self.plan = plan
        rows = [
            {
                "section": section,
                "row": str(item["row"]),
                "code": str(item["code"]),
                "detail": str(item["detail"]),
            }
            for section in ("refused", "added", "changed", "retired")
            for item in plan["sections"].get(section, [])
        ]
        # a staff import's one-time setup codes: in this answer only, shown first
        rows[:0] = [
            {"section": "setup_code", "row": "", "code": str(c["username"]), "detail": str(c["code"])}
            for c in plan.get("setup_codes", [])
        ]
        self.model.set_rows(rows)
        summary = self._summary_text(plan)
        if plan["dry_run"]:
            self._previewed = inputs
            self.summary.setText(t("import.previewed", self.lang, summary=summary))
            self.apply_button.setEnabled(inputs == self._inputs())
            self.message.clear()
        else:
            self._previewed = None
            if plan["applied"]:
                self.summary.setText(t("import.applied", self.lang, summary=summary))
                self.message.show_message(t("import.applied", self.lang, summary=summary), "ok")
            else:
                self.summary.setText(t("import.nothing", self.lang))
                self.message.show_message(t("import.nothing", self.lang), "info")

    def _failed(self, error: BaseException) -> None:
        self.busy = False
        self.preview_button.setEnabled(True)
        self.message.show_message(error_text(error), "error")
