"""The needs-attention list: rejected mutations from the real store, with the server's message, dismissed."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.errors import StoreError
from shared.gui.attention import AttentionDialog, AttentionModel, AttentionRow, mutation_label
from shared.gui.ops import OpBus, OpChanges, OpContext
from tests.gui.conftest import make_context, record_rejected, save_screenshot


def rows(count: int) -> list[AttentionRow]:
    return [
        AttentionRow(
            f"m-{n}",
            "rx.dispense",
            {"rx_id": f"rx-{n}", "qty": n},
            f"库存不足 {n}",
            "stock.short",
            dt.datetime(2026, 3, 1, 8, n, tzinfo=dt.UTC),
        )
        for n in range(count)
    ]


def test_the_model_passes_qt_model_tester(qtmodeltester: object) -> None:
    model = AttentionModel()
    model.set_rows(rows(4))
    qtmodeltester.check(model)  # type: ignore[attr-defined]
    assert model.rowCount() == 4 and model.columnCount() == 4
    assert model.data(model.index(0, 1)) == "发药"
    assert model.data(model.index(2, 3)) == "库存不足 2"
    assert model.data(model.index(1, 0), Qt.ItemDataRole.UserRole) == "m-1"
    assert model.headerData(3, Qt.Orientation.Horizontal) == "服务器说明"


def test_rows_are_built_from_the_real_store_entries(store: object) -> None:
    (mutation_id,) = record_rejected(store, 1)
    (entry,) = store.needs_attention()  # type: ignore[attr-defined]
    row = AttentionRow.from_entry(entry)
    assert row.mutation_id == mutation_id and row.name == "patient.register"
    assert row.message == "证件号已登记给患者 M000123" and row.code == "patient.duplicate_id_number"
    assert row.occurred_at is not None
    assert row.args_summary() == "测试患者0，F，1980-05-01，138****5678"
    assert mutation_label("patient.register", "en") == "Register patient"
    assert mutation_label("custom.thing") == "custom.thing"


def test_mappings_with_an_error_object_work_too() -> None:
    row = AttentionRow.from_entry(
        {
            "mutation_id": "m",
            "name": "queue.call",
            "args": {},
            "last_error": {"code": "queue.taken", "message": "已被 3 号诊室叫走"},
        }
    )
    assert (row.message, row.code) == ("已被 3 号诊室叫走", "queue.taken")


def test_the_list_shows_rejections_and_dismisses_the_selected_one_with_delete(
    qtbot: QtBot, context: OpContext, store: object
) -> None:
    first, second = record_rejected(store, 2)
    dialog = AttentionDialog(context=context)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 2)
    assert "证件号已登记给患者 M000123" in dialog.detail.toPlainText()
    save_screenshot(dialog, "gui_attention_dialog")
    with qtbot.waitSignal(context.bus.sig_operation_did_execute) as executed:
        qtbot.keyClick(dialog.table, Qt.Key.Key_Delete)
    assert executed.args[0].touches(OpChanges.ATTENTION)
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 1)
    assert dialog.dismissed == [first]
    assert [e.mutation_id for e in store.needs_attention()] == [second]  # type: ignore[attr-defined]


def test_an_empty_list_says_so(qtbot: QtBot, context: OpContext) -> None:
    dialog = AttentionDialog(context=context)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.notice.text() == "没有需要处理的操作")
    assert not dialog.dismiss_button.isEnabled()


def test_a_store_error_is_shown_inside_the_dialog_not_as_a_popup(qtbot: QtBot, bus: OpBus) -> None:
    class BrokenStore:
        def needs_attention(self) -> list[object]:
            raise StoreError("本地数据库已损坏", code="store_corrupt")

    reported: list[object] = []
    bus.sig_error_reported.connect(reported.append)
    for context in make_context(BrokenStore(), bus):
        dialog = AttentionDialog(context=context)
        qtbot.addWidget(dialog)
        qtbot.waitUntil(lambda dialog=dialog: dialog.notice.text() == "本地数据库已损坏")
        assert dialog.notice.property("role") == "error"
    assert reported == []


def test_every_mutation_the_suite_knows_has_a_label_in_each_language() -> None:
    from shared.domain.mutations import REGISTRY
    from shared.gui.attention import mutation_label

    for name in REGISTRY:
        for lang in ("zh_CN", "en", "zh_TW"):
            label = mutation_label(name, lang)
            assert label and label != name and not label.startswith("mutation."), (name, lang, label)
