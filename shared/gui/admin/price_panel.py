"""Drug prices with effective dates: find a drug, see its price history (the base price, past changes, the
one in effect, changes still to come) and give a new price from now or from a later moment
(``reference.set_price``, recorded in this PC's outbox, audited, synced). Prescriptions keep the price in
effect when they were written (``shared.domain.prices``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from shared.domain.entities import Drug, Staff
from shared.domain.prices import BEFORE_ANY_CHANGE, price_at, scheduled
from shared.gui import theme
from shared.gui.admin.dated import EffectiveFrom, local_time
from shared.gui.admin.list_panel import record_change
from shared.gui.admin.texts import t
from shared.gui.ops import OpBus, OpChanges, QueryOp
from shared.gui.widgets import Column, MessageLine, RowsModel, note_label, selected_row, table_view
from shared.i18n import register
from shared.money import format_money as money

for _key, (_zh, _en, _tw) in {
    "tab.prices": ("药品价格", "Drug prices", "藥品價格"),
    "prices.search": (
        "搜索药品（编码、名称、拼音首字母）",
        "Find a drug (code, name, pinyin initials)",
        "搜尋藥品（編碼、名稱、拼音首字母）",
    ),
    "prices.code": ("编码", "Code", "編碼"),
    "prices.name": ("通用名", "Generic name", "通用名"),
    "prices.spec": ("规格", "Spec", "規格"),
    "prices.now": ("现行价格", "Price now", "現行價格"),
    "prices.next": ("待生效调价", "Scheduled change", "待生效調價"),
    "prices.next_text": ("{price}（{at} 起）", "{price} (from {at})", "{price}（{at} 起）"),
    "prices.history": ("价格历史：{name} {spec}", "Price history: {name} {spec}", "價格歷史：{name} {spec}"),
    "prices.history_none": (
        "价格历史（先选择药品）",
        "Price history (select a drug)",
        "價格歷史（先選擇藥品）",
    ),
    "prices.from": ("生效时间", "Effective from", "生效時間"),
    "prices.price": ("价格", "Price", "價格"),
    "prices.by": ("设置人", "Set by", "設定人"),
    "prices.at": ("设置时间", "Set at", "設定時間"),
    "prices.state": ("状态", "State", "狀態"),
    "prices.state.past": ("已被取代", "Superseded", "已被取代"),
    "prices.state.current": ("生效中", "In effect", "生效中"),
    "prices.state.future": ("待生效", "Scheduled", "待生效"),
    "prices.change": ("调整价格", "Change the price", "調整價格"),
    "prices.new_price": ("新价格（元/包装单位）", "New price (yuan per pack)", "新價格（元/包裝單位）"),
    "prices.apply": ("保存调价", "Save price change", "儲存調價"),
    "prices.bad_price": ("请输入不小于 0 的价格", "Enter a price of 0 or more", "請輸入不小於 0 的價格"),
    "prices.select": ("请先选择药品", "Select a drug first", "請先選擇藥品"),
    "prices.hint": (
        "调价只从所填时间起生效；此前开具的处方保留开具时的价格。",
        "A price applies from the time given on; prescriptions written before keep their price.",
        "調價只從所填時間起生效；此前開具的處方保留開具時的價格。",
    ),
    "prices.recorded": (
        "已记录：{name} {price}，{when}",
        "Recorded: {name} {price}, {when}",
        "已記錄：{name} {price}，{when}",
    ),
    "prices.count": ("共 {shown} 种药品", "{shown} drugs", "共 {shown} 種藥品"),
}.items():
    register(f"admin.{_key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


@dataclass(frozen=True)
class DrugPriceRow:
    drug: Drug
    now_price: Decimal
    haystack: str

    def next_change(self, lang: str, now: dt.datetime) -> str:
        coming = scheduled(self.drug, now)
        if not coming:
            return ""
        return t(
            "prices.next_text", lang, price=money(coming[0].price), at=local_time(coming[0].effective_from)
        )


@dataclass(frozen=True)
class HistoryRow:
    effective_from: dt.datetime | None  # None: the price from before the first change
    price: Decimal
    set_by: str
    set_at: dt.datetime | None
    state: str  # past, current, future


def load_drug_prices(store: Any, now: dt.datetime) -> tuple[list[DrugPriceRow], dict[str, str]]:
    """Live drugs with the price in effect ``now``, and staff id -> name; database thread."""
    rows = []
    for drug in sorted(store.all(Drug), key=lambda d: d.code):
        text = " ".join((drug.code, drug.generic_name, drug.trade_name, drug.pinyin, drug.english_name))
        rows.append(DrugPriceRow(drug, price_at(drug, now), text.lower()))
    names = {s.id: s.name for s in store.all(Staff, include_voided=True)}
    return rows, names


def history_rows(drug: Drug, now: dt.datetime) -> list[HistoryRow]:
    """Each dated price oldest first (the price before the first change undated), each marked past,
    in effect or to come; a drug never re-priced shows its one price."""
    if not drug.price_changes:
        return [HistoryRow(None, drug.price, "", None, "current")]
    current = max((i for i, c in enumerate(drug.price_changes) if c.effective_from <= now), default=-1)
    out = []
    for index, change in enumerate(drug.price_changes):
        state = "future" if change.effective_from > now else "current" if index == current else "past"
        start = None if change.effective_from == BEFORE_ANY_CHANGE else change.effective_from
        out.append(HistoryRow(start, change.price, change.set_by, change.set_at, state))
    return out


_STATE_COLOURS = {"current": theme.OK, "future": theme.WARN, "past": theme.MUTED}


class PricePanel(QWidget):
    """Drugs (search) on top; the selected drug's price history and the price-change form below."""

    sig_loaded = Signal()

    clock: Callable[[], dt.datetime] = staticmethod(lambda: dt.datetime.now(dt.UTC))

    def __init__(self, bus: OpBus, lang: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lang = lang
        self._rows: list[DrugPriceRow] = []
        self._names: dict[str, str] = {}
        self._selected_code = ""
        self.search = QLineEdit()
        self.search.setPlaceholderText(t("prices.search", lang))
        self.search.setClearButtonEnabled(True)
        self.count = QLabel()
        now_fn = type(self).clock
        self.drugs: RowsModel[DrugPriceRow] = RowsModel(
            [
                Column(t("prices.code", lang), lambda r: r.drug.code),
                Column(t("prices.name", lang), lambda r: r.drug.generic_name),
                Column(t("prices.spec", lang), lambda r: r.drug.spec),
                Column(
                    t("prices.now", lang),
                    lambda r: f"{money(r.now_price)}/{r.drug.pack_unit}",
                    align_right=True,
                ),
                Column(
                    t("prices.next", lang),
                    lambda r: r.next_change(lang, now_fn()),
                    colour=lambda r: theme.WARN,
                ),
            ]
        )
        self.drug_view = table_view(self.drugs, stretch=4)
        self.history_box = QGroupBox(t("prices.history_none", lang))
        self.history: RowsModel[HistoryRow] = RowsModel(
            [
                Column(t("prices.from", lang), lambda r: local_time(r.effective_from) or "—"),
                Column(t("prices.price", lang), lambda r: money(r.price), align_right=True),
                Column(
                    t("prices.state", lang),
                    lambda r: t(f"prices.state.{r.state}", lang),
                    colour=lambda r: _STATE_COLOURS[r.state],
                    bold=lambda r: r.state == "current",
                ),
                Column(t("prices.by", lang), lambda r: self._names.get(r.set_by, r.set_by)),
                Column(t("prices.at", lang), lambda r: local_time(r.set_at)),
            ]
        )
        self.history_view = table_view(self.history, stretch=4)
        history_layout = QVBoxLayout(self.history_box)
        history_layout.addWidget(self.history_view)
        change_box = QGroupBox(t("prices.change", lang))
        self.new_price = QLineEdit()
        self.new_price.setObjectName("new-price")
        self.when = EffectiveFrom(lang)
        self.apply_button = QPushButton(t("prices.apply", lang))
        hint = note_label(t("prices.hint", lang))
        form = QFormLayout(change_box)
        form.addRow(t("prices.new_price", lang), self.new_price)
        form.addRow(t("prices.from", lang), self.when)
        form.addRow(hint)
        form.addRow(self.apply_button)
        self.message = MessageLine()
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.count)
        upper = QWidget()
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addLayout(top)
        upper_layout.addWidget(self.drug_view, 1)
        lower = QWidget()
        lower_layout = QHBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.history_box, 3)
        lower_layout.addWidget(change_box, 2)
        splitter = QSplitter()
        splitter.setOrientation(splitter.orientation().Vertical)
        splitter.addWidget(upper)
        splitter.addWidget(lower)
        splitter.setSizes([380, 300])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.message)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self._filter)
        self.search.textChanged.connect(lambda _text: self._debounce.start())
        self.drug_view.selectionModel().selectionChanged.connect(lambda *_: self._show_history())
        self.apply_button.clicked.connect(self.apply)
        bus.sig_operation_did_execute.connect(self._changed)

    def reload(self) -> None:
        now = type(self).clock()
        QueryOp(parent=self, op=lambda store: load_drug_prices(store, now), success=self._loaded).failure(
            lambda error: self.message.show_message(str(error), "error")
        ).run_in_background()

    def _loaded(self, loaded: tuple[list[DrugPriceRow], dict[str, str]]) -> None:
        self._rows, self._names = loaded
        self._filter()
        self.sig_loaded.emit()

    def _filter(self) -> None:
        words = self.search.text().strip().lower().split()
        shown = [r for r in self._rows if all(w in r.haystack for w in words)]
        self.drugs.set_rows(shown)
        self.count.setText(t("prices.count", self.lang, shown=len(shown)))
        for index, row in enumerate(shown):
            if row.drug.code == self._selected_code:
                self.drug_view.selectRow(index)
                break
        else:
            self._show_history()

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.touches("drug", "staff"):
            self.reload()

    def selected(self) -> DrugPriceRow | None:
        index = selected_row(self.drug_view)
        return self.drugs.row(index) if index is not None and index < self.drugs.rowCount() else None

    def select(self, code: str) -> None:
        self._selected_code = code
        self._filter()

    def _show_history(self) -> None:
        row = self.selected()
        if row is None:
            self.history.set_rows([])
            self.history_box.setTitle(t("prices.history_none", self.lang))
            return
        self._selected_code = row.drug.code
        self.history_box.setTitle(
            t("prices.history", self.lang, name=row.drug.generic_name, spec=row.drug.spec)
        )
        self.history.set_rows(history_rows(row.drug, type(self).clock()))

    def effective_from(self) -> dt.datetime | None:
        """The moment the form gives (aware), or None for "from now"."""
        return self.when.moment()

    def apply(self) -> None:
        row = self.selected()
        lang = self.lang
        if row is None:
            self.message.show_message(t("prices.select", lang), "warning")
            return
        try:
            price = Decimal(self.new_price.text().strip())
        except InvalidOperation:
            price = Decimal(-1)
        if not price.is_finite() or price < 0:
            self.message.show_message(t("prices.bad_price", lang), "error")
            return
        effective = self.effective_from()
        args: dict[str, Any] = {"code": row.drug.code, "price": str(price)}
        if effective is not None:
            args["effective_from"] = effective.isoformat()
        version = row.drug.version
        when = self.when.when_text(effective)
        done = t("prices.recorded", lang, name=row.drug.generic_name, price=money(price), when=when)
        record_change(
            self,
            self.message,
            "reference.set_price",
            args,
            lang=lang,
            changes=("drug",),
            done=done,
            base_version=version,
        )
