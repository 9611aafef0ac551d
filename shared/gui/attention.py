"""The needs-attention list: mutations the server rejected, with its message, that the user dismisses."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from shared import clinic_time
from shared.domain.masking import mask_id_number, mask_phone
from shared.gui.ops import CollectionOp, OpChanges, OpContext, QueryOp, describe_error
from shared.i18n import DEFAULT_LANGUAGE, register, tr

log = logging.getLogger(__name__)

ModelIndex = QModelIndex | QPersistentModelIndex


class OutboxStoreLike(Protocol):
    """The part of ``shared.store.LocalStore`` the status bar and this list use (database thread only)."""

    def needs_attention(self) -> Sequence[Any]: ...

    def dismiss(self, mutation_id: str) -> None: ...

    def pending_count(self) -> int: ...


_STRINGS: dict[str, dict[str, str]] = {
    "gui.attention.title": {"zh_CN": "需处理的操作", "en": "Needs attention", "zh_TW": "需處理的操作"},
    "gui.attention.intro": {
        "zh_CN": "以下操作已被服务器拒绝，未生效。请根据说明在相应界面重新处理，然后标记为已处理。",
        "en": "The server rejected these operations; they did not take effect. Redo them where needed, "
        "then mark them handled.",
        "zh_TW": "以下操作已被伺服器拒絕，未生效。請根據說明在相應介面重新處理，然後標記為已處理。",
    },
    "gui.attention.empty": {
        "zh_CN": "没有需要处理的操作",
        "en": "Nothing needs attention",
        "zh_TW": "沒有需要處理的操作",
    },
    "gui.attention.loading": {"zh_CN": "正在加载…", "en": "Loading…", "zh_TW": "正在載入…"},
    "gui.attention.col.time": {"zh_CN": "时间", "en": "Time", "zh_TW": "時間"},
    "gui.attention.col.operation": {"zh_CN": "操作", "en": "Operation", "zh_TW": "操作"},
    "gui.attention.col.content": {"zh_CN": "内容", "en": "Content", "zh_TW": "內容"},
    "gui.attention.col.message": {"zh_CN": "服务器说明", "en": "Server says", "zh_TW": "伺服器說明"},
    "gui.attention.dismiss": {
        "zh_CN": "标记已处理 (Del)",
        "en": "Mark handled (Del)",
        "zh_TW": "標記已處理 (Del)",
    },
    "gui.attention.refresh": {"zh_CN": "刷新 (F5)", "en": "Refresh (F5)", "zh_TW": "重新整理 (F5)"},
    "gui.attention.close": {"zh_CN": "关闭", "en": "Close", "zh_TW": "關閉"},
    "gui.attention.code": {"zh_CN": "错误代码：{code}", "en": "Code: {code}", "zh_TW": "錯誤代碼：{code}"},
}
for _key, _texts in _STRINGS.items():
    register(_key, _texts)

# People read "登记患者", not "patient.register". Other modules may register more under "mutation.<name>".
MUTATION_LABELS: dict[str, tuple[str, str, str]] = {
    "patient.register": ("登记患者", "Register patient", "登記患者"),
    "patient.update": ("修改患者信息", "Update patient", "修改患者資訊"),
    "visit.open": ("开始就诊", "Open visit", "開始就診"),
    "queue.check_in": ("签到", "Check in", "簽到"),
    "queue.call": ("叫号", "Call", "叫號"),
    "queue.recall": ("重呼", "Recall", "重呼"),
    "queue.skip": ("过号", "Skip", "過號"),
    "queue.return": ("回诊/复位", "Return to queue", "回診/復位"),
    "queue.start": ("开始接诊", "Start consultation", "開始接診"),
    "queue.finish": ("完成就诊", "Finish", "完成就診"),
    "queue.transfer": ("转诊", "Transfer", "轉診"),
    "queue.cancel": ("取消排队", "Cancel ticket", "取消排隊"),
    "emr.save": ("保存病历", "Save visit note", "保存病歷"),
    "emr.sign": ("签署病历", "Sign visit note", "簽署病歷"),
    "order.create": ("开检查/检验", "Order test", "開檢查/檢驗"),
    "rx.create": ("开处方", "Write prescription", "開處方"),
    "rx.sign": ("签署处方", "Sign prescription", "簽署處方"),
    "rx.cancel": ("作废处方", "Cancel prescription", "作廢處方"),
    "rx.review": ("审方", "Review prescription", "審方"),
    "rx.pay": ("收费", "Take payment", "收費"),
    "pharmacy.configure": ("药房设置", "Pharmacy settings", "藥房設定"),
    "rx.dispense": ("发药", "Dispense", "發藥"),
    "rx.refund_request": ("申请退药", "Request refund", "申請退藥"),
    "rx.refund_review": ("审核退药", "Review refund", "審核退藥"),
    "stock.receive": ("入库", "Receive stock", "入庫"),
    "stock.move": ("移库", "Move stock", "移庫"),
    "stock.count": ("盘点", "Stock count", "盤點"),
    "delivery.create": ("创建配送", "Create delivery", "創建配送"),
    "delivery.ship": ("发货", "Ship", "發貨"),
    "print.record": ("打印记录", "Print record", "列印記錄"),
    "delivery.cancel": ("取消配送", "Cancel delivery", "取消配送"),
    "delivery.track": ("物流跟踪", "Track delivery", "物流追蹤"),
    "dispense.resolve": ("处理发药冲突", "Resolve dispense conflict", "處理發藥衝突"),
    "order.cancel": ("撤销检查/检验", "Cancel order", "撤銷檢查/檢驗"),
    "order.result": ("录入结果", "Record result", "錄入結果"),
    "order_set.save": ("保存组套", "Save order set", "保存組套"),
    "order_set.delete": ("删除组套", "Delete order set", "刪除組套"),
    "queue.notice": ("发布通知", "Post notice", "發布通知"),
    "queue.notice_withdraw": ("撤回通知", "Withdraw notice", "撤回通知"),
    "queue.pause_room": ("暂停诊室", "Pause room", "暫停診室"),
    "queue.room_open": ("开诊（医生在诊室）", "Open room (doctor at work)", "開診（醫生在診室）"),
    "queue.room_close": ("关诊", "Close room", "關診"),
    "reference.save": ("保存基础数据", "Save reference data", "保存基礎數據"),
    "reference.retire": ("停用基础数据", "Retire reference data", "停用基礎數據"),
    "reference.set_price": ("调整药品价格", "Change drug price", "調整藥品價格"),
    "reference.choose_code_set": ("选用 ICD 编码版本", "Choose ICD code set", "選用 ICD 編碼版本"),
    "reference.set_rx_rules": ("调整处方规则", "Change prescription rules", "調整處方規則"),
    "queue.reorder": ("调整顺序", "Reorder queue", "調整順序"),
    "queue.set_priority": ("调整优先级", "Change priority", "調整優先級"),
    "queue.undo": ("撤销操作", "Undo", "撤銷操作"),
    "rx.amend": ("修改处方", "Amend prescription", "修改處方"),
    "rx.pickup_reissue": ("重发取药码", "Reissue pickup code", "重發取藥碼"),
    "rx.pickup_verify": ("核验取药码", "Verify pickup code", "核驗取藥碼"),
    "signing_key.register": ("登记签名密钥", "Register signing key", "登記簽名密鑰"),
    "signing_key.reseal": ("更改签名 PIN", "Change signing PIN", "更改簽名 PIN"),
    "signing_key.revoke": ("重置签名密钥", "Revoke signing key", "重置簽名密鑰"),
    "staff.save": ("保存人员资料", "Save staff record", "儲存人員資料"),
    "staff.retire": ("停用人员", "Retire staff member", "停用人員"),
    "stock.set_minimum": ("设置库存下限", "Set stock minimum", "設定庫存下限"),
    "template.save": ("保存病历模板", "Save note template", "保存病歷範本"),
    "template.delete": ("删除病历模板", "Delete note template", "刪除病歷範本"),
    "visit.withdraw": ("退诊", "Withdraw consult", "退診"),
}
for _name, (_zh, _en, _tw) in MUTATION_LABELS.items():
    register(f"mutation.{_name}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


def mutation_label(name: str, lang: str = DEFAULT_LANGUAGE) -> str:
    key = f"mutation.{name}"
    text = tr(key, lang)
    return name if text == key else text


@dataclass(frozen=True)
class AttentionRow:
    """One rejected mutation as the list shows it (built from whatever the store returns)."""

    mutation_id: str
    name: str
    args: Mapping[str, Any]
    message: str
    code: str
    occurred_at: dt.datetime | None

    @classmethod
    def from_entry(cls, entry: Any) -> AttentionRow:
        """Accept the store's outbox entries: objects or mappings with name/args/status/last_error/result."""

        def field(name: str, default: Any = None) -> Any:
            if isinstance(entry, Mapping):
                return entry.get(name, default)
            return getattr(entry, name, default)

        # LocalStore's OutboxEntry carries the server's verdict in code/message; last_error is the
        # latest transport problem. Mappings (last_error/result as {"code", "message"}) work too.
        message, code = str(field("message") or ""), str(field("code") or "")
        for extra in (field("last_error"), field("result")):
            if isinstance(extra, Mapping):
                message = message or str(extra.get("message") or "")
                code = code or str(extra.get("code") or "")
            elif extra and isinstance(extra, str):
                message = message or extra
        occurred = field("occurred_at") or field("created_at")
        if isinstance(occurred, str):
            try:
                occurred = dt.datetime.fromisoformat(occurred)
            except ValueError:
                occurred = None
        args = field("args") or {}
        return cls(
            mutation_id=str(field("mutation_id") or field("id") or ""),
            name=str(field("name") or ""),
            args=args if isinstance(args, Mapping) else {"value": args},
            message=message,
            code=code,
            occurred_at=occurred if isinstance(occurred, dt.datetime) else None,
        )

    def args_summary(self, limit: int = 80) -> str:
        """The human values of the args (ids left out, phones and ID numbers masked), joined by full-width commas."""
        parts: list[str] = []
        for key, value in self.args.items():
            if key == "id" or key.endswith("_id") or key.endswith("_ids") or value in (None, "", [], {}):
                continue
            if isinstance(value, Mapping | list):
                text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
            else:
                text = str(value)
            if key in _MASKERS:
                text = _MASKERS[key](text)
            parts.append(text)
        text = "，".join(parts)
        return text if len(text) <= limit else text[: limit - 1] + "…"


