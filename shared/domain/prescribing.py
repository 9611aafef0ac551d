"""Prescription drafts as plain values: lines with usage, quantity to dispense, splitting, totals.

No database and no Qt: the workstation builds a ``PrescriptionDraft`` from entities, the checks in
``shared.domain.rx_checks`` read it, ``shared.security.signing`` signs ``signed_content()`` and the
printing code lays it out. Everything here is a pydantic model that round-trips through JSON.

Quantity to dispense (``compute_quantity``): the dose (in the line's unit) is converted to the drug's
smallest unit (``dose_per_min_unit``), multiplied by the number of administrations over ``days`` and
divided by ``pack_qty``, rounded up to whole packs. Injections use a whole ampoule or vial per
administration (an opened one is not kept), tablets may be split. Interval frequencies (qod, biw, qw,
q2w, q72h) count administrations per interval: ``ceil(days / interval_days) × times per interval``;
``st`` is a single administration whatever the days; ``prn`` counts as its table rate (once a day).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, localcontext
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.entities import (
    AllergyStatus,
    ControlledClass,
    Drug,
    Frequency,
    Patient,
    PrescribingRight,
    Route,
    Sex,
    Staff,
)
from shared.domain.rx_rules import BASE_TYPES, RuleTable, RxType, default_rules
from shared.errors import ValidationFailed
from shared.i18n import DEFAULT_LANGUAGE, register, tr

SkinTestResult = Literal["pending", "negative", "positive", "continued"]
ONCE_FREQUENCIES = frozenset({"st"})
CENT = Decimal("0.01")

# Units a dose may be written in, as (family, factor to the family's base unit).
_UNITS: dict[str, tuple[str, Decimal]] = {
    "g": ("mass", Decimal(1_000_000)),
    "mg": ("mass", Decimal(1000)),
    "μg": ("mass", Decimal(1)),
    "µg": ("mass", Decimal(1)),
    "ug": ("mass", Decimal(1)),
    "mcg": ("mass", Decimal(1)),
    "L": ("volume", Decimal(1000)),
    "ml": ("volume", Decimal(1)),
    "mL": ("volume", Decimal(1)),
    "万U": ("unit", Decimal(10000)),
    "U": ("unit", Decimal(1)),
    "万IU": ("iu", Decimal(10000)),
    "IU": ("iu", Decimal(1)),
}

_TYPE_NAMES: dict[RxType, tuple[str, str, str]] = {
    "ordinary": ("普通处方", "Ordinary prescription", "普通處方"),
    "emergency": ("急诊处方", "Emergency prescription", "急診處方"),
    "paediatric": ("儿科处方", "Paediatric prescription", "兒科處方"),
    "chronic": ("长期处方", "Long-term prescription", "長期處方"),
    "narcotic": (
        "麻醉药品和第一类精神药品处方",
        "Narcotic / psychotropic I prescription",
        "麻醉藥品和第一類精神藥品處方",
    ),
    "psychotropic2": ("第二类精神药品处方", "Psychotropic II prescription", "第二類精神藥品處方"),
    "toxic": ("医疗用毒性药品处方", "Toxic drug prescription", "醫療用毒性藥品處方"),
}
_CLASS_NAMES: dict[ControlledClass, tuple[str, str, str]] = {
    "none": ("普通药品", "ordinary drug", "普通藥品"),
    "narcotic": ("麻醉药品", "narcotic", "麻醉藥品"),
    "psychotropic1": ("第一类精神药品", "psychotropic I", "第一類精神藥品"),
    "psychotropic2": ("第二类精神药品", "psychotropic II", "第二類精神藥品"),
    "toxic": ("医疗用毒性药品", "toxic drug", "醫療用毒性藥品"),
    "precursor": ("易制毒药品", "precursor chemical", "易製毒藥品"),
}
for _prefix, _names in (("rx.type", _TYPE_NAMES), ("rx.class", _CLASS_NAMES)):
    for _key, (_zh, _en, _tw) in _names.items():
        register(f"{_prefix}.{_key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})
register(
    "rx.dose_unit_mismatch",
    {
        "zh_CN": "{drug} 的剂量单位 {unit} 无法换算为 {drug_unit}",
        "en": "The dose unit {unit} of {drug} cannot be converted to {drug_unit}",
        "zh_TW": "{drug} 的劑量單位 {unit} 無法換算為 {drug_unit}",
    },
)
register(
    "rx.unknown_usage",
    {
        "zh_CN": "{drug} 的默认用法 {code} 不在字典中",
        "en": "The default usage {code} of {drug} is not in the dictionary",
        "zh_TW": "{drug} 的預設用法 {code} 不在字典中",
    },
)


def type_name(rx_type: RxType, lang: str = DEFAULT_LANGUAGE) -> str:
    return tr(f"rx.type.{rx_type}", lang)


def class_name(controlled_class: ControlledClass, lang: str = DEFAULT_LANGUAGE) -> str:
    return tr(f"rx.class.{controlled_class}", lang)


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DrugFacts(_Value):
    """The drug as it was when prescribed: what checks, quantity, usage text and printing need."""

    id: str
    code: str
    generic_name: str
    trade_name: str = ""
    english_name: str = ""
    spec: str
    form: str
    pack_unit: str
    pack_qty: int = Field(ge=1, le=100_000)
    min_unit: str
    dose_per_min_unit: Decimal = Field(gt=0, le=1_000_000)
    dose_unit: str
    default_dose: Decimal = Field(gt=0, le=1_000_000)
    default_route: str
    default_frequency: str
    price: Decimal = Field(ge=0, le=1_000_000)
    controlled_class: ControlledClass = "none"
    dose_min: Decimal | None = None
    dose_max: Decimal | None = None
    skin_test: bool = False
    # not part of what a signature covers (``PrescriptionDraft.signed_content`` lists its fields)
    active_ingredients: tuple[str, ...] = ()

    @classmethod
    def from_drug(cls, drug: Drug) -> DrugFacts:
        return cls.model_validate(drug.model_dump(include=set(cls.model_fields)))

    @property
    def whole_units_per_dose(self) -> bool:
        """Injections use whole ampoules or vials per administration."""
        return "注射" in self.form

    def display_name(self, lang: str = DEFAULT_LANGUAGE) -> str:
        return self.english_name if lang == "en" and self.english_name else self.generic_name


class FrequencyFacts(_Value):
    code: str
    name_zh: str
    name_en: str = ""
    times_per_day: Decimal = Field(ge=0, le=100)
    interval_days: int = Field(default=1, ge=1, le=366)
    plain_zh: str = ""

    @classmethod
    def from_frequency(cls, frequency: Frequency) -> FrequencyFacts:
        return cls.model_validate(frequency.model_dump(include=set(cls.model_fields)))


class RouteFacts(_Value):
    code: str
    name_zh: str
    name_en: str = ""
    plain_zh: str = ""
    is_injection: bool = False

    @classmethod
    def from_route(cls, route: Route) -> RouteFacts:
        return cls.model_validate(route.model_dump(include=set(cls.model_fields)))


class PatientFacts(_Value):
    """The patient facts a prescription needs: age from the birth date, sex, weight, allergies."""

    id: str
    name: str
    sex: Sex
    birth_date: dt.date
    mrn: str = ""
    weight_kg: Decimal | None = Field(default=None, gt=0, le=500)
    allergies: tuple[str, ...] = ()
    allergy_status: AllergyStatus | None = None  # None: read from the list (shared.domain.allergies)

    @classmethod
    def from_patient(cls, patient: Patient, *, weight_kg: Decimal | None = None) -> PatientFacts:
        return cls(
            id=patient.id,
            name=patient.name,
            sex=patient.sex,
            birth_date=patient.birth_date,
            mrn=patient.mrn or "",
            weight_kg=weight_kg,
            allergies=tuple(patient.allergies),
            allergy_status=patient.allergy_status,
        )

    def age_years(self, on: dt.date) -> int:
        return age_years(self.birth_date, on)


class PrescriberFacts(_Value):
    staff_id: str
    name: str
    title: str = ""
    rights: tuple[PrescribingRight, ...] = ()

    @classmethod
    def from_staff(cls, staff: Staff) -> PrescriberFacts:
        return cls(
            staff_id=staff.id, name=staff.name, title=staff.title, rights=tuple(staff.prescribing_rights)
        )


class DiagnosisFacts(_Value):
    code: str = ""
    name: str
    code_set: str = ""  # the ICD-10 code set (version) of ``code``, as written

    def printed(self) -> str:
        """名称（编码，编码版本） as a prescription or note prints it; the set only when known."""
        where = "，".join(p for p in (self.code, self.code_set) if p) if self.code else ""
        return self.name + (f"（{where}）" if where else "")


class RxLine(_Value):
    """One drug on a prescription. ``quantity`` is in pack units; ``quantity_overridden`` marks a doctor's edit."""

    drug: DrugFacts
    dose: Decimal = Field(gt=0, le=1_000_000)
    dose_unit: str
    route: RouteFacts
    frequency: FrequencyFacts
    days: int = Field(ge=1, le=366)
    quantity: int = Field(ge=1, le=100_000)
    quantity_overridden: bool = False
    note: str = Field(default="", max_length=200)
    skin_test: bool = False
    skin_test_result: SkinTestResult = "pending"

    @property
    def amount(self) -> Decimal:
        return (self.drug.price * self.quantity).quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def computed_quantity(self) -> int:
        return compute_quantity(self.drug, self.dose, self.frequency, self.days, dose_unit=self.dose_unit)


