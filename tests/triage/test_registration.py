"""Registering a walk-in at the desk: the ID number fills in sex and birth date, contradictions and every
refusal stay in the dialog next to their field with nothing lost, no defaults, allergies as three facts;
and the server applies the same identity rule to what a PC pushes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.domain.entities import Patient
from shared.domain.identity import check_char
from tests.gui.conftest import save_screenshot
from tests.support.api import ApiUser
from tests.support.server import ServerProcess
from tests.triage.test_desk_flow import choose, open_desk
from triage_desk.registration import RegisterDialog

MALE = "11010519850715003"
MALE_ID = MALE + check_char(MALE)  # born 1985-07-15, a man


def fresh_id(seed: int, birth: dt.date, male: bool) -> str:
    """A valid resident ID number nobody in the demo data has."""
    body = f"65010{seed % 10}{birth:%Y%m%d}{seed % 90 + 10}{1 if male else 2}"
    return body + check_char(body)


def test_the_dialog_has_no_defaults_and_room_for_eighteen_digits(qtbot: QtBot) -> None:
    dialog = RegisterDialog(None, "zh_CN", today=dt.date(2026, 12, 6))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.sex() is None and dialog.birth_edit.text() == ""  # not female, not 1980-01-01
    assert dialog.allergy_status() == "not_asked"
    dialog.id_edit.setText(MALE_ID)
    shown = dialog.id_edit.fontMetrics().horizontalAdvance(MALE_ID)
    assert dialog.id_edit.width() > shown + 10  # all 18 characters visible
    problems = RegisterDialog(None, "zh_CN").problems()
    assert {"name", "sex", "birth_date"} <= set(problems)


def test_a_valid_id_number_fills_in_sex_and_birth_date(qtbot: QtBot) -> None:
    dialog = RegisterDialog(None, "zh_CN", today=dt.date(2026, 12, 6))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.id_edit, MALE_ID)
    assert dialog.sex() == "M" and dialog.birth_edit.text() == "1985-07-15"
    assert dialog.hint.text() == "已按身份证号填入性别和出生日期"
    legacy = RegisterDialog(None, "zh_CN", today=dt.date(2026, 12, 6))
    qtbot.addWidget(legacy)
    legacy.id_edit.setText("110105491231002")  # 15 digits (before 1999): 1949-12-31, a woman
    assert legacy.sex() == "F" and legacy.birth_edit.text() == "1949-12-31"


def test_a_passport_is_taken_as_typed_without_resident_id_rules(qtbot: QtBot) -> None:
    dialog = RegisterDialog(None, "en", today=dt.date(2026, 12, 6))
    qtbot.addWidget(dialog)
    choose(dialog.id_type_combo, "passport")
    dialog.id_edit.setText("E12345678")
    assert dialog.sex() is None and not dialog.errors["id_number"].isVisible()
    dialog.name_edit.setText("John Smith")
    choose(dialog.sex_combo, "M")
    dialog.birth_edit.setText("19800215")  # typed without dashes
    assert dialog.problems() == {}
    values = dialog.values()
    assert (values["id_type"], values["id_number"], values["birth_date"]) == (
        "passport",
        "E12345678",
        "1980-02-15",
    )
    assert values["allergy_status"] == "not_asked" and values["allergies"] == []


def test_a_contradiction_is_shown_next_to_its_field_and_refused(qtbot: QtBot) -> None:
    dialog = RegisterDialog(None, "zh_CN", today=dt.date(2026, 12, 6))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.name_edit.setText("欧阳修")
    choose(dialog.sex_combo, "F")  # typed before the number: a male ID saved as female
    dialog.birth_edit.setText("1980-01-01")
    dialog.id_edit.setText(MALE_ID)
    assert dialog.errors["sex"].isVisible() and "男" in dialog.errors["sex"].text()
    assert "1985-07-15" in dialog.errors["birth_date"].text()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.values_sent is None
    dialog.resize(640, dialog.sizeHint().height())
    save_screenshot(dialog, "triage_register_id_mismatch")
    choose(dialog.sex_combo, "M")
    dialog.birth_edit.setText("1985-07-15")
    assert not dialog.errors["sex"].isVisible() and not dialog.errors["birth_date"].isVisible()
    bad = MALE_ID[:-1] + ("0" if MALE_ID[-1] != "0" else "1")
    dialog.id_edit.setText(bad)
    assert "校验位" in dialog.errors["id_number"].text()


def test_a_male_id_typed_as_female_is_refused_in_the_dialog_and_the_fixed_one_registers(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess, tmp_path: Path
) -> None:
    pc = make_pc()
    window = open_desk(qtbot, pc)
    screen = window.check_in
    id_number = fresh_id(7, dt.date(1978, 4, 9), male=True)

    qtbot.mouseClick(screen.register_button, Qt.MouseButton.LeftButton)
    dialog = screen.register_dialog
    assert dialog is not None
    dialog.name_edit.setText("诸葛明")
    choose(dialog.sex_combo, "F")
    dialog.birth_edit.setText("1978-04-09")
    dialog.id_edit.setText(id_number)
    dialog.phone_edit.setText("13800001111")
    dialog.allergy_buttons["listed"].setChecked(True)
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)  # allergies "listed" but none typed
    assert dialog.isVisible() and dialog.errors["allergies"].isVisible()
    assert dialog.errors["sex"].isVisible()
    dialog.allergy_edit.insert("青霉素、磺胺类")  # an input method types it
    choose(dialog.sex_combo, "M")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
    patient_id = (dialog.values_sent or {})["id"]
    stored = pc.runtime.store.get(Patient, patient_id)
    assert stored is not None and (stored.sex, stored.birth_date) == ("M", dt.date(1978, 4, 9))
    assert (stored.allergy_status, stored.allergies) == ("listed", ["磺胺类", "青霉素"])
    qtbot.waitUntil(lambda: pc.runtime.store.pending_count() == 0, timeout=20_000)
    assert pc.runtime.store.needs_attention_count() == 0

    # The same ID number again, at this desk: the duplicate is refused next to the ID field.
    qtbot.mouseClick(screen.register_button, Qt.MouseButton.LeftButton)
    again = screen.register_dialog
    assert again is not None and again is not dialog
    again.name_edit.setText("诸葛明")
    again.id_edit.setText(id_number)
    qtbot.mouseClick(again.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: again.errors["id_number"].isVisible(), timeout=10_000)
    assert "已登记" in again.errors["id_number"].text() and again.isVisible()
    assert again.name_edit.text() == "诸葛明" and again.id_edit.text() == id_number
    again.reject()


def test_the_server_refuses_a_pushed_registration_whose_sex_contradicts_the_id_number(
    triage_server: ServerProcess,
) -> None:
    """ "The server believes no PC": an old or tampered PC pushes the contradiction anyway."""
    nurse = ApiUser(triage_server.url, "nurse2")
    try:
        id_number = fresh_id(3, dt.date(1990, 2, 3), male=True)
        args = {"id": "srv-" + id_number, "name": "测试", "sex": "F", "birth_date": "1990-02-03"}
        outcome = nurse.push_one("patient.register", {**args, "id_number": id_number})
        assert outcome["status"] == "rejected" and outcome["code"] == "id_mismatch"
        assert "男" in outcome["message"]
        fixed = {**args, "id": "srv2-" + id_number, "sex": "M", "id_number": id_number}
        assert nurse.push_one("patient.register", fixed)["status"] == "applied"
    finally:
        nurse.close()
