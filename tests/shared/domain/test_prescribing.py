"""Prescription lines on real drugs: quantity to dispense, usage text, editing, splitting and totals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from shared.domain.prescribing import (
    PrescriptionDraft,
    administrations,
    age_text_zh,
    age_years,
    compute_quantity,
    edit_line,
    plain_usage_zh,
    split_lines,
    total_amount,
    usage_zh,
)
from shared.errors import ValidationFailed
from tests.shared.domain.rx_fixtures import draft, drug, frequency_table, line, route_table

F = frequency_table


@pytest.mark.parametrize(
    ("days", "packs"),
    [(1, 1), (4, 1), (5, 2), (7, 2), (8, 2), (9, 3)],
)
def test_amoxicillin_quantity_is_capsules_over_days_rounded_up_to_boxes(days: int, packs: int) -> None:
    # 0.5 g = 2 capsules of 0.25 g, three times a day; a box holds 24 capsules.
    amoxicillin = drug("阿莫西林胶囊")
    assert compute_quantity(amoxicillin, Decimal("0.5"), F()["tid"], days) == packs


def test_a_dose_in_milligrams_or_in_capsules_gives_the_same_quantity() -> None:
    amoxicillin = drug("阿莫西林胶囊")
    in_g = compute_quantity(amoxicillin, Decimal("0.5"), F()["tid"], 7)
    assert compute_quantity(amoxicillin, Decimal("500"), F()["tid"], 7, dose_unit="mg") == in_g
    assert compute_quantity(amoxicillin, Decimal("2"), F()["tid"], 7, dose_unit="粒") == in_g


def test_an_injection_uses_whole_vials_per_administration() -> None:
    # 240万U from 160万U vials takes 2 vials each time (an opened vial is not kept): 2 × 2/day × 3 days.
    penicillin = drug("注射用青霉素钠")
    assert compute_quantity(penicillin, Decimal("240"), F()["bid"], 3) == 12


def test_a_half_tablet_is_allowed_and_the_total_rounds_up() -> None:
    # Diazepam 2.5 mg tablets, 100 per bottle: 1.25 mg = half a tablet nightly for 7 days → 3.5 tablets → 1 bottle.
    diazepam = drug("地西泮片")
    assert compute_quantity(diazepam, Decimal("1.25"), F()["qn"], 7) == 1
    assert plain_usage_zh(line("地西泮片", dose=Decimal("1.25"), frequency="qn")).endswith("每次半片")


@pytest.mark.parametrize(
    ("days", "patches", "boxes"),
    [(3, 1, 1), (7, 3, 1), (15, 5, 1), (16, 6, 2)],
)
def test_a_72_hour_patch_counts_one_patch_per_started_interval(days: int, patches: int, boxes: int) -> None:
    fentanyl = drug("芬太尼透皮贴剂")
    assert administrations(F()["q72h"], days) == patches
    assert compute_quantity(fentanyl, Decimal(1), F()["q72h"], days) == boxes


def test_weekly_and_twice_weekly_frequencies_count_per_week() -> None:
    assert administrations(F()["qw"], 28) == 4
    assert administrations(F()["qw"], 29) == 5
    assert administrations(F()["biw"], 14) == 4
    assert administrations(F()["qod"], 7) == 4
    # Alendronate 70 mg weekly, 4 tablets a box: 4 weeks is one box, 5 weeks two.
    assert compute_quantity(drug("阿仑膦酸钠片"), Decimal(70), F()["qw"], 28) == 1
    assert compute_quantity(drug("阿仑膦酸钠片"), Decimal(70), F()["qw"], 35) == 2


def test_st_is_a_single_administration_whatever_the_days() -> None:
    assert administrations(F()["st"], 7) == 1
    assert compute_quantity(drug("盐酸吗啡注射液"), Decimal(10), F()["st"], 3) == 1


def test_a_dose_unit_that_cannot_convert_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        compute_quantity(drug("阿莫西林胶囊"), Decimal(5), F()["tid"], 3, dose_unit="ml")
    assert caught.value.code == "dose_unit_mismatch"


def test_a_new_line_takes_the_drugs_default_usage() -> None:
    amoxicillin = line("阿莫西林胶囊", days=7)
    assert (amoxicillin.dose, amoxicillin.dose_unit) == (Decimal("0.5"), "g")
    assert (amoxicillin.route.code, amoxicillin.frequency.code) == ("po", "tid")
    assert amoxicillin.quantity == 2 and not amoxicillin.quantity_overridden
    assert amoxicillin.skin_test  # amoxicillin carries the skin-test flag in the drug table


def test_plain_usage_reads_as_the_pharmacy_label_says_it() -> None:
    assert plain_usage_zh(line("阿莫西林胶囊")) == "口服，每日3次，每次2粒"
    assert plain_usage_zh(line("阿莫西林胶囊", days=5), with_days=True) == "口服，每日3次，每次2粒，共5天"
    assert plain_usage_zh(line("注射用青霉素钠")) == "静脉滴注，每日2次，每次320万U"
    assert plain_usage_zh(line("盐酸吗啡注射液", frequency="st"), with_days=True) == "皮下注射，立即，10mg"
    assert usage_zh(line("阿莫西林胶囊", days=7)) == "每次0.5g  口服  每日三次  ×7天"


def test_a_quantity_override_holds_until_the_order_changes() -> None:
    original = line("阿莫西林胶囊", days=7)
    overridden = edit_line(original, quantity=5)
    assert (overridden.quantity, overridden.quantity_overridden) == (5, True)
    assert edit_line(overridden, note="饭后服用").quantity == 5
    longer = edit_line(overridden, days=9)
    assert (longer.quantity, longer.quantity_overridden) == (3, False)
    assert edit_line(original, dose=Decimal("0.25")).quantity == 1


def test_split_puts_controlled_drugs_on_their_own_type_and_at_most_five_per_prescription() -> None:
    names = [
        "阿莫西林胶囊",
        "盐酸吗啡片",
        "布洛芬缓释胶囊",
        "盐酸氨溴索片",
        "地西泮片",
        "蒙脱石散",
        "头孢克洛胶囊",
        "阿奇霉素片",
        "硫酸吗啡缓释片",
    ]
    lines = [line(n) for n in names]
    groups = split_lines(lines, "emergency")
    assert [(g.rx_type, g.indexes) for g in groups] == [
        ("emergency", (0, 2, 3, 5, 6)),
        ("emergency", (7,)),
        ("narcotic", (1, 8)),
        ("psychotropic2", (4,)),
    ]
    assert [line.drug.generic_name for line in groups[2].lines] == ["盐酸吗啡片", "硫酸吗啡缓释片"]
    assert sum(len(g.lines) for g in groups) == len(lines)


def test_total_amount_is_price_times_quantity_to_the_cent() -> None:
    lines = [line("阿莫西林胶囊", days=7), line("布洛芬缓释胶囊")]
    expected = sum(l_.drug.price * l_.quantity for l_ in lines)
    assert total_amount(lines) == expected.quantize(Decimal("0.01"))
    assert draft(*lines).amount == total_amount(lines)


def test_age_counts_completed_years_and_prints_months_for_infants() -> None:
    on = dt.date(2026, 11, 22)
    assert age_years(dt.date(2012, 11, 22), on) == 14
    assert age_years(dt.date(2012, 11, 23), on) == 13
    assert age_text_zh(dt.date(1990, 1, 1), on) == "36岁"
    assert age_text_zh(dt.date(2026, 3, 10), on) == "8月"
    assert age_text_zh(dt.date(2025, 3, 10), on) == "1岁8月"
    assert age_text_zh(dt.date(2024, 8, 1), on) == "2岁3月"
    assert age_text_zh(dt.date(2026, 11, 10), on) == "12天"


def test_a_draft_round_trips_through_json() -> None:
    original = draft(line("阿莫西林胶囊", days=7), line("盐酸吗啡片"), rx_type="ordinary")
    again = PrescriptionDraft.model_validate_json(original.model_dump_json())
    assert again == original
    assert again.signed_content() == original.signed_content()
    assert route_table()["po"].name_zh == again.lines[0].route.name_zh