class PrescriptionDraft(_Value):
    """A prescription being written (or as signed). ``signed_content`` is what a signature covers."""

    id: str
    number: str = Field(default="", max_length=32)
    rx_type: RxType = "ordinary"
    patient: PatientFacts
    prescriber: PrescriberFacts
    visit_id: str | None = None
    department: str = ""
    diagnoses: tuple[DiagnosisFacts, ...] = ()
    written_at: dt.datetime
    lines: tuple[RxLine, ...] = Field(default=(), max_length=60)

    @property
    def written_on(self) -> dt.date:
        return self.written_at.date()

    @property
    def amount(self) -> Decimal:
        return total_amount(self.lines)

    def signed_content(self) -> dict[str, Any]:
        """The fields a signature covers (``shared.security.signing.canonical_bytes`` serialises them).

        Exactly: ``doc`` ("rx"), ``v`` (1), ``id``, ``number``, ``rx_type``, ``visit_id``, ``written_at``;
        ``patient``: ``id``, ``name``, ``sex``, ``birth_date``, ``weight_kg``, ``allergies``;
        ``prescriber``: ``staff_id``, ``name``; ``diagnoses``: ``code``, ``name`` (and ``code_set`` when
        known); each line: drug
        ``code``, ``generic_name``, ``spec``, ``dose``, ``dose_unit``, ``route`` code, ``frequency`` code,
        ``days``, ``quantity``, ``pack_unit``, ``note``, ``skin_test``, ``skin_test_result``. Prices are
        left out: the signature vouches for the clinical order, not the tariff.
        """
        return {
            "doc": "rx",
            "v": 1,
            "id": self.id,
            "number": self.number,
            "rx_type": self.rx_type,
            "visit_id": self.visit_id,
            "written_at": self.written_at,
            "patient": {
                "id": self.patient.id,
                "name": self.patient.name,
                "sex": self.patient.sex,
                "birth_date": self.patient.birth_date,
                "weight_kg": self.patient.weight_kg,
                "allergies": list(self.patient.allergies),
            },
            "prescriber": {"staff_id": self.prescriber.staff_id, "name": self.prescriber.name},
            "diagnoses": [
                {"code": d.code, "name": d.name, **({"code_set": d.code_set} if d.code_set else {})}
                for d in self.diagnoses
            ],
            "lines": [
                {
                    "code": line.drug.code,
                    "generic_name": line.drug.generic_name,
                    "spec": line.drug.spec,
                    "dose": line.dose,
                    "dose_unit": line.dose_unit,
                    "route": line.route.code,
                    "frequency": line.frequency.code,
                    "days": line.days,
                    "quantity": line.quantity,
                    "pack_unit": line.drug.pack_unit,
                    "note": line.note,
                    "skin_test": line.skin_test,
                    "skin_test_result": line.skin_test_result,
                }
                for line in self.lines
            ],
        }


