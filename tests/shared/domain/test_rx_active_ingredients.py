"""Duplicates by active ingredient (reference data), not by name: combination products share theirs."""

from __future__ import annotations

from shared.domain.rx_checks import active_ingredients, check_prescription
from tests.shared.domain.rx_fixtures import draft, line


def test_plain_amoxicillin_and_amoxicillin_with_clavulanate_are_a_duplicate_ingredient() -> None:
    rx = draft(line("阿莫西林胶囊"), line("阿莫西林克拉维酸钾片"))
    findings = [f for f in check_prescription(rx) if f.code == "rx.duplicate_ingredient"]
    assert [(f.level, f.line_index) for f in findings] == [("warn", 1)]
    assert "阿莫西林" in findings[0].message and "克拉维酸" not in findings[0].params["ingredient"]


def test_the_reference_data_lists_a_combination_products_ingredients() -> None:
    assert active_ingredients(line("阿莫西林克拉维酸钾片")) == ("阿莫西林", "克拉维酸钾")
    assert active_ingredients(line("阿莫西林胶囊")) == ("阿莫西林",)
    assert line("阿莫西林克拉维酸钾片").drug.active_ingredients == ("阿莫西林", "克拉维酸钾")


def test_a_combination_shares_an_ingredient_with_either_single_product() -> None:
    rx = draft(line("氢氯噻嗪片"), line("厄贝沙坦氢氯噻嗪片"))
    found = [(f.code, f.line_index) for f in check_prescription(rx)]
    assert ("rx.duplicate_ingredient", 1) in found


def test_different_ingredients_are_not_a_duplicate() -> None:
    rx = draft(line("阿莫西林胶囊"), line("布洛芬缓释胶囊"))
    assert "rx.duplicate_ingredient" not in [f.code for f in check_prescription(rx)]
