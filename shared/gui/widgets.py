"""Small widgets every app's screens share: a table model over plain rows, a table view for it, and the
screen's in-place message line (not a pop-up)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableView,
    QWidget,
)

from shared.gui import theme

R = TypeVar("R")
Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class Column(Generic[R]):
    title: str
    text: Callable[[R], str]
    colour: Callable[[R], str | None] | None = None
    align_right: bool = False
    bold: Callable[[R], bool] | None = None


class RowsModel(QAbstractTableModel, Generic[R]):
    """A read-only table over a list of plain rows; ``set_rows`` replaces them (ops deliver whole lists)."""

    def __init__(self, columns: Sequence[Column[R]], parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self._rows: list[R] = []

    def set_rows(self, rows: Sequence[R]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[R]:
        return list(self._rows)

    def row(self, index: int) -> R:
        return self._rows[index]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        column = self.columns[index.column()]
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row)
        if role == Qt.ItemDataRole.ForegroundRole and column.colour is not None:
            colour = column.colour(row)
            return QBrush(QColor(colour)) if colour else None
        if role == Qt.ItemDataRole.FontRole and column.bold is not None and column.bold(row):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column.align_right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(  # noqa: N802 - Qt override
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            return self.columns[section].title
        if orientation == Qt.Orientation.Vertical:
            return str(section + 1)
        return None


def table_view(
    model: QAbstractTableModel, parent: QWidget | None = None, *, stretch: int | None = None
) -> QTableView:
    """A row-selecting, read-only table view for ``model``; column ``stretch`` (else the last) takes the rest."""
    view = QTableView(parent)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().setVisible(False)
    view.setAlternatingRowColors(True)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    if stretch is not None:
        header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    else:
        header.setStretchLastSection(True)
    return view


def note_label(text: str) -> QLabel:
    """A word-wrapped hint in the muted colour (what a form or a list is for, how it behaves)."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {theme.MUTED};")
    return label


def selected_row(view: QTableView) -> int | None:
    rows = view.selectionModel().selectedRows() if view.selectionModel() else []
    if rows:
        return rows[0].row()
    current = view.currentIndex()
    return current.row() if current.isValid() else None


_LEVEL_COLOURS = {"ok": theme.OK, "info": theme.BUSY, "warning": theme.WARN, "error": theme.ERROR}


class MessageLine(QLabel):
    """The screen's one line of feedback (errors stay; info fades after a while).

    Its height is reserved whether or not a message shows, so a message coming and going never moves
    the widgets below it (a click meant for a row landed on the next one). ``single_line`` (the line
    above each main window's tabs) keeps exactly one line: a longer message is elided, in full as the
    tooltip and from ``text()``."""

    def __init__(self, parent: QWidget | None = None, *, single_line: bool = False) -> None:
        super().__init__(parent)
        self.single_line = single_line
        self._full = ""
        self.setWordWrap(not single_line)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.clear)
        self.level = ""
        self._reserve_height()

    def _reserve_height(self) -> None:
        bold = QFont(self.font())
        bold.setWeight(QFont.Weight.DemiBold)
        margins = self.contentsMargins()
        line = QFontMetrics(bold).lineSpacing() + margins.top() + margins.bottom() + 2
        if self.single_line:
            self.setFixedHeight(line)
            self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        else:
            self.setMinimumHeight(line)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._reserve_height()

    def text(self) -> str:  # type: ignore[override]
        return self._full if self.single_line else super().text()

    def setText(self, text: str) -> None:  # type: ignore[override]  # noqa: N802 - Qt's name
        self._full = text
        if self.single_line:
            self.setToolTip(text)
            self._elide()
        else:
            super().setText(text)

    def clear(self) -> None:
        self._full = ""
        self.setToolTip("")
        super().clear()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if self.single_line:
            self._elide()

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 40)
        one_line = " ".join(self._full.split())
        super().setText(self.fontMetrics().elidedText(one_line, Qt.TextElideMode.ElideRight, width))

    def show_message(self, text: str, level: str = "info") -> None:
        self.level = level
        colour = _LEVEL_COLOURS.get(level, theme.MUTED)
        self.setStyleSheet(f"color: {colour}; font-weight: 600;")
        self.setText(text)
        self._timer.stop()
        if level in ("ok", "info"):
            self._timer.start(15_000)


class ReloadWhenShown(QWidget):
    """A screen (a tab) whose data changed reloads at once if it is shown, else when it is next shown:
    a hidden tab costs the database thread nothing."""

    _stale = False

    def reload(self) -> None:
        raise NotImplementedError

    def reload_when_shown(self, now: bool = False) -> None:
        """Reload now if shown (or ``now``), else mark the screen to reload when it is shown."""
        if now or self.isVisible():
            self.reload()
        else:
            self._stale = True

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self.reload()