class RxGroup(_Value):
    """Lines that go on one prescription after splitting: its type and the indexes in the original list."""

    rx_type: RxType
    indexes: tuple[int, ...]
    lines: tuple[RxLine, ...]


DrugLike = Drug | DrugFacts
FrequencyLike = Frequency | FrequencyFacts
RouteLike = Route | RouteFacts


def _drug_facts(drug: DrugLike) -> DrugFacts:
    return drug if isinstance(drug, DrugFacts) else DrugFacts.from_drug(drug)


def _frequency_facts(frequency: FrequencyLike) -> FrequencyFacts:
    return frequency if isinstance(frequency, FrequencyFacts) else FrequencyFacts.from_frequency(frequency)


def _route_facts(route: RouteLike) -> RouteFacts:
    return route if isinstance(route, RouteFacts) else RouteFacts.from_route(route)


def age_years(birth_date: dt.date, on: dt.date) -> int:
    """Completed years of age on ``on`` (a birthday on 29 February counts from 1 March in other years)."""
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return max(years, 0)


def age_text_zh(birth_date: dt.date, on: dt.date) -> str:
    """Age as a Chinese prescription shows it: 35岁, 2岁3月 under 3, 8月 under 1, 12天 under a month."""
    years = age_years(birth_date, on)
    months = (on.year - birth_date.year) * 12 + on.month - birth_date.month - (on.day < birth_date.day)
    if years >= 3:
        return f"{years}岁"
    if years >= 1:
        rest = months - years * 12
        return f"{years}岁{rest}月" if rest else f"{years}岁"
    if months >= 1:
        return f"{months}月"
    return f"{max((on - birth_date).days, 0)}天"


