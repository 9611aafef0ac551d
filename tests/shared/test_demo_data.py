"""Consistency checks for the demo reference data shipped in shared/demo_data."""

from __future__ import annotations

import csv
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "demo_data"

COLUMNS = {
    "drugs.csv": [
        "code",
        "generic_name",
        "trade_name",
        "english_name",
        "spec",
        "form",
        "pack_unit",
        "pack_qty",
        "min_unit",
        "dose_per_min_unit",
        "dose_unit",
        "default_dose",
        "default_route",
        "default_frequency",
        "price",
        "controlled_class",
        "internet_rx_restricted",
        "dose_min",
        "dose_max",
        "skin_test",
        "min_stock",
    ],
    "frequencies.csv": ["code", "name_zh", "name_en", "times_per_day", "interval_days", "plain_zh"],
    "routes.csv": ["code", "name_zh", "name_en", "plain_zh", "is_injection"],
    "icd10.csv": ["code", "name_zh", "name_en"],
    "exam_items.csv": ["code", "kind", "name_zh", "name_en", "specimen_or_site", "department", "price"],
}

CONTROLLED_CLASSES = {"none", "narcotic", "psychotropic1", "psychotropic2", "toxic", "precursor"}
DRUG_FORMS = {
    "片剂",
    "胶囊",
    "颗粒剂",
    "注射液",
    "注射用粉针",
    "口服溶液",
    "糖浆",
    "软膏",
    "乳膏",
    "滴眼液",
    "气雾剂",
    "吸入剂",
    "栓剂",
    "贴剂",
    "散剂",
    "丸剂",
    "滴鼻剂",
    "混悬液",
    "凝胶",
    "喷雾剂",
}
ICD10_CODE = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
CJK = re.compile(r"[\u4e00-\u9fff]")


