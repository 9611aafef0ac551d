"""What the administrator's list panels (reference data, queues, pharmacies, staff) share: a search box
(debounced) with "show retired", the action buttons, the table, the message line and the row count; the
selected row; a change recorded in this PC's outbox with its outcome on the message line; and, for the
reference data, loading in the background, "history" and New / Edit / Retire as ``reference.save`` /
``reference.retire``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from shared.domain.entities import Entity
from shared.gui import theme
from shared.gui.admin.calls import error_text
from shared.gui.admin.texts import kind_label, t
from shared.gui.ops import CollectionOp, OpBus, OpChanges, QueryOp
from shared.gui.widgets import Column, MessageLine, RowsModel, note_label, selected_row, table_view

R = TypeVar("R")


class ReferenceRow(Protocol):
    @property
    def entity(self) -> Entity: ...

    @property
    def haystack(self) -> str: ...  # the lower-case text the search looks in


class CodedRow(ReferenceRow, Protocol):
    @property
    def cells(self) -> dict[str, str]: ...  # the export's fields -> text


RR = TypeVar("RR", bound=ReferenceRow)
CR = TypeVar("CR", bound=CodedRow)


def record_change(
    owner: QWidget,
    message: MessageLine,
    name: str,
    args: dict[str, Any],
    *,
    lang: str,
    changes: Sequence[str],
    done: str,
    base_version: int | None = None,
) -> None:
    """Record mutation ``name`` in this PC's outbox off the GUI thread; ``done`` (or why it was refused)
    on ``message``."""

    def record(store: Any) -> Any:
        return store.record(name, args, base_version=base_version, lang=lang)

    CollectionOp(owner, record, changes=(*changes, OpChanges.OUTBOX)).success(
        lambda _entry: message.show_message(done, "ok")
    ).failure(lambda error: message.show_message(error_text(error), "error")).run_in_background()


def status_column(lang: str) -> Column[Any]:
    """A reference row's state: live, or retired (greyed)."""
    return Column(
        t("status", lang),
        lambda r: t("status.retired" if r.entity.voided else "status.live", lang),
        colour=lambda r: theme.MUTED if r.entity.voided else theme.OK,
    )


def muted_if_retired(row: Any) -> str | None:
    """A retired reference row's cells are greyed."""
    return theme.MUTED if row.entity.voided else None


def ask_reason(parent: QWidget | None, title: str, label: str) -> str | None:
    text, ok = QInputDialog.getText(parent, title, label)
    return text.strip() if ok and text.strip() else None


def ask_yes(parent: QWidget | None, title: str, text: str) -> bool:
    return QMessageBox.question(parent, title, text) == QMessageBox.StandardButton.Yes