def format_decimal(value: Decimal) -> str:
    """A decimal without trailing zeros or exponent: 0.50 → 0.5, 320 → 320, 1E+1 → 10."""
    text = format(value.normalize(), "f")
    return text


def dose_in_drug_unit(drug: DrugLike, dose: Decimal, dose_unit: str | None = None) -> Decimal:
    """``dose`` expressed in the drug's own dose unit (g ↔ mg ↔ μg, 万U ↔ U, L ↔ ml, or smallest units)."""
    facts = _drug_facts(drug)
    unit = dose_unit or facts.dose_unit
    if unit == facts.dose_unit:
        return dose
    if unit == facts.min_unit:
        return dose * facts.dose_per_min_unit
    have, want = _UNITS.get(unit), _UNITS.get(facts.dose_unit)
    if have is None or want is None or have[0] != want[0]:
        raise ValidationFailed(
            tr("rx.dose_unit_mismatch", drug=facts.generic_name, unit=unit, drug_unit=facts.dose_unit),
            code="dose_unit_mismatch",
        )
    return dose * have[1] / want[1]


def min_units_per_dose(drug: DrugLike, dose: Decimal, dose_unit: str | None = None) -> Decimal:
    """Smallest units (tablets, capsules, ampoules…) taken per administration; whole ones for injections."""
    facts = _drug_facts(drug)
    units = dose_in_drug_unit(facts, dose, dose_unit) / facts.dose_per_min_unit
    if facts.whole_units_per_dose:
        units = units.to_integral_value(rounding=ROUND_CEILING)
    return units


