"""What a doctor hit on a clinic's first morning, driven through the real widgets against a real server:
Ctrl+F from the note, duplicate amoxicillins, blocking checks that stay in view, a print with no printer
set, and F9 on a visit whose note is not signed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.site import SiteConfig
from tests.gui.conftest import save_screenshot
from tests.workstation.conftest import Clinic
from tests.workstation.test_consult_with_server import add_drug, call_and_start, ready, type_text
from workstation.screens.consult import UnsignedNoteDialog


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    """A PC as installed: no printer set for any document."""
    return SiteConfig()


def test_ctrl_f_on_the_note_tab_brings_the_prescription_search_forward(
    qtbot: QtBot, window: Any, runtime: Any, clinic: Clinic
) -> None:
    ready(qtbot, window, runtime)
    call_and_start(qtbot, window)
    consult, rx = window.consult, window.prescribing
    assert consult.tabs.currentWidget() is consult.note
    window.activateWindow()
    consult.note.edits["chief_complaint"].setFocus()
    qtbot.keyClick(consult.note.edits["chief_complaint"], Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert consult.tabs.currentWidget() is rx, "the prescription tab is shown"
    qtbot.waitUntil(lambda: rx.search_edit.hasFocus(), timeout=10_000)
    # what the doctor types now goes into the drug search
    with qtbot.waitSignal(rx.sig_results_shown, timeout=10_000, check_params_cb=lambda n: n > 0):
        type_text(qtbot, rx.search_edit, "amx")
    assert rx.search_edit.text() == "amx"
    # stock in packs with the smallest units alongside, as the pharmacy shows it
    stock = [rx.results_model.data(rx.results_model.index(r, 5)) for r in range(rx.results_model.rowCount())]
    assert any("盒（" in s and "粒）" in s for s in stock), stock
    window.resize(1366, 768)
    qtbot.wait(100)
    save_screenshot(window, "workstation_drug_search_1366x768")


def test_two_amoxicillins_warn_and_a_blocking_finding_stays_in_view(
    qtbot: QtBot, window: Any, runtime: Any, clinic: Clinic
) -> None:
    ready(qtbot, window, runtime)
    call_and_start(qtbot, window)
    consult, rx = window.consult, window.prescribing
    consult.tabs.setCurrentWidget(rx)
    add_drug(qtbot, window, "amxljn", "阿莫西林胶囊")
    add_drug(qtbot, window, "amxlklwsjp", "阿莫西林克拉维酸钾片")
    assert rx.plan is not None
    duplicate = [f for f in rx.plan.findings if f.finding.code == "rx.duplicate_ingredient"]
    assert len(duplicate) == 1 and "阿莫西林" in duplicate[0].finding.message
    assert not rx.blocking_label.isVisible()
    # More lines with warnings (days over the limit) and then the same drug twice, which blocks.
    for query, name in (("blfhsjn", "布洛芬缓释胶囊"), ("tbkljn", "头孢克洛胶囊")):
        add_drug(qtbot, window, query, name)
    for row in range(len(rx.lines)):
        rx.table.item(row, 5).setText("12")  # 12 days: a warning per line
    add_drug(qtbot, window, "amxljn", "阿莫西林胶囊")
    blocks = [f for f in rx.plan.findings if f.blocking]
    assert any(f.finding.code == "rx.duplicate_drug" for f in blocks)
    assert rx.findings_list.count() >= 4, "enough warnings to fill the list"
    # the blocking finding is not an item that can scroll away: it has its own, always visible box
    assert rx.blocking_label.isVisible()
    assert "重复开具" in rx.blocking_label.text()
    top_left = rx.blocking_label.mapTo(window, rx.blocking_label.rect().topLeft())
    assert window.rect().contains(top_left) and rx.blocking_label.height() > 0
    assert not rx.sign_button.isEnabled()
    window.resize(1366, 768)
    qtbot.wait(150)
    save_screenshot(window, "workstation_checks_blocking_1366x768")


def test_printing_with_no_printer_set_says_the_pdf_was_only_saved(
    qtbot: QtBot, window: Any, runtime: Any, clinic: Clinic, tmp_path: Path
) -> None:
    ready(qtbot, window, runtime)
    call_and_start(qtbot, window)
    note = window.consult.note
    note.edits["chief_complaint"].setPlainText("头痛两天")
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "PDF" in window.message_line.text(), timeout=30_000)
    text = window.message_line.text()
    assert "已打印" not in text and "未设置打印机" in text, text
    saved = list((tmp_path / "pc" / "prints").glob("visit_note-*.pdf"))
    assert len(saved) == 1 and str(saved[0]) in text, (saved, text)


def test_finishing_a_visit_with_an_unsigned_note_reminds_the_doctor(
    qtbot: QtBot, window: Any, runtime: Any, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers: list[str | None] = [None, "finish"]
    asked: list[str] = []

    def ask(cls: Any, parent: Any = None, **kw: Any) -> str | None:
        asked.append(kw["patient"])
        return answers.pop(0)

    monkeypatch.setattr(UnsignedNoteDialog, "ask", classmethod(ask))
    ready(qtbot, window, runtime)
    call_and_start(qtbot, window)
    data = window.consult.data
    window.consult.note.edits["chief_complaint"].setPlainText("咽痛一天")
    window.activateWindow()

    qtbot.keyClick(window, Qt.Key.Key_F9)
    assert asked == [data.patient.name], "F9 asks before finishing a visit whose note is unsigned"
    qtbot.wait(300)
    assert not [e for e in runtime.store.outbox() if e.name == "queue.finish"], "'go back' finishes nothing"

    qtbot.keyClick(window, Qt.Key.Key_F9)
    assert len(asked) == 2
    day = window.day
    qtbot.waitUntil(lambda: any(r.ticket.status == "done" for r in day.seen_model.rows()), timeout=20_000)
    assert [e for e in runtime.store.outbox() if e.name == "emr.save"], "the draft is kept"


def test_the_unsigned_note_dialog_offers_sign_finish_anyway_or_back(qtbot: QtBot) -> None:
    dialog = UnsignedNoteDialog(None, lang="zh_CN", patient="张三丰")
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.sign_button.isDefault()
    qtbot.wait(50)
    save_screenshot(dialog, "workstation_unsigned_note_dialog")
    qtbot.mouseClick(dialog.finish_button, Qt.MouseButton.LeftButton)
    assert dialog.choice == "finish"
