"""The prescription rule table: limits per prescription type, controlled classes, allergens and age rules.

The table is data (``shared/demo_data/rx_rules.json`` ships the demo one); ``load_rules`` reads and
validates it. Doctors' checks and the pharmacy's review use the same table, so both see the same findings.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.domain.entities import ControlledClass, PrescribingRight

RxType = Literal["ordinary", "emergency", "paediatric", "chronic", "narcotic", "psychotropic2", "toxic"]
RX_TYPES: tuple[RxType, ...] = (
    "ordinary",
    "emergency",
    "paediatric",
    "chronic",
    "narcotic",
    "psychotropic2",
    "toxic",
)
# Types a doctor picks for ordinary drugs; the others follow from the drugs' controlled class.
BASE_TYPES: frozenset[RxType] = frozenset({"ordinary", "emergency", "paediatric", "chronic"})
Level = Literal["block", "warn"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TypeRule(_Rule):
    """What one prescription type allows and how it prints (band colour and corner label)."""

    max_days: int = Field(ge=1)
    default_days: int = Field(ge=1)
    classes: tuple[ControlledClass, ...]
    max_age_years: int | None = None
    band: str = Field(pattern=r"^#[0-9A-Fa-f]{6}$")
    label_zh: str
    label_en: str
    show_label: bool = True

    @model_validator(mode="after")
    def _default_within_limit(self) -> TypeRule:
        if self.default_days > self.max_days:
            raise ValueError(f"default_days {self.default_days} exceeds max_days {self.max_days}")
        return self


class ControlledDaysRule(_Rule):
    """A tighter days limit for some forms on a controlled type (injections, controlled release)."""

    types: tuple[RxType, ...]
    injection: bool | None = None
    name_pattern: str | None = None
    max_days: int = Field(ge=1)
    note: str = ""


class AllergenRule(_Rule):
    """An allergy written as any of ``words`` matches drugs whose names contain any of ``drug_patterns``."""

    allergen: str
    words: tuple[str, ...]
    drug_patterns: tuple[str, ...]


class AgeRule(_Rule):
    """Drugs whose name matches ``pattern`` (regex) are not for patients younger than ``under_years``."""

    code: str
    pattern: str
    under_years: int = Field(ge=1)
    level: Level
    systemic_only: bool = True
    reason_zh: str
    reason_en: str


class RuleTable(_Rule):
    version: str
    max_drugs_per_rx: int = Field(ge=1)
    types: dict[RxType, TypeRule]
    class_type: dict[ControlledClass, RxType]
    class_right: dict[ControlledClass, PrescribingRight]
    controlled_days: tuple[ControlledDaysRule, ...] = ()
    systemic_routes: frozenset[str] = frozenset()
    allergens: tuple[AllergenRule, ...] = ()
    age_rules: tuple[AgeRule, ...] = ()

    @model_validator(mode="after")
    def _complete(self) -> RuleTable:
        missing = [t for t in RX_TYPES if t not in self.types]
        if missing:
            raise ValueError(f"rule table lacks prescription types: {', '.join(missing)}")
        for cls, rx_type in self.class_type.items():
            if cls not in self.types[rx_type].classes:
                raise ValueError(f"class {cls} maps to type {rx_type}, which does not allow it")
        return self

    def type_rule(self, rx_type: RxType) -> TypeRule:
        return self.types[rx_type]


def load_rules(path: Path | None = None) -> RuleTable:
    """The rule table from ``path``, or the demo table shipped in ``shared/demo_data/rx_rules.json``."""
    if path is None:
        return default_rules()
    return RuleTable.model_validate(json.loads(path.read_text(encoding="utf-8")))


@functools.cache
def default_rules() -> RuleTable:
    text = resources.files("shared.demo_data").joinpath("rx_rules.json").read_text(encoding="utf-8")
    return RuleTable.model_validate(json.loads(text))
