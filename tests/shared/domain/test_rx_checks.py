"""The prescription checks on real drugs: allergy, duplicates, days, controlled classes, rights, dose, age."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from shared.domain.prescribing import edit_line
from shared.domain.rx_checks import (
    Finding,
    acknowledge,
    check_prescription,
    ensure_signable,
    ingredient,
    needs_acknowledgement,
    ready_to_sign,
)
from shared.domain.rx_rules import default_rules, load_rules
from shared.errors import BusinessRuleViolation
from tests.shared.domain.rx_fixtures import draft, line, patient, prescriber

NARCOTIC_RIGHTS = ("ordinary", "narcotic", "psychotropic1", "psychotropic2")


def codes(findings: list[Finding]) -> list[tuple[str, str, int | None]]:
    return [(f.level, f.code, f.line_index) for f in findings]


def test_an_ordinary_prescription_within_the_rules_has_no_findings() -> None:
    rx = draft(line("布洛芬缓释胶囊"), line("盐酸氨溴索片"), line("蒙脱石散", days=7))
    assert check_prescription(rx) == []


@pytest.mark.parametrize(
    ("allergy", "drug_name"),
    [
        ("青霉素", "阿莫西林胶囊"),
        ("青霉素类", "注射用哌拉西林钠他唑巴坦钠"),
        ("青霉素过敏", "注射用氨苄西林钠"),
        ("头孢类", "头孢克洛胶囊"),
        ("磺胺类", "复方磺胺甲噁唑片"),
        ("阿司匹林", "阿司匹林肠溶片"),
        ("布洛芬", "布洛芬缓释胶囊"),
    ],
)
def test_an_allergy_blocks_the_drugs_of_its_class(allergy: str, drug_name: str) -> None:
    rx = draft(line(drug_name), pat=patient(allergies=(allergy,)))
    allergy_findings = [f for f in check_prescription(rx) if f.code == "rx.allergy"]
    assert [(f.level, f.line_index) for f in allergy_findings] == [("block", 0)]
    assert allergy in allergy_findings[0].message


@pytest.mark.parametrize("drug_name", ["阿奇霉素片", "头孢克洛胶囊", "硫酸庆大霉素注射液"])
def test_a_penicillin_allergy_leaves_other_classes_alone(drug_name: str) -> None:
    rx = draft(line(drug_name), pat=patient(allergies=("青霉素", "无")))
    assert "rx.allergy" not in [f.code for f in check_prescription(rx)]


def test_the_same_drug_twice_blocks_and_the_same_ingredient_twice_warns() -> None:
    rx = draft(line("头孢克洛胶囊"), line("头孢克洛缓释片"), line("头孢克洛胶囊"))
    assert codes(check_prescription(rx)) == [
        ("warn", "rx.duplicate_ingredient", 1),
        ("block", "rx.duplicate_drug", 2),
    ]
    assert ingredient("注射用头孢曲松钠") == "头孢曲松钠"
    assert ingredient("盐酸莫西沙星氯化钠注射液") == ingredient("盐酸莫西沙星片") == "莫西沙星"


def test_tablets_with_eye_drops_of_the_same_ingredient_are_not_a_duplicate() -> None:
    rx = draft(line("左氧氟沙星片"), line("左氧氟沙星滴眼液"))
    assert check_prescription(rx) == []


def test_more_than_five_drugs_blocks() -> None:
    names = ["布洛芬缓释胶囊", "盐酸氨溴索片", "蒙脱石散", "阿奇霉素片", "头孢克洛胶囊", "复方甘草酸苷片"]
    assert codes(check_prescription(draft(*(line(n) for n in names[:5])))) == []
    assert codes(check_prescription(draft(*(line(n) for n in names)))) == [
        ("block", "rx.too_many_drugs", None)
    ]


@pytest.mark.parametrize(
    ("rx_type", "days", "blocked"),
    [
        ("ordinary", 7, False),
        ("ordinary", 8, True),
        ("emergency", 3, False),
        ("emergency", 4, True),
        ("chronic", 30, False),
        ("chronic", 31, True),
    ],
)
def test_days_of_supply_follow_the_type(rx_type: str, days: int, blocked: bool) -> None:
    rx = draft(line("盐酸氨溴索片", days=days), rx_type=rx_type)  # type: ignore[arg-type]
    found = codes(check_prescription(rx))
    assert found == ([("block", "rx.days_exceeded", 0)] if blocked else [])


def test_a_narcotic_on_an_ordinary_prescription_is_blocked_and_needs_the_right() -> None:
    rx = draft(line("布洛芬缓释胶囊"), line("盐酸吗啡片"))
    assert codes(check_prescription(rx)) == [
        ("block", "rx.class_not_allowed", 1),
        ("block", "rx.no_right", 1),
    ]
    message = check_prescription(rx)[0].message
    assert "麻醉药品" in message and "拆分" in message


def test_a_narcotic_prescription_by_a_doctor_with_the_right_passes() -> None:
    rx = draft(line("盐酸吗啡片"), rx_type="narcotic", doctor=prescriber(*NARCOTIC_RIGHTS))
    assert check_prescription(rx) == []
    without = draft(line("盐酸吗啡片"), rx_type="narcotic", doctor=prescriber("ordinary", "psychotropic2"))
    assert codes(check_prescription(without)) == [("block", "rx.no_right", 0)]


def test_narcotic_days_are_one_for_injections_and_seven_for_controlled_release() -> None:
    doctor = prescriber(*NARCOTIC_RIGHTS)
    injection = draft(line("盐酸吗啡注射液", days=2), rx_type="narcotic", doctor=doctor)
    assert codes(check_prescription(injection)) == [("block", "rx.days_exceeded", 0)]
    assert "一次常用量" in check_prescription(injection)[0].message
    slow = draft(
        line("盐酸羟考酮缓释片", days=7), line("盐酸吗啡片", days=4), rx_type="narcotic", doctor=doctor
    )
    assert codes(check_prescription(slow)) == [("block", "rx.days_exceeded", 1)]


def test_a_psychotropic_ii_drug_needs_its_own_prescription() -> None:
    doctor = prescriber("ordinary", "psychotropic2")
    assert codes(check_prescription(draft(line("地西泮片"), doctor=doctor))) == [
        ("block", "rx.class_not_allowed", 0)
    ]
    assert check_prescription(draft(line("地西泮片"), rx_type="psychotropic2", doctor=doctor)) == []
    # An ordinary drug on a psychotropic II prescription is just as wrong.
    mixed = draft(line("地西泮片"), line("布洛芬缓释胶囊"), rx_type="psychotropic2", doctor=doctor)
    assert codes(check_prescription(mixed)) == [("block", "rx.class_not_allowed", 1)]


def test_a_dose_above_the_maximum_blocks_and_below_the_minimum_warns_for_adults_only() -> None:
    high = draft(edit_line(line("阿莫西林胶囊", dose=Decimal("1.5")), skin_test_result="negative"))
    assert codes(check_prescription(high)) == [("block", "rx.dose_above", 0)]
    low_line = edit_line(
        line("阿莫西林胶囊"), dose=Decimal("125"), dose_unit="mg", skin_test_result="negative"
    )
    assert codes(check_prescription(draft(low_line))) == [("warn", "rx.dose_below", 0)]
    assert check_prescription(draft(low_line, pat=patient(age=6))) == []


def test_a_quantity_beyond_the_days_needs_a_warning() -> None:
    more = edit_line(line("盐酸氨溴索片", days=3), quantity=4)
    assert codes(check_prescription(draft(more))) == [("warn", "rx.quantity_above_need", 0)]
    assert check_prescription(draft(edit_line(line("盐酸氨溴索片", days=3), quantity=1))) == []


@pytest.mark.parametrize(
    ("drug_name", "age", "expected"),
    [
        ("左氧氟沙星片", 17, [("block", "age.quinolone", 0)]),
        ("左氧氟沙星片", 18, []),
        ("盐酸莫西沙星片", 10, [("block", "age.quinolone", 0)]),
        ("左氧氟沙星滴眼液", 10, []),
        ("盐酸多西环素片", 7, [("block", "age.tetracycline", 0)]),
        ("盐酸多西环素片", 8, []),
        ("阿司匹林肠溶片", 15, [("warn", "age.aspirin", 0)]),
        ("阿司匹林肠溶片", 16, []),
    ],
)
def test_age_rules_apply_to_systemic_use_below_the_age(
    drug_name: str, age: int, expected: list[tuple[str, str, int]]
) -> None:
    found = [
        c for c in codes(check_prescription(draft(line(drug_name), pat=patient(age=age)))) if "age" in c[1]
    ]
    assert found == expected


def test_a_paediatric_prescription_is_for_children_under_fourteen() -> None:
    assert (
        check_prescription(draft(line("盐酸氨溴索口服溶液"), rx_type="paediatric", pat=patient(age=13))) == []
    )
    found = codes(
        check_prescription(draft(line("盐酸氨溴索口服溶液"), rx_type="paediatric", pat=patient(age=14)))
    )
    assert found == [("block", "rx.paediatric_age", None)]


def test_skin_test_pending_warns_positive_blocks_negative_passes() -> None:
    base = line("阿莫西林胶囊")
    assert codes(check_prescription(draft(base))) == [("warn", "rx.skin_test_pending", 0)]
    positive = edit_line(base, skin_test_result="positive")
    assert codes(check_prescription(draft(positive))) == [("block", "rx.skin_test_positive", 0)]
    assert check_prescription(draft(edit_line(base, skin_test_result="negative"))) == []


def test_warnings_need_a_recorded_acknowledgement_before_signing() -> None:
    rx = draft(line("阿莫西林胶囊"), line("阿司匹林肠溶片"), pat=patient(age=15))
    findings = check_prescription(rx)
    assert {f.level for f in findings} == {"warn"}
    assert not ready_to_sign(findings, [])
    with pytest.raises(BusinessRuleViolation) as caught:
        ensure_signable(findings, [])
    assert caught.value.code == "rx_unacknowledged"
    at = dt.datetime(2026, 11, 22, 9, 20)
    acks = acknowledge(findings[:1], "staff-doctor1", at)
    assert [(a.code, a.line_index, a.staff_id, a.at) for a in acks] == [
        (findings[0].code, findings[0].line_index, "staff-doctor1", at)
    ]
    assert needs_acknowledgement(findings, acks) == findings[1:]
    acks += acknowledge(findings[1:], "staff-doctor1", at)
    assert ready_to_sign(findings, acks)
    ensure_signable(findings, acks)


def test_a_blocking_finding_stops_signing_even_when_acknowledged() -> None:
    findings = check_prescription(draft(line("阿莫西林胶囊"), pat=patient(allergies=("青霉素",))))
    acks = acknowledge(findings, "staff-doctor1", dt.datetime(2026, 11, 22, 9, 20))
    assert not ready_to_sign(findings, acks)
    with pytest.raises(BusinessRuleViolation) as caught:
        ensure_signable(findings, acks, lang="en")
    assert caught.value.code == "rx_blocked"
    assert "cannot be signed" in caught.value.message


def test_messages_come_in_the_users_language() -> None:
    rx = draft(line("阿莫西林胶囊"), pat=patient(allergies=("青霉素",)))
    english = check_prescription(rx, lang="en")
    assert english[0].message.startswith("The patient is allergic to 青霉素")
    assert "Amoxicillin" in english[0].message
    chinese = check_prescription(rx)[0]
    assert chinese.in_language("zh_TW").startswith("患者有青霉素過敏史")
    assert chinese.in_language("zh_CN") == chinese.message


def test_the_rule_table_is_data_that_changes_the_findings(tmp_path: Path) -> None:
    rx = draft(line("盐酸氨溴索片", days=10))
    assert codes(check_prescription(rx)) == [("block", "rx.days_exceeded", 0)]
    data = json.loads(default_rules().model_dump_json())
    data["types"]["ordinary"]["max_days"] = 10
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert check_prescription(rx, load_rules(path)) == []
    assert check_prescription(rx, load_rules(path)) == check_prescription(rx, load_rules(path))


def test_a_rule_table_missing_a_type_is_refused(tmp_path: Path) -> None:
    data = json.loads(default_rules().model_dump_json())
    del data["types"]["toxic"]
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="toxic"):
        load_rules(path)
