"""Reference data from the CSV files in ``shared/demo_data``: drugs, dictionaries, ICD-10, exam items."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from shared.domain.code_sets import SITE_SETTINGS_ID, diagnosis_id
from shared.domain.entities import (
    DEFAULT_CODE_SET,
    Diagnosis,
    Drug,
    ExamItem,
    Frequency,
    Route,
    RxRuleSet,
    SiteSettings,
)
from shared.domain.prices import BEFORE_ANY_CHANGE
from shared.domain.rx_checks import ingredient
from shared.domain.rx_rule_sets import SHIPPED_VERSION_ID, table_json
from shared.domain.rx_rules import default_rules
from shared.domain.search_keys import pinyin_initials
from shared.ids import reference_id


def read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("shared.demo_data").joinpath(name).read_text(encoding="utf-8")
    return [
        {k: (v or "").strip() for k, v in row.items()}
        for row in csv.DictReader(io.StringIO(text, newline=""))
    ]


def _dec(value: str) -> Decimal | None:
    return Decimal(value) if value else None


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "y")


def drug_from_row(row: dict[str, str], *, code: str | None = None, **overrides: Any) -> Drug:
    code = code or row["code"]
    data: dict[str, Any] = {
        "id": reference_id("drug", code),
        "code": code,
        "generic_name": row["generic_name"],
        "trade_name": row.get("trade_name", ""),
        "english_name": row.get("english_name", ""),
        "pinyin": pinyin_initials(row["generic_name"]),
        "spec": row["spec"],
        "form": row["form"],
        "pack_unit": row["pack_unit"],
        "pack_qty": int(row["pack_qty"]),
        "min_unit": row["min_unit"],
        "dose_per_min_unit": Decimal(row["dose_per_min_unit"]),
        "dose_unit": row["dose_unit"],
        "default_dose": Decimal(row["default_dose"]),
        "default_route": row["default_route"],
        "default_frequency": row["default_frequency"],
        "price": Decimal(row["price"]),
        "controlled_class": row.get("controlled_class") or "none",
        "internet_rx_restricted": _flag(row.get("internet_rx_restricted", "0")),
        "dose_min": _dec(row.get("dose_min", "")),
        "dose_max": _dec(row.get("dose_max", "")),
        "skin_test": _flag(row.get("skin_test", "0")),
        "min_stock": int(row.get("min_stock") or 0),
    }
    data["active_ingredients"] = _ingredients().get(row["code"]) or [ingredient(row["generic_name"])]
    data.update(overrides)
    return Drug.model_validate(data)


@lru_cache(maxsize=1)
def _ingredients() -> dict[str, list[str]]:
    """Combination products' active ingredients by drug code (``drug_ingredients.csv``)."""
    return {
        row["code"]: [p.strip() for p in row["active_ingredients"].split(";") if p.strip()]
        for row in read_csv("drug_ingredients.csv")
    }


def drugs() -> Iterator[Drug]:
    for row in read_csv("drugs.csv"):
        yield drug_from_row(row)


def frequencies() -> Iterator[Frequency]:
    for row in read_csv("frequencies.csv"):
        yield Frequency(
            id=reference_id("frequency", row["code"]),
            code=row["code"],
            name_zh=row["name_zh"],
            name_en=row.get("name_en", ""),
            times_per_day=Decimal(row["times_per_day"]),
            interval_days=int(float(row.get("interval_days") or 1)),
            plain_zh=row.get("plain_zh", ""),
        )


def routes() -> Iterator[Route]:
    for row in read_csv("routes.csv"):
        yield Route(
            id=reference_id("route", row["code"]),
            code=row["code"],
            name_zh=row["name_zh"],
            name_en=row.get("name_en", ""),
            plain_zh=row.get("plain_zh", ""),
            is_injection=_flag(row.get("is_injection", "0")),
        )


def diagnoses() -> Iterator[Diagnosis]:
    for row in read_csv("icd10.csv"):
        yield Diagnosis(
            id=diagnosis_id(DEFAULT_CODE_SET, row["code"]),
            code=row["code"],
            code_set=DEFAULT_CODE_SET,
            name_zh=row["name_zh"],
            name_en=row.get("name_en", ""),
            pinyin=pinyin_initials(row["name_zh"]),
        )


def site_settings() -> SiteSettings:
    """The demo site uses the demo diagnoses' code set."""
    return SiteSettings(id=SITE_SETTINGS_ID, diagnosis_code_set=DEFAULT_CODE_SET)


def rx_rule_set() -> RxRuleSet:
    """The shipped prescription rules as the first dated version, in effect since before any change."""
    return RxRuleSet(
        id=SHIPPED_VERSION_ID,
        effective_from=BEFORE_ANY_CHANGE,
        rules=table_json(default_rules()),
        note="shared/demo_data/rx_rules.json",
    )


def exam_items() -> Iterator[ExamItem]:
    for row in read_csv("exam_items.csv"):
        yield ExamItem(
            id=reference_id("exam_item", row["code"]),
            code=row["code"],
            kind=row["kind"],  # type: ignore[arg-type]
            name_zh=row["name_zh"],
            name_en=row.get("name_en", ""),
            pinyin=pinyin_initials(row["name_zh"]),
            specimen_or_site=row.get("specimen_or_site", ""),
            department=row.get("department", ""),
            price=Decimal(row.get("price") or "0"),
        )
