"""The ICD-10 code sets side by side (国家临床版2.0, 医保版2.0 …): each set's diagnoses in use and retired,
which one the site's doctors search, and "use this set" (``reference.choose_code_set``, recorded in this
PC's outbox like every administrator's change, audited and synced to every PC)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from shared.domain.code_sets import SITE_SETTINGS_ID, chosen_code_set
from shared.domain.entities import Diagnosis, SiteSettings
from shared.gui import theme
from shared.gui.admin.list_panel import ask_yes, record_change
from shared.gui.admin.texts import t
from shared.gui.ops import OpBus, OpChanges, QueryOp
from shared.gui.widgets import Column, MessageLine, RowsModel, note_label, selected_row, table_view
from shared.i18n import register

for _key, (_zh, _en, _tw) in {
    "tab.code_sets": ("ICD 编码版本", "ICD code sets", "ICD 編碼版本"),
    "code_sets.set": ("编码版本", "Code set", "編碼版本"),
    "code_sets.live": ("在用诊断", "Diagnoses in use", "在用診斷"),
    "code_sets.retired": ("已停用", "Retired", "已停用"),
    "code_sets.chosen": ("本院使用", "Used here", "本院使用"),
    "code_sets.chosen_mark": ("✔ 医生检索此版本", "✔ doctors search this set", "✔ 醫生檢索此版本"),
    "code_sets.use": ("使用此版本", "Use this set", "使用此版本"),
    "code_sets.refresh": ("刷新", "Refresh", "重新整理"),
    "code_sets.none_chosen": (
        "尚未选定编码版本：医生检索全部版本。",
        "No code set chosen: doctors search every set.",
        "尚未選定編碼版本：醫生檢索全部版本。",
    ),
    "code_sets.current": (
        "本院当前使用：{code_set}（共 {count} 个版本）",
        "In use here: {code_set} ({count} sets)",
        "本院目前使用：{code_set}（共 {count} 個版本）",
    ),
    "code_sets.hint": (
        "导入诊断时用“编码版本”指定导入哪个版本（clinic import diagnosis 文件 --code-set 名称），其他版本不受影响。"
        "切换版本后，旧病历和处方仍保留原来的编码、名称和版本。",
        "Import diagnoses into one set with the import's code set (clinic import diagnosis FILE --code-set "
        "NAME); the other sets are left as they are. After a switch, old notes and prescriptions keep "
        "their code, name and set.",
        "匯入診斷時用「編碼版本」指定匯入哪個版本（clinic import diagnosis 檔案 --code-set 名稱），其他版本不受影響。"
        "切換版本後，舊病歷和處方仍保留原來的編碼、名稱和版本。",
    ),
    "code_sets.confirm": (
        "全院医生将改为检索“{code_set}”。确定？",
        "Every doctor will search '{code_set}' from now on. Go ahead?",
        "全院醫生將改為檢索「{code_set}」。確定？",
    ),
    "code_sets.recorded": (
        "已记录：本院改用“{code_set}”，同步后各终端生效。",
        "Recorded: this site uses '{code_set}'; every PC follows once synced.",
        "已記錄：本院改用「{code_set}」，同步後各終端生效。",
    ),
    "code_sets.already": (
        "本院已在使用“{code_set}”。",
        "'{code_set}' is already in use.",
        "本院已在使用「{code_set}」。",
    ),
    "field.code_set": ("编码版本", "Code set", "編碼版本"),
}.items():
    register(f"admin.{_key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


@dataclass(frozen=True)
class CodeSetRow:
    name: str
    live: int
    retired: int
    chosen: bool


def load_code_sets(store: Any) -> list[CodeSetRow]:
    """Every code set the diagnoses name, with its counts and whether it is the site's; database thread."""
    live: Counter[str] = Counter()
    retired: Counter[str] = Counter()
    for diagnosis in store.all(Diagnosis, include_voided=True):
        (retired if diagnosis.voided else live)[diagnosis.code_set] += 1
    chosen = chosen_code_set(store.get(SiteSettings, SITE_SETTINGS_ID))
    names = sorted(set(live) | set(retired) | ({chosen} if chosen else set()))
    return [CodeSetRow(n, live[n], retired[n], n == chosen) for n in names]


def confirm(parent: QWidget | None, text: str) -> bool:
    return ask_yes(parent, " ", text)


class CodeSetsPanel(QWidget):
    """The sets with their counts; the chosen one marked; "use this set" for the selected one."""

    sig_loaded = Signal()

    ask_confirm: Callable[[QWidget | None, str], bool] = staticmethod(confirm)

    def __init__(self, bus: OpBus, lang: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lang = lang
        self.rows: list[CodeSetRow] = []
        self.current = QLabel()
        self.current.setProperty("role", "title")
        hint = note_label(t("code_sets.hint", lang))
        self.use_button = QPushButton(t("code_sets.use", lang))
        self.refresh_button = QPushButton(t("code_sets.refresh", lang))
        self.model: RowsModel[CodeSetRow] = RowsModel(
            [
                Column(t("code_sets.set", lang), lambda r: r.name, bold=lambda r: r.chosen),
                Column(t("code_sets.live", lang), lambda r: str(r.live), align_right=True),
                Column(t("code_sets.retired", lang), lambda r: str(r.retired), align_right=True),
                Column(
                    t("code_sets.chosen", lang),
                    lambda r: t("code_sets.chosen_mark", lang) if r.chosen else "",
                    colour=lambda r: theme.OK if r.chosen else None,
                ),
            ]
        )
        self.view = table_view(self.model, stretch=3)
        self.message = MessageLine()
        buttons = QHBoxLayout()
        buttons.addWidget(self.current, 1)
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(hint)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.message)
        self.use_button.clicked.connect(self.use_selected)
        self.refresh_button.clicked.connect(self.reload)
        self.view.doubleClicked.connect(lambda _index: self.use_selected())
        bus.sig_operation_did_execute.connect(self._changed)

    def reload(self) -> None:
        QueryOp(parent=self, op=load_code_sets, success=self._loaded).failure(
            lambda error: self.message.show_message(str(error), "error")
        ).run_in_background()

    def _loaded(self, rows: list[CodeSetRow]) -> None:
        index = selected_row(self.view)
        kept = self.rows[index].name if index is not None and index < len(self.rows) else None
        self.rows = rows
        self.model.set_rows(rows)
        if kept is not None:
            self.select(kept)  # a reload (a pull, another admin's change) keeps the row selected
        chosen = next((r.name for r in rows if r.chosen), None)
        self.current.setText(
            t("code_sets.current", self.lang, code_set=chosen, count=len(rows))
            if chosen
            else t("code_sets.none_chosen", self.lang)
        )
        self.sig_loaded.emit()

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.touches("diagnosis", SiteSettings.KIND):
            self.reload()

    def select(self, name: str) -> None:
        for index, row in enumerate(self.rows):
            if row.name == name:
                self.view.selectRow(index)

    def use_selected(self) -> None:
        index = selected_row(self.view)
        if index is None or index >= len(self.rows):
            self.message.show_message(t("select_row", self.lang), "warning")
            return
        row = self.rows[index]
        lang = self.lang
        if row.chosen:
            self.message.show_message(t("code_sets.already", lang, code_set=row.name), "info")
            return
        if not type(self).ask_confirm(self, t("code_sets.confirm", lang, code_set=row.name)):
            return

        record_change(
            self,
            self.message,
            "reference.choose_code_set",
            {"code_set": row.name},
            lang=lang,
            changes=(SiteSettings.KIND,),
            done=t("code_sets.recorded", lang, code_set=row.name),
        )