def administrations(frequency: FrequencyLike, days: int) -> Decimal:
    """How many times the dose is given over ``days`` at this frequency."""
    freq = _frequency_facts(frequency)
    if freq.code in ONCE_FREQUENCIES:
        return Decimal(1)
    if freq.interval_days > 1:
        per_interval = (freq.times_per_day * freq.interval_days).to_integral_value(rounding=ROUND_HALF_UP)
        return Decimal(math.ceil(days / freq.interval_days)) * max(per_interval, Decimal(1))
    return freq.times_per_day * days


def compute_quantity(
    drug: DrugLike, dose: Decimal, frequency: FrequencyLike, days: int, *, dose_unit: str | None = None
) -> int:
    """Packs to dispense: dose → smallest units × administrations over ``days`` ÷ pack size, rounded up."""
    facts = _drug_facts(drug)
    with localcontext() as exact:
        exact.prec = 60  # room for any dose within the fields' bounds: quantize never runs out of digits
        total_units = min_units_per_dose(facts, dose, dose_unit) * administrations(frequency, days)
        packs = (total_units / facts.pack_qty).quantize(Decimal("0.000001"))
        return max(int(packs.to_integral_value(rounding=ROUND_CEILING)), 1)


def new_line(
    drug: DrugLike,
    *,
    frequencies: Mapping[str, FrequencyLike],
    routes: Mapping[str, RouteLike],
    days: int,
    dose: Decimal | None = None,
    dose_unit: str | None = None,
    frequency: str | None = None,
    route: str | None = None,
    note: str = "",
) -> RxLine:
    """A line with the drug's default usage (dose, route, frequency) unless given, and its quantity."""
    facts = _drug_facts(drug)
    freq_code = frequency or facts.default_frequency
    route_code = route or facts.default_route
    for code, table in ((freq_code, frequencies), (route_code, routes)):
        if code not in table:
            raise ValidationFailed(
                tr("rx.unknown_usage", drug=facts.generic_name, code=code), code="unknown_usage"
            )
    freq = _frequency_facts(frequencies[freq_code])
    line_dose = dose if dose is not None else facts.default_dose
    unit = dose_unit or facts.dose_unit
    return RxLine(
        drug=facts,
        dose=line_dose,
        dose_unit=unit,
        route=_route_facts(routes[route_code]),
        frequency=freq,
        days=days,
        quantity=compute_quantity(facts, line_dose, freq, days, dose_unit=unit),
        note=note,
        skin_test=facts.skin_test,
    )


def edit_line(
    line: RxLine,
    *,
    dose: Decimal | None = None,
    dose_unit: str | None = None,
    route: RouteLike | None = None,
    frequency: FrequencyLike | None = None,
    days: int | None = None,
    quantity: int | None = None,
    note: str | None = None,
    skin_test_result: SkinTestResult | None = None,
) -> RxLine:
    """A copy of ``line`` with edits applied.

    A quantity given here is the doctor's override and stays until dose, unit, frequency or days change,
    which recompute it (the old override no longer matches the order).
    """
    changes: dict[str, Any] = {}
    if dose is not None:
        changes["dose"] = dose
    if dose_unit is not None:
        changes["dose_unit"] = dose_unit
    if route is not None:
        changes["route"] = _route_facts(route)
    if frequency is not None:
        changes["frequency"] = _frequency_facts(frequency)
    if days is not None:
        changes["days"] = days
    if note is not None:
        changes["note"] = note
    if skin_test_result is not None:
        changes["skin_test_result"] = skin_test_result
    data = {**line.model_dump(), **changes}
    order_changed = any(
        key in changes and changes[key] != getattr(line, key)
        for key in ("dose", "dose_unit", "frequency", "days")
    )
    if quantity is not None:
        data["quantity"], data["quantity_overridden"] = quantity, True
    elif order_changed or not line.quantity_overridden:
        data["quantity"] = compute_quantity(
            line.drug,
            data["dose"],
            FrequencyFacts.model_validate(data["frequency"]),
            data["days"],
            dose_unit=data["dose_unit"],
        )
        data["quantity_overridden"] = False
    return RxLine.model_validate(data)


