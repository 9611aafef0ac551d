"""Prescription rules as dated versions: the rules in effect now (per prescription type), every version
(past, in effect, scheduled: from when, who set it and when, what it changed), and an editor for the
common limits (drugs per prescription, days per type, the controlled days rules) from now or a later
moment, with a preview of what changes before it is saved (``reference.set_rx_rules``, recorded in this
PC's outbox, audited, synced). Prescriptions keep the rules of their written time
(``shared.domain.rx_rule_sets``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from shared.domain.entities import RxRuleSet, Staff
from shared.domain.prescribing import class_name, type_name
from shared.domain.rx_rule_sets import (
    VersionRow,
    history,
    new_version,
    rules_at,
    table_json,
    validation_reason,
    with_limits,
)
from shared.domain.rx_rules import RX_TYPES, RuleTable, RxType, TypeRule
from shared.gui import theme
from shared.gui.admin.dated import EffectiveFrom, local_time
from shared.gui.admin.texts import t
from shared.gui.ops import CollectionOp, OpBus, OpChanges, QueryOp
from shared.gui.widgets import Column, MessageLine, RowsModel, note_label, table_view
from shared.i18n import register
from shared.ids import new_id

for _key, (_zh, _en, _tw) in {
    "tab.rx_rules": ("处方规则", "Prescription rules", "處方規則"),
    "rxrules.now": ("现行规则（{when}）", "Rules in effect ({when})", "現行規則（{when}）"),
    "rxrules.max_drugs": (
        "每张处方最多 {n} 种药品",
        "At most {n} drugs per prescription",
        "每張處方最多 {n} 種藥品",
    ),
    "rxrules.type": ("处方类型", "Type", "處方類型"),
    "rxrules.max_days": ("最多天数", "Max days", "最多天數"),
    "rxrules.default_days": ("默认天数", "Default days", "預設天數"),
    "rxrules.classes": ("可开药品类别", "Drug classes", "可開藥品類別"),
    "rxrules.label": ("角标", "Corner label", "角標"),
    "rxrules.versions": ("规则版本", "Versions", "規則版本"),
    "rxrules.from": ("生效时间", "Effective from", "生效時間"),
    "rxrules.from_always": ("初始规则", "Initial rules", "初始規則"),
    "rxrules.state": ("状态", "State", "狀態"),
    "rxrules.state.past": ("已被取代", "Superseded", "已被取代"),
    "rxrules.state.current": ("生效中", "In effect", "生效中"),
    "rxrules.state.future": ("待生效", "Scheduled", "待生效"),
    "rxrules.by": ("设置人", "Set by", "設定人"),
    "rxrules.at": ("设置时间", "Set at", "設定時間"),
    "rxrules.changes": ("变更内容", "Changes", "變更內容"),
    "rxrules.shipped": ("随系统提供的规则", "The shipped rules", "隨系統提供的規則"),
    "rxrules.edit": ("调整常用限制", "Change the common limits", "調整常用限制"),
    "rxrules.drugs_per_rx": ("每张处方最多药品数", "Drugs per prescription", "每張處方最多藥品數"),
    "rxrules.controlled": ("管制药品天数", "Controlled drugs: days", "管制藥品天數"),
    "rxrules.preview": ("预览变更", "Preview changes", "預覽變更"),
    "rxrules.save": ("保存新版本", "Save as a new version", "儲存新版本"),
    "rxrules.no_change": (
        "与该时间生效的规则相同，无需保存",
        "Same as the rules in effect then: nothing to save",
        "與該時間生效的規則相同，無需儲存",
    ),
    "rxrules.preview_title": ("将变更 {n} 项：", "{n} changes:", "將變更 {n} 項："),
    "rxrules.preview_first": ("请先预览变更", "Preview the changes first", "請先預覽變更"),
    "rxrules.invalid": ("规则无效：{reason}", "Invalid rules: {reason}", "規則無效：{reason}"),
    "rxrules.in_past": (
        "生效时间已过：规则只能从现在或将来生效",
        "That time has passed: rules apply from now or a later time",
        "生效時間已過：規則只能從現在或將來生效",
    ),
    "rxrules.hint": (
        "新规则只从所填时间起生效；此前开具的处方仍按开具时的规则审核和打印。",
        "New rules apply from the time given on; prescriptions written before are checked and printed "
        "by the rules of their time.",
        "新規則只從所填時間起生效；此前開具的處方仍按開具時的規則審核和列印。",
    ),
    "rxrules.recorded": ("已记录新规则，{when}", "New rules recorded, {when}", "已記錄新規則，{when}"),
}.items():
    register(f"admin.{_key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})

_STATE_COLOURS = {"current": theme.OK, "future": theme.WARN, "past": theme.MUTED}


def _sep(lang: str) -> str:
    return ", " if lang == "en" else "、"


def _label(rule: TypeRule, lang: str) -> str:
    if not rule.show_label:
        return "—"
    return rule.label_en if lang == "en" else rule.label_zh


@dataclass(frozen=True)
class RulesState:
    """What the tab shows, read on the database thread."""

    versions: tuple[RxRuleSet, ...]
    names: dict[str, str]  # staff id -> name


def load_rules(store: Any) -> RulesState:
    names = {s.id: s.name for s in store.all(Staff, include_voided=True)}
    return RulesState(tuple(store.all(RxRuleSet)), names)


@dataclass(frozen=True)
class TypeRow:
    rx_type: RxType
    rule: TypeRule


class RxRulesPanel(QWidget):
    """The rules in effect and the versions on the left; the editor with its preview on the right."""

    sig_loaded = Signal()

    clock: Callable[[], dt.datetime] = staticmethod(lambda: dt.datetime.now(dt.UTC))

    def __init__(self, bus: OpBus, lang: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lang = lang
        self.state = RulesState((), {})
        self.previewed: list[str] | None = None
        # the administrator changed the editor: a reload (a sync) keeps the edit and re-diffs its preview
        self.dirty = False
        self.now_box = QGroupBox()
        self.max_drugs_label = QLabel()
        self.types: RowsModel[TypeRow] = RowsModel(
            [
                Column(t("rxrules.type", lang), lambda r: type_name(r.rx_type, lang)),
                Column(t("rxrules.max_days", lang), lambda r: str(r.rule.max_days), align_right=True),
                Column(t("rxrules.default_days", lang), lambda r: str(r.rule.default_days), align_right=True),
                Column(t("rxrules.label", lang), lambda r: _label(r.rule, lang)),
                Column(
                    t("rxrules.classes", lang),
                    lambda r: _sep(lang).join(class_name(c, lang) for c in r.rule.classes),
                ),
            ]
        )
        self.types_view = table_view(self.types, stretch=4)
        now_layout = QVBoxLayout(self.now_box)
        now_layout.addWidget(self.max_drugs_label)
        now_layout.addWidget(self.types_view)
        versions_box = QGroupBox(t("rxrules.versions", lang))
        self.versions: RowsModel[VersionRow] = RowsModel(
            [
                Column(
                    t("rxrules.from", lang),
                    lambda r: (
                        t("rxrules.from_always", lang)
                        if r.since_always
                        else local_time(r.version.effective_from)
                    ),
                ),
                Column(
                    t("rxrules.state", lang),
                    lambda r: t(f"rxrules.state.{r.state}", lang),
                    colour=lambda r: _STATE_COLOURS[r.state],
                    bold=lambda r: r.state == "current",
                ),
                Column(t("rxrules.by", lang), lambda r: self.state.names.get(r.version.set_by or "", "")),
                Column(t("rxrules.at", lang), lambda r: local_time(r.version.set_at)),
                Column(
                    t("rxrules.changes", lang),
                    lambda r: _sep(lang).join(r.changes) if r.changes else t("rxrules.shipped", lang),
                ),
            ]
        )
        self.versions_view = table_view(self.versions, stretch=4)
        QVBoxLayout(versions_box).addWidget(self.versions_view)

        edit_box = QGroupBox(t("rxrules.edit", lang))
        grid = QGridLayout()
        grid.addWidget(QLabel(t("rxrules.drugs_per_rx", lang)), 0, 0)
        self.max_drugs = self._spin(1, 20)
        grid.addWidget(self.max_drugs, 0, 1)
        grid.addWidget(QLabel(t("rxrules.max_days", lang)), 1, 1)
        grid.addWidget(QLabel(t("rxrules.default_days", lang)), 1, 2)
        self.days: dict[RxType, tuple[QSpinBox, QSpinBox]] = {}
        for row, rx_type in enumerate(RX_TYPES, start=2):
            grid.addWidget(QLabel(type_name(rx_type, lang)), row, 0)
            pair = (self._spin(1, 365), self._spin(1, 365))
            grid.addWidget(pair[0], row, 1)
            grid.addWidget(pair[1], row, 2)
            self.days[rx_type] = pair
        self.controlled_grid = QGridLayout()
        self.controlled: list[QSpinBox] = []
        controlled_box = QGroupBox(t("rxrules.controlled", lang))
        controlled_box.setLayout(self.controlled_grid)
        self.when = EffectiveFrom(lang)
        hint = note_label(t("rxrules.hint", lang))
        self.preview_button = QPushButton(t("rxrules.preview", lang))
        self.save_button = QPushButton(t("rxrules.save", lang))
        self.save_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.preview_button)
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        self.preview_title = QLabel()
        self.preview = QListWidget()
        edit_layout = QVBoxLayout(edit_box)
        edit_layout.addLayout(grid)
        edit_layout.addWidget(controlled_box)
        edit_layout.addWidget(QLabel(t("rxrules.from", lang)))
        edit_layout.addWidget(self.when)
        edit_layout.addWidget(hint)
        edit_layout.addLayout(buttons)
        edit_layout.addWidget(self.preview_title)
        edit_layout.addWidget(self.preview, 1)

        left = QSplitter()
        left.setOrientation(left.orientation().Vertical)
        left.addWidget(self.now_box)
        left.addWidget(versions_box)
        left.setSizes([330, 300])
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(edit_box)
        splitter.setSizes([820, 520])
        self.message = MessageLine()
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.message)
        for widget in (self.max_drugs, *(s for pair in self.days.values() for s in pair)):
            widget.valueChanged.connect(self._edited)
        self.when.immediately.toggled.connect(self._edited)
        self.when.effective.dateTimeChanged.connect(self._edited)
        self.preview_button.clicked.connect(self.show_preview)
        self.save_button.clicked.connect(self.save)
        bus.sig_operation_did_execute.connect(self._changed)

    @staticmethod
    def _spin(low: int, high: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        return spin

    # -- data ---------------------------------------------------------------------------------------

    def reload(self) -> None:
        QueryOp(parent=self, op=load_rules, success=self._loaded).failure(
            lambda error: self.message.show_message(str(error), "error")
        ).run_in_background()

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.touches(RxRuleSet.KIND, "staff"):
            self.reload()

    def rules_now(self) -> RuleTable:
        return rules_at(self.state.versions, type(self).clock())

    def _loaded(self, state: RulesState) -> None:
        self.state = state
        now = type(self).clock()
        table = self.rules_now()
        self.now_box.setTitle(t("rxrules.now", self.lang, when=local_time(now)))
        self.max_drugs_label.setText(t("rxrules.max_drugs", self.lang, n=table.max_drugs_per_rx))
        self.types.set_rows([TypeRow(rx_type, table.type_rule(rx_type)) for rx_type in RX_TYPES])
        self.versions.set_rows(history(state.versions, now))
        if not self.dirty:
            self.fill_editor(table)
        elif self.previewed is not None:
            self.show_preview()
        self.sig_loaded.emit()

    def fill_editor(self, table: RuleTable) -> None:
        """The editor shows ``table`` (the rules in effect now) until the administrator changes it."""
        widgets = [self.max_drugs, *(s for pair in self.days.values() for s in pair), *self.controlled]
        for widget in widgets:
            widget.blockSignals(True)
        self.max_drugs.setValue(table.max_drugs_per_rx)
        for rx_type, (max_days, default_days) in self.days.items():
            rule = table.type_rule(rx_type)
            max_days.setValue(rule.max_days)
            default_days.setValue(rule.default_days)
        self._fill_controlled(table)
        for widget in widgets:
            widget.blockSignals(False)
        self._edited()
        self.dirty = False

    def _fill_controlled(self, table: RuleTable) -> None:
        while self.controlled_grid.count():
            item = self.controlled_grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.controlled = []
        for row, rule in enumerate(table.controlled_days):
            types = "、".join(type_name(r, self.lang) for r in rule.types)
            label = QLabel(f"{types}：{rule.note}" if rule.note else types)
            spin = self._spin(1, 365)
            spin.setValue(rule.max_days)
            spin.valueChanged.connect(self._edited)
            self.controlled_grid.addWidget(label, row, 0)
            self.controlled_grid.addWidget(spin, row, 1)
            self.controlled.append(spin)

    # -- editing ------------------------------------------------------------------------------------

    def edited_table(self) -> RuleTable:
        """The rules in effect now with the editor's limits (``ValidationError`` when they are invalid)."""
        days = {rx_type: (a.value(), b.value()) for rx_type, (a, b) in self.days.items()}
        return with_limits(
            self.rules_now(),
            max_drugs_per_rx=self.max_drugs.value(),
            days=days,
            controlled_days=[s.value() for s in self.controlled],
        )

    def effective_from(self) -> dt.datetime | None:
        """The moment the form gives (aware), or None for "from now"."""
        return self.when.moment()

    def _edited(self, *_args: object) -> None:
        self.dirty = True
        self.previewed = None
        self.save_button.setEnabled(False)
        self.preview.clear()
        self.preview_title.clear()

    def show_preview(self) -> list[str] | None:
        """What saving would change against the rules in effect at the chosen moment; enables saving."""
        self._edited()
        lang = self.lang
        try:
            table = self.edited_table()
        except ValidationError as error:
            self.message.show_message(t("rxrules.invalid", lang, reason=validation_reason(error)), "error")
            return None
        now = type(self).clock()
        moment = self.effective_from() or now
        if moment < now:
            self.message.show_message(t("rxrules.in_past", lang), "error")
            return None
        _row, changes = new_version(
            self.state.versions, table, moment, version_id="preview", set_by=None, now=now
        )
        if not changes:
            self.message.show_message(t("rxrules.no_change", lang), "warning")
            return changes
        self.preview_title.setText(t("rxrules.preview_title", lang, n=len(changes)))
        self.preview.addItems(changes)
        self.previewed = changes
        self.save_button.setEnabled(True)
        self.message.clear()
        return changes

    def save(self) -> None:
        lang = self.lang
        if not self.previewed:
            self.message.show_message(t("rxrules.preview_first", lang), "warning")
            return
        table = self.edited_table()
        effective = self.effective_from()
        args: dict[str, Any] = {"id": new_id(), "rules": table_json(table)}
        if effective is not None:
            args["effective_from"] = effective.isoformat()
        when = self.when.when_text(effective)
        self.save_button.setEnabled(False)

        def record(store: Any) -> Any:
            return store.record("reference.set_rx_rules", args, lang=lang)

        def recorded(_entry: object) -> None:
            self.dirty = False  # the reload that follows shows the rules as they now are
            self.message.show_message(t("rxrules.recorded", lang, when=when), "ok")

        CollectionOp(self, record, changes=(RxRuleSet.KIND, OpChanges.OUTBOX)).success(recorded).failure(
            lambda error: self.message.show_message(getattr(error, "message", str(error)), "error")
        ).run_in_background()