def read_rows(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def read_header(name: str) -> list[str]:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


def as_number(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


@pytest.fixture(scope="module")
def drugs() -> list[dict[str, str]]:
    return read_rows("drugs.csv")


@pytest.fixture(scope="module")
def exams() -> list[dict[str, str]]:
    return read_rows("exam_items.csv")


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_each_file_has_the_required_columns(name: str) -> None:
    header = read_header(name)
    missing = [column for column in COLUMNS[name] if column not in header]
    assert not missing, f"{name} lacks {missing}"


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_every_row_has_as_many_fields_as_the_header(name: str) -> None:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as handle:
        lines = list(csv.reader(handle))
    width = len(lines[0])
    ragged = [number for number, line in enumerate(lines[1:], start=2) if len(line) != width]
    assert not ragged, f"{name} rows with a wrong field count: {ragged[:10]}"


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_codes_are_unique_within_each_file(name: str) -> None:
    codes = [row["code"] for row in read_rows(name)]
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    assert all(codes), f"{name} has an empty code"
    assert not duplicates, f"{name} repeats {duplicates}"


def test_the_catalogues_are_large_enough(drugs: list[dict[str, str]], exams: list[dict[str, str]]) -> None:
    assert len(drugs) >= 400
    assert len(read_rows("icd10.csv")) >= 300
    assert sum(row["kind"] == "lab" for row in exams) >= 60
    assert sum(row["kind"] == "imaging" for row in exams) >= 40


def test_drug_codes_follow_the_yp_pattern(drugs: list[dict[str, str]]) -> None:
    bad = [row["code"] for row in drugs if not re.fullmatch(r"YP\d{6}", row["code"])]
    assert not bad


def test_no_drug_is_listed_twice_with_the_same_spec(drugs: list[dict[str, str]]) -> None:
    keys = [(row["generic_name"], row["spec"]) for row in drugs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    assert not duplicates


def test_every_drug_uses_a_known_route_and_frequency(drugs: list[dict[str, str]]) -> None:
    routes = {row["code"] for row in read_rows("routes.csv")}
    frequencies = {row["code"] for row in read_rows("frequencies.csv")}
    unknown = [
        (row["code"], row["default_route"], row["default_frequency"])
        for row in drugs
        if row["default_route"] not in routes or row["default_frequency"] not in frequencies
    ]
    assert not unknown


def test_every_drug_has_an_allowed_form_and_controlled_class(drugs: list[dict[str, str]]) -> None:
    bad_forms = [row["code"] for row in drugs if row["form"] not in DRUG_FORMS]
    bad_classes = [row["code"] for row in drugs if row["controlled_class"] not in CONTROLLED_CLASSES]
    assert not bad_forms
    assert not bad_classes


def test_each_controlled_class_is_represented(drugs: list[dict[str, str]]) -> None:
    minimum = {"narcotic": 8, "psychotropic1": 4, "psychotropic2": 10, "toxic": 2, "precursor": 3}
    for controlled_class, count in minimum.items():
        found = sum(row["controlled_class"] == controlled_class for row in drugs)
        assert found >= count, f"{controlled_class}: {found} < {count}"


def test_controlled_drugs_are_never_prescribable_over_the_internet(drugs: list[dict[str, str]]) -> None:
    allowed = [
        row["code"]
        for row in drugs
        if row["controlled_class"] != "none" and row["internet_rx_restricted"] != "1"
    ]
    assert not allowed


def test_flag_columns_hold_zero_or_one(drugs: list[dict[str, str]]) -> None:
    bad = [
        row["code"]
        for row in drugs
        if row["internet_rx_restricted"] not in {"0", "1"} or row["skin_test"] not in {"0", "1"}
    ]
    assert not bad


@pytest.mark.parametrize("column", ["pack_qty", "dose_per_min_unit", "default_dose", "price"])
def test_drug_quantities_are_positive_numbers(drugs: list[dict[str, str]], column: str) -> None:
    bad = [
        (row["code"], row[column]) for row in drugs if (value := as_number(row[column])) is None or value <= 0
    ]
    assert not bad


def test_pack_quantity_and_minimum_stock_are_whole_numbers(drugs: list[dict[str, str]]) -> None:
    bad = [
        row["code"]
        for row in drugs
        if not row["pack_qty"].isdigit()
        or not row["min_stock"].isdigit()
        or not 5 <= int(row["min_stock"]) <= 100
    ]
    assert not bad


def test_prices_have_two_decimals(drugs: list[dict[str, str]], exams: list[dict[str, str]]) -> None:
    bad = [row["code"] for row in [*drugs, *exams] if not re.fullmatch(r"\d+\.\d{2}", row["price"])]
    assert not bad


def test_default_dose_lies_within_the_dose_range(drugs: list[dict[str, str]]) -> None:
    outside = []
    for row in drugs:
        if not row["dose_min"] and not row["dose_max"]:
            continue
        low, high = as_number(row["dose_min"]), as_number(row["dose_max"])
        dose = as_number(row["default_dose"])
        if low is None or high is None or dose is None or not low <= dose <= high:
            outside.append(row["code"])
    assert not outside


def test_many_drugs_carry_a_dose_range(drugs: list[dict[str, str]]) -> None:
    assert sum(bool(row["dose_min"]) for row in drugs) >= 60


def test_frequencies_give_a_positive_daily_count_and_interval() -> None:
    rows = read_rows("frequencies.csv")
    bad = [
        row["code"]
        for row in rows
        if (times := as_number(row["times_per_day"])) is None
        or times <= 0
        or (days := as_number(row["interval_days"])) is None
        or days <= 0
    ]
    assert not bad
    assert {
        "qd",
        "bid",
        "tid",
        "qid",
        "q6h",
        "q8h",
        "q12h",
        "qn",
        "qod",
        "qw",
        "biw",
        "tiw",
        "st",
        "prn",
    } <= {row["code"] for row in rows}


def test_routes_include_the_common_ways_of_giving_a_drug() -> None:
    rows = read_rows("routes.csv")
    assert len(rows) >= 20
    assert {
        "po",
        "iv",
        "ivgtt",
        "im",
        "ih",
        "id",
        "sl",
        "inh",
        "neb",
        "top",
        "eye",
        "ear",
        "nasal",
        "pr",
        "pv",
        "td",
        "gargle",
        "chew",
        "bucc",
    } <= {row["code"] for row in rows}
    assert all(row["is_injection"] in {"0", "1"} for row in rows)


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        ("drugs.csv", ["generic_name"]),
        ("frequencies.csv", ["name_zh", "plain_zh"]),
        ("routes.csv", ["name_zh", "plain_zh"]),
        ("icd10.csv", ["name_zh"]),
        ("exam_items.csv", ["name_zh"]),
    ],
)
def test_chinese_names_contain_chinese_characters(name: str, columns: list[str]) -> None:
    bad = [
        (row["code"], column) for row in read_rows(name) for column in columns if not CJK.search(row[column])
    ]
    assert not bad


@pytest.mark.parametrize("name", ["drugs.csv", "icd10.csv", "exam_items.csv"])
def test_english_names_are_filled_in(name: str) -> None:
    column = "english_name" if name == "drugs.csv" else "name_en"
    assert all(row[column].strip() for row in read_rows(name))


def test_icd10_codes_are_well_formed() -> None:
    bad = [row["code"] for row in read_rows("icd10.csv") if not ICD10_CODE.match(row["code"])]
    assert not bad


def test_exam_items_are_labs_or_imaging_with_matching_codes(exams: list[dict[str, str]]) -> None:
    pattern = {"lab": r"LAB\d{4}", "imaging": r"IMG\d{4}"}
    bad = [
        row["code"]
        for row in exams
        if row["kind"] not in pattern or not re.fullmatch(pattern[row["kind"]], row["code"])
    ]
    assert not bad