def save_cancel(dialog: QDialog, save: str, cancel: str, accept: Callable[[], None]) -> QDialogButtonBox:
    """An edit dialog's Save / Cancel buttons: Save runs ``accept`` (which checks, then accepts)."""
    buttons = QDialogButtonBox()
    buttons.addButton(save, QDialogButtonBox.ButtonRole.AcceptRole)
    buttons.addButton(cancel, QDialogButtonBox.ButtonRole.RejectRole)
    buttons.accepted.connect(accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


def scrolled_edit(
    dialog: QDialog, lang: str, hint: str, body: QWidget, accept: Callable[[], None]
) -> MessageLine:
    """An edit dialog's layout: the hint, the form (scrolled), the line that says what is wrong with it
    (returned), Save / Cancel."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(body)
    problem = MessageLine()
    layout = QVBoxLayout(dialog)
    layout.addWidget(note_label(hint))
    layout.addWidget(scroll, 1)
    layout.addWidget(problem)
    layout.addWidget(save_cancel(dialog, t("save", lang), t("cancel", lang), accept))
    return problem


class ListPanel(QWidget, Generic[R]):
    """Search, "show retired", buttons, the table (retired rows hidden unless asked), message and count.

    A panel gives its rows' ``retired`` and ``haystack`` (the lower-case text the search looks in) and its
    texts (``text``: the admin texts unless it has its own)."""

    ask_reason: Callable[[QWidget | None, str, str], str | None] = staticmethod(ask_reason)

    def __init__(
        self,
        bus: OpBus,
        lang: str,
        search_hint: str,
        columns: Sequence[Column[R]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.lang = lang
        self._rows: list[R] = []
        self.search = QLineEdit()
        self.search.setPlaceholderText(search_hint)
        self.search.setClearButtonEnabled(True)
        self.show_retired = QCheckBox(self.text("show_retired"))
        self.new_button = QPushButton(self.text("new"))
        self.edit_button = QPushButton(self.text("edit"))
        self.retire_button = QPushButton(self.text("retire"))
        self.count = QLabel()
        self.message = MessageLine()
        self.model: RowsModel[R] = RowsModel(columns)
        self.view = table_view(self.model)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self._filter)
        self.search.textChanged.connect(lambda _text: self._debounce.start())
        self.show_retired.toggled.connect(lambda _on: self._filter())
        self.new_button.clicked.connect(self.new_row)
        self.edit_button.clicked.connect(self.edit_row)
        self.retire_button.clicked.connect(self.retire_row)
        self.view.doubleClicked.connect(lambda _index: self.edit_row())
        bus.sig_operation_did_execute.connect(self._changed)

    def new_row(self) -> None:
        raise NotImplementedError

    def edit_row(self) -> None:
        raise NotImplementedError

    def retire_row(self) -> None:
        raise NotImplementedError

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        """Reload when what the panel shows changed (here or by a sync)."""
        raise NotImplementedError

    def text(self, key: str, **params: object) -> str:
        return t(key, self.lang, **params)

    def retired(self, row: R) -> bool:
        raise NotImplementedError

    def haystack(self, row: R) -> str:
        raise NotImplementedError

    def _lay_out(self, buttons: Sequence[QPushButton], leading: Sequence[QWidget] = ()) -> None:
        """Search line (after ``leading``) and buttons above the table; message and count below it."""
        top = QHBoxLayout()
        for widget in leading:
            top.addWidget(widget)
        top.addWidget(self.search, 1)
        top.addWidget(self.show_retired)
        for button in buttons:
            top.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.message, 1)
        bottom.addWidget(self.count)
        layout.addLayout(bottom)

    def _show(self, rows: list[R], *, size_once: bool = True) -> None:
        """Freshly loaded rows, filtered as asked; the columns sized to them. ``size_once``: sized at this
        load, not at every search (sizing to 20,000 drugs at each keystroke would lag)."""
        self._rows = rows
        header = self.view.horizontalHeader()
        if size_once:
            header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self._filter()
        self.view.resizeColumnsToContents()
        header.setStretchLastSection(True)

    def _filter(self) -> None:
        words = self.search.text().strip().lower().split()
        retired_too = self.show_retired.isChecked()
        shown = [
            r
            for r in self._rows
            if (retired_too or not self.retired(r)) and all(w in self.haystack(r) for w in words)
        ]
        self.model.set_rows(shown)
        self.count.setText(self.text("rows", shown=len(shown), total=len(self._rows)))

    def _selected(self) -> R | None:
        index = selected_row(self.view)
        if index is None or index >= self.model.rowCount():
            self.message.show_message(self.text("select_row"), "warning")
            return None
        return self.model.row(index)

    def _select_where(self, matches: Callable[[R], bool]) -> bool:
        """Select the first shown row that ``matches``; False if none is shown."""
        for index, row in enumerate(self.model.rows()):
            if matches(row):
                self.view.selectRow(index)
                return True
        return False

    def _record(
        self, name: str, args: dict[str, Any], base_version: int | None, changes: Sequence[str], done: str
    ) -> None:
        record_change(
            self,
            self.message,
            name,
            args,
            lang=self.lang,
            changes=changes,
            done=done,
            base_version=base_version,
        )

    def _retire(
        self,
        title: str,
        name: str,
        args: dict[str, Any],
        extra: dict[str, Any],
        version: int,
        changes: Sequence[str],
        done: str,
    ) -> None:
        """Ask why (a retiring needs a reason), then record ``name`` with ``args``, the reason and ``extra``."""
        reason = type(self).ask_reason(self, title, self.text("retire.reason"))
        if reason is not None:
            self._record(name, {**args, "reason": reason, **extra}, version, changes, done)


class ReferenceListPanel(ListPanel[RR]):
    """A list of reference rows (``row.entity``: retired when voided) read from this PC's database in the
    background and kept fresh as they change; New / Edit / Retire / History."""

    # "who changed this row and when": the window shows the audit log filtered to the row's edits
    sig_history_requested = Signal(str, str)  # kind, code

    def __init__(
        self,
        bus: OpBus,
        lang: str,
        search_hint: str,
        columns: Sequence[Column[RR]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(bus, lang, search_hint, columns, parent)
        self._query: QueryOp[Any] | None = None
        self.history_button = QPushButton(self.text("history"))
        self.history_button.clicked.connect(self._history)

    @property
    def buttons(self) -> tuple[QPushButton, ...]:
        return (self.new_button, self.edit_button, self.retire_button, self.history_button)

    def retired(self, row: RR) -> bool:
        return row.entity.voided

    def haystack(self, row: RR) -> str:
        return row.haystack

    def _load(self, op: Callable[[Any], Any], success: Callable[[Any], None]) -> None:
        """Run ``op`` on the database thread (an older load still running is cancelled)."""
        if self._query is not None:
            self._query.cancel()
        self.count.setText(self.text("loading"))
        self._query = QueryOp(parent=self, op=op, success=success)
        self._query.failure(lambda error: self.message.show_message(str(error), "error")).run_in_background()

    def kind_text(self, kind: str) -> str:
        return kind_label(kind, self.lang)

    def _save_row(self, kind: str, fields: dict[str, str], base_version: int | None) -> None:
        done = self.text("saved", kind=self.kind_text(kind), code=fields.get("code", ""))
        self._record("reference.save", {"kind": kind, "fields": fields}, base_version, (kind,), done)

    def _retire_row(self, kind: str, row: RR, code: str, extra: dict[str, str] | None = None) -> None:
        kind_text = self.kind_text(kind)
        self._retire(
            self.text("retire.title", kind=kind_text, code=code),
            "reference.retire",
            {"kind": kind, "code": code},
            extra or {},
            row.entity.version,
            (kind,),
            self.text("retired", kind=kind_text, code=code),
        )

    def _history(self) -> None:
        raise NotImplementedError


class OneKindPanel(ReferenceListPanel[CR]):
    """The rows of one kind (``KIND``), each with ``cells`` (the export's fields -> text) and ``entity``;
    the load gives them with what the edit form offers (``_took``). An edit saves only what was changed,
    so it never undoes another admin's change of another field."""

    KIND = ""
    load_op: Callable[[Any], tuple[list[Any], Any]]  # the rows and the offers, on the database thread

    loaded = False  # True once the first load came in

    def _took(self, offered: Any) -> None:
        """What the edit form offers (campuses, departments ...), as the load found it."""
        raise NotImplementedError

    def _ask(self, values: dict[str, str] | None) -> dict[str, str] | None:
        """The edit form for ``values`` (None: a new row): its fields, or None if cancelled."""
        raise NotImplementedError

    def reload(self) -> None:
        self._load(type(self).load_op, self._loaded)

    def _loaded(self, result: tuple[list[CR], Any]) -> None:
        rows, offered = result
        self._took(offered)
        self.loaded = True
        self._show(rows)

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if self.loaded and changes.touches(self.KIND):
            self.reload()

    def select_code(self, code: str) -> bool:
        return self._select_where(lambda row: row.cells["code"] == code)

    def _history(self) -> None:
        row = self._selected()
        if row is not None:
            self.sig_history_requested.emit(self.KIND, row.cells["code"])

    def new_row(self) -> None:
        fields = self._ask(None)
        if fields is not None:
            self._save_row(self.KIND, {k: v for k, v in fields.items() if v != ""}, None)

    def edit_row(self) -> None:
        row = self._selected()
        if row is None:
            return
        before: dict[str, str] = dict(row.cells)
        fields = self._ask(before)
        if fields is not None:
            changed = {k: v for k, v in fields.items() if v != before.get(k)}
            if changed:
                self._save_row(self.KIND, {"code": before["code"], **changed}, row.entity.version)

    def retire_row(self) -> None:
        row = self._selected()
        if row is not None:
            self._retire_row(self.KIND, row, row.cells["code"])