def amount_per_dose_zh(line: RxLine) -> str:
    """Per-dose amount in words a patient understands: 2粒, 半片, 1/4片, or the dose itself (0.5g, 320万U)."""
    drug = line.drug
    if line.dose_unit == drug.min_unit:
        return f"{_fraction_zh(line.dose)}{drug.min_unit}"
    try:
        units = dose_in_drug_unit(drug, line.dose, line.dose_unit) / drug.dose_per_min_unit
    except ValidationFailed:
        return f"{format_decimal(line.dose)}{line.dose_unit}"
    if not drug.whole_units_per_dose and (units * 4) == (units * 4).to_integral_value() and units <= 20:
        return f"{_fraction_zh(units)}{drug.min_unit}"
    return f"{format_decimal(line.dose)}{line.dose_unit}"


def _fraction_zh(value: Decimal) -> str:
    quarters = {Decimal("0.5"): "半", Decimal("0.25"): "1/4", Decimal("0.75"): "3/4"}
    return quarters.get(value.normalize(), format_decimal(value))


def plain_usage_zh(line: RxLine, *, with_days: bool = False) -> str:
    """Usage in plain Chinese for the patient and the pharmacy label: 口服，每日3次，每次2粒."""
    route = line.route.plain_zh or line.route.name_zh
    freq = line.frequency.plain_zh or line.frequency.name_zh
    amount = amount_per_dose_zh(line)
    if line.frequency.code in ONCE_FREQUENCIES:
        text = f"{route}，{freq}，{amount}"
    else:
        text = f"{route}，{freq}，每次{amount}"
    if with_days and line.frequency.code not in ONCE_FREQUENCIES:
        text += f"，共{line.days}天"
    return text


def usage_zh(line: RxLine) -> str:
    """Usage as the prescription prints it: 每次0.5g  口服  每日三次  ×7天."""
    parts = [f"每次{format_decimal(line.dose)}{line.dose_unit}", line.route.name_zh, line.frequency.name_zh]
    if line.frequency.code not in ONCE_FREQUENCIES:
        parts.append(f"×{line.days}天")
    return "  ".join(parts)


def required_type(drug: DrugLike, base_type: RxType, rules: RuleTable | None = None) -> RxType:
    """The prescription type a drug must be written on: its controlled class's type, else the base type."""
    table = rules or default_rules()
    special = table.class_type.get(_drug_facts(drug).controlled_class)
    if special is not None:
        return special
    return base_type if base_type in BASE_TYPES else "ordinary"


def split_lines(lines: Sequence[RxLine], rx_type: RxType, rules: RuleTable | None = None) -> list[RxGroup]:
    """Lines grouped into prescriptions: one type per prescription, at most ``max_drugs_per_rx`` each.

    Groups come in the order their first line was written; ``rx_type`` is the type chosen for the
    ordinary drugs (a controlled type chosen by mistake falls back to ordinary for them).
    """
    table = rules or default_rules()
    by_type: dict[RxType, list[int]] = {}
    for index, line in enumerate(lines):
        by_type.setdefault(required_type(line.drug, rx_type, table), []).append(index)
    size = table.max_drugs_per_rx
    groups: list[RxGroup] = []
    for kind, indexes in by_type.items():
        for start in range(0, len(indexes), size):
            chunk = tuple(indexes[start : start + size])
            groups.append(RxGroup(rx_type=kind, indexes=chunk, lines=tuple(lines[i] for i in chunk)))
    return groups


def total_amount(lines: Iterable[RxLine]) -> Decimal:
    """The sum of price × quantity over the lines, in yuan to the cent."""
    total = sum((line.drug.price * line.quantity for line in lines), Decimal(0))
    return total.quantize(CENT, rounding=ROUND_HALF_UP)