_MASKERS = {"phone": mask_phone, "id_number": mask_id_number}


class AttentionModel(QAbstractTableModel):
    """Rejected mutations, one per row: time, operation, content, server message."""

    COLUMNS = ("time", "operation", "content", "message")

    def __init__(self, lang: str = DEFAULT_LANGUAGE, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lang = lang
        self._rows: list[AttentionRow] = []

    def set_rows(self, rows: Sequence[AttentionRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row(self, index: int) -> AttentionRow:
        return self._rows[index]

    def rows(self) -> list[AttentionRow]:
        return list(self._rows)

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = self.COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            if column == "time":
                return clinic_time.local(row.occurred_at).strftime("%m-%d %H:%M") if row.occurred_at else ""
            if column == "operation":
                return mutation_label(row.name, self.lang)
            if column == "content":
                return row.args_summary()
            return row.message
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == "message":
                return row.message
            if column == "operation":
                return row.name
            if column == "content":
                return row.args_summary(limit=400)
        if role == Qt.ItemDataRole.UserRole:
            return row.mutation_id
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.COLUMNS):
            return tr(f"gui.attention.col.{self.COLUMNS[section]}", self.lang)
        if orientation == Qt.Orientation.Vertical:
            return section + 1
        return None


def _load_rows(store: OutboxStoreLike) -> list[AttentionRow]:
    return [AttentionRow.from_entry(entry) for entry in store.needs_attention()]


class AttentionDialog(QDialog):
    """Lists rejected mutations (loaded on the database thread) and dismisses the selected ones."""

    sig_dismissed = Signal(list)  # mutation ids, after the store confirmed

    def __init__(
        self, parent: QWidget | None = None, *, context: OpContext | None = None, lang: str = DEFAULT_LANGUAGE
    ) -> None:
        super().__init__(parent)
        self.lang = lang
        self._context = context
        self.dismissed: list[str] = []
        self.setWindowTitle(tr("gui.attention.title", lang))
        self.setObjectName("attention-dialog")
        self.resize(820, 460)

        intro = QLabel(tr("gui.attention.intro", lang))
        intro.setWordWrap(True)
        self.notice = QLabel(tr("gui.attention.loading", lang))
        self.notice.setProperty("role", "notice")
        self.notice.setWordWrap(True)

        self.model = AttentionModel(lang, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.resizeSection(2, 320)

        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setMaximumBlockCount(500)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        self.dismiss_button = QPushButton(tr("gui.attention.dismiss", lang))
        self.dismiss_button.setEnabled(False)
        self.refresh_button = QPushButton(tr("gui.attention.refresh", lang))
        buttons = QDialogButtonBox()
        buttons.addButton(self.dismiss_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.refresh_button, QDialogButtonBox.ButtonRole.ActionRole)
        close = buttons.addButton(tr("gui.attention.close", lang), QDialogButtonBox.ButtonRole.RejectRole)
        close.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.notice)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)

        self.dismiss_button.clicked.connect(self.dismiss_selected)
        self.refresh_button.clicked.connect(self.reload)
        QShortcut(QKeySequence(Qt.Key.Key_Delete), self, self.dismiss_selected)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Refresh), self, self.reload)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.modelReset.connect(self._selection_changed)
        self.reload()

    # -- loading and dismissing (database thread through ops) -------------------------------------

    def reload(self) -> None:
        if (self._context or OpContext.current_or_none()) is None:
            self._show_notice(tr("gui.attention.empty", self.lang))
            return
        QueryOp(parent=self, op=_load_rows, success=self.set_rows, context=self._context).failure(
            self._show_error
        ).run_in_background()

    def set_rows(self, rows: Sequence[AttentionRow]) -> None:
        self.model.set_rows(rows)
        if rows:
            self.notice.hide()
            self.table.selectRow(0)
            self.table.setFocus()
        else:
            self._show_notice(tr("gui.attention.empty", self.lang))

    def selected_ids(self) -> list[str]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.model.row(r).mutation_id for r in rows]

    def dismiss_selected(self) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        self.dismiss_button.setEnabled(False)

        def dismiss(store: OutboxStoreLike) -> list[str]:
            for mutation_id in ids:
                store.dismiss(mutation_id)
            return ids

        CollectionOp(self, dismiss, changes=(OpChanges.ATTENTION,), context=self._context).success(
            self._dismissed
        ).failure(self._show_error).run_in_background()

    def _dismissed(self, ids: list[str]) -> None:
        self.dismissed.extend(ids)
        self.sig_dismissed.emit(ids)
        self.reload()

    # -- display ----------------------------------------------------------------------------------

    def _show_notice(self, text: str, role: str = "notice") -> None:
        self.notice.setText(text)
        self.notice.setProperty("role", role)
        self.notice.style().unpolish(self.notice)
        self.notice.style().polish(self.notice)
        self.notice.show()

    def _show_error(self, error: BaseException) -> None:
        self._show_notice(describe_error(error, self.lang).message, "error")
        self._selection_changed()

    def _selection_changed(self, *_args: object) -> None:
        ids = self.table.selectionModel().selectedRows()
        self.dismiss_button.setEnabled(bool(ids))
        if not ids:
            self.detail.clear()
            return
        row = self.model.row(ids[0].row())
        lines = [mutation_label(row.name, self.lang) + f"  ({row.name})", "", row.message]
        if row.code:
            lines.append(tr("gui.attention.code", self.lang, code=row.code))
        lines += ["", json.dumps(dict(row.args), ensure_ascii=False, indent=2, default=str)]
        self.detail.setPlainText("\n".join(lines))

    @classmethod
    def ask(
        cls, parent: QWidget | None = None, *, context: OpContext | None = None, lang: str = DEFAULT_LANGUAGE
    ) -> list[str]:
        """Show the list modally; returns the ids the user dismissed. Tests replace this method."""
        dialog = cls(parent, context=context, lang=lang)
        dialog.exec()
        return dialog.dismissed
