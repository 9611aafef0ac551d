"""Prescription checks shared by the doctor (while writing) and the pharmacist (before review).

``check_prescription(draft, rules)`` is pure and deterministic: the same draft and rule table give the
same findings, in the same order, on every PC and on the server. A finding is ``block`` (signing is
refused until the draft changes) or ``warn`` (signing needs the doctor's acknowledgement, which is
recorded as an ``Acknowledgement`` and travels with ``rx.sign``). Messages are in the caller's language;
``code`` and ``params`` are stable so a screen can re-render a finding in another language.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.allergies import allergy_status
from shared.domain.prescribing import (
    PatientFacts,
    PrescriptionDraft,
    RxLine,
    class_name,
    compute_quantity,
    dose_in_drug_unit,
    format_decimal,
    type_name,
)
from shared.domain.rx_rules import Level, RuleTable, default_rules
from shared.errors import BusinessRuleViolation, ValidationFailed
from shared.i18n import DEFAULT_LANGUAGE, register, tr

# Allergy entries that say "no known allergy" rather than naming an allergen.
_NO_ALLERGY = frozenset({"无", "否认", "无过敏史", "否认过敏史", "none", "nkda", "nka", "-"})
# Dosage-form words stripped from a generic name to compare active ingredients.
_FORM_SUFFIX = re.compile(
    r"(缓释|控释|肠溶|分散|咀嚼|泡腾|口崩|含|舌下)?"
    r"(片|胶囊|软胶囊|颗粒|干混悬剂|混悬液|口服液|口服溶液|糖浆|注射液|滴眼液|滴耳液|滴鼻液|"
    r"眼膏|软膏|乳膏|凝胶|贴剂|透皮贴剂|栓|散|丸|气雾剂|喷雾剂|吸入剂|粉雾剂|溶液|氯化钠注射液)$"
)

_MESSAGES: dict[str, tuple[str, str, str]] = {
    "rx.empty": ("处方没有药品", "The prescription has no drugs", "處方沒有藥品"),
    "rx.too_many_drugs": (
        "每张处方最多 {max} 种药品，当前 {count} 种，请拆分处方",
        "At most {max} drugs per prescription, this one has {count}; split it",
        "每張處方最多 {max} 種藥品，當前 {count} 種，請拆分處方",
    ),
    "rx.allergy": (
        "患者有{allergy}过敏史，{drug}属于或含有该类药物（{allergen}）",
        "The patient is allergic to {allergy}; {drug} belongs to or contains it ({allergen})",
        "患者有{allergy}過敏史，{drug}屬於或含有該類藥物（{allergen}）",
    ),
    "rx.allergy_not_asked": (
        "过敏史：未询问（不是“无已知过敏”），过敏核对无从进行，请先询问患者",
        "Allergies: not asked (not “no known allergy”); nothing to check against, ask the patient first",
        "過敏史：未詢問（不是「無已知過敏」），過敏核對無從進行，請先詢問患者",
    ),
    "rx.duplicate_drug": (
        "{drug} 重复开具（第 {first} 行）",
        "{drug} is prescribed twice (see line {first})",
        "{drug} 重複開具（第 {first} 行）",
    ),
    "rx.duplicate_ingredient": (
        "{drug} 与第 {first} 行 {other} 成分相同（{ingredient}）",
        "{drug} has the same ingredient as line {first}, {other} ({ingredient})",
        "{drug} 與第 {first} 行 {other} 成分相同（{ingredient}）",
    ),
    "rx.days_exceeded": (
        "{drug} 用药 {days} 天，超过{type}的 {max} 天上限{reason}",
        "{drug} for {days} days exceeds the {max}-day limit of a {type}{reason}",
        "{drug} 用藥 {days} 天，超過{type}的 {max} 天上限{reason}",
    ),
    "rx.class_not_allowed": (
        "{drug} 为{cls}，不能开在{type}上，应开具{needed}（可自动拆分）",
        "{drug} is a {cls} and cannot go on a {type}; it needs a {needed} (split the prescription)",
        "{drug} 為{cls}，不能開在{type}上，應開具{needed}（可自動拆分）",
    ),
    "rx.no_right": (
        "{doctor} 没有{cls}处方权，不能开具 {drug}",
        "{doctor} has no prescribing right for {cls} and cannot prescribe {drug}",
        "{doctor} 沒有{cls}處方權，不能開具 {drug}",
    ),
    "rx.dose_above": (
        "{drug} 单次剂量 {dose} 超过上限 {max}",
        "{drug}: single dose {dose} is above the maximum {max}",
        "{drug} 單次劑量 {dose} 超過上限 {max}",
    ),
    "rx.dose_below": (
        "{drug} 单次剂量 {dose} 低于常用下限 {min}",
        "{drug}: single dose {dose} is below the usual minimum {min}",
        "{drug} 單次劑量 {dose} 低於常用下限 {min}",
    ),
    "rx.dose_unit": (
        "{drug} 的剂量单位 {unit} 无法换算，无法核对剂量和数量",
        "The dose unit {unit} of {drug} cannot be converted; dose and quantity cannot be checked",
        "{drug} 的劑量單位 {unit} 無法換算，無法核對劑量和數量",
    ),
    "rx.quantity_above_need": (
        "{drug} 发药数量 {quantity}{unit} 多于 {days} 天所需的 {needed}{unit}",
        "{drug}: {quantity} {unit} to dispense is more than the {needed} {unit} needed for {days} days",
        "{drug} 發藥數量 {quantity}{unit} 多於 {days} 天所需的 {needed}{unit}",
    ),
    "rx.paediatric_age": (
        "儿科处方仅限 {max} 岁以下患者，患者 {age} 岁",
        "A paediatric prescription is for patients under {max}; this patient is {age}",
        "兒科處方僅限 {max} 歲以下患者，患者 {age} 歲",
    ),
    "rx.age_rule": (
        "{drug}：{reason} {under} 岁以下患者{verb}（患者 {age} 岁）",
        "{drug}: {reason} {verb} under {under} (patient is {age})",
        "{drug}：{reason} {under} 歲以下患者{verb}（患者 {age} 歲）",
    ),
    "rx.skin_test_pending": (
        "{drug} 需皮试，请确认皮试结果阴性后使用",
        "{drug} needs a skin test; give it only after a negative result",
        "{drug} 需皮試，請確認皮試結果陰性後使用",
    ),
    "rx.skin_test_positive": (
        "{drug} 皮试阳性，禁止使用",
        "{drug}: the skin test is positive; do not give it",
        "{drug} 皮試陽性，禁止使用",
    ),
    "rx.blocked": (
        "处方有 {count} 项禁止性问题，不能签名",
        "The prescription has {count} blocking problem(s) and cannot be signed",
        "處方有 {count} 項禁止性問題，不能簽名",
    ),
    "rx.unacknowledged": (
        "还有 {count} 项警示未确认",
        "{count} warning(s) still need acknowledgement",
        "還有 {count} 項警示未確認",
    ),
}
for _key, (_zh, _en, _tw) in _MESSAGES.items():
    register(_key, {"zh_CN": _zh, "en": _en, "zh_TW": _tw})
register("rx.verb.block", {"zh_CN": "禁用", "en": "are not for patients", "zh_TW": "禁用"})
register("rx.verb.warn", {"zh_CN": "慎用", "en": "need caution in patients", "zh_TW": "慎用"})
register("rx.days_reason", {"zh_CN": "（{note}）", "en": " ({note})", "zh_TW": "（{note}）"})


class Finding(BaseModel):
    """One problem found in a draft. ``line_index`` is 0-based (``None`` for the whole prescription)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: Level
    code: str
    message: str
    line_index: int | None = None
    params: dict[str, str] = Field(default_factory=dict)
    message_key: str = ""

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.code, self.line_index)

    def in_language(self, lang: str) -> str:
        """The message again in ``lang`` (a GUI that switches language re-renders its findings)."""
        return tr(self.message_key or self.code, lang, **self.params)


class Acknowledgement(BaseModel):
    """A doctor's acknowledgement of one warning: which (code, line), who and when. Stored with the sign."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    line_index: int | None = None
    staff_id: str
    at: dt.datetime
    note: str = Field(default="", max_length=200)

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.code, self.line_index)


class _Collector:
    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.findings: list[Finding] = []

    def add(
        self, level: Level, code: str, line: int | None, *, msg_key: str | None = None, **params: object
    ) -> None:
        text = {k: str(v) for k, v in params.items()}
        self.findings.append(
            Finding(
                level=level,
                code=code,
                message=tr(msg_key or code, self.lang, **text),
                line_index=line,
                params=text,
                message_key=msg_key or "",
            )
        )


def check_prescription(
    draft: PrescriptionDraft, rules: RuleTable | None = None, *, lang: str = DEFAULT_LANGUAGE
) -> list[Finding]:
    """All findings for ``draft`` under ``rules`` (the shipped table by default), blocks and warnings."""
    table = rules or default_rules()
    out = _Collector(lang)
    if not draft.lines:
        out.add("block", "rx.empty", None)
        return out.findings
    if len(draft.lines) > table.max_drugs_per_rx:
        out.add("block", "rx.too_many_drugs", None, max=table.max_drugs_per_rx, count=len(draft.lines))
    age = draft.patient.age_years(draft.written_on)
    type_rule = table.type_rule(draft.rx_type)
    if type_rule.max_age_years is not None and age >= type_rule.max_age_years:
        out.add("block", "rx.paediatric_age", None, max=type_rule.max_age_years, age=age)
    _check_duplicates(draft.lines, table, out)
    for index, line in enumerate(draft.lines):
        _check_allergy(draft, index, line, table, out)
        _check_class_and_right(draft, index, line, table, out)
        _check_days(draft, index, line, table, out)
        _check_dose(index, line, age, table, out)
        _check_age_rules(index, line, age, table, out)
        _check_skin_test(index, line, out)
    return out.findings


def _name(line: RxLine, lang: str) -> str:
    return line.drug.display_name(lang)


def ingredient(generic_name: str) -> str:
    """The active-ingredient part of a generic name: 头孢克洛缓释片 → 头孢克洛, 注射用头孢曲松钠 → 头孢曲松钠."""
    name = generic_name.strip()
    for prefix in ("注射用", "吸入用", "盐酸", "硫酸"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return _FORM_SUFFIX.sub("", name) or name


def active_ingredients(line: RxLine) -> tuple[str, ...]:
    """The line's active ingredients: the drug's own list (reference data), else the one its generic
    name gives (``ingredient``)."""
    listed = tuple(i.strip() for i in line.drug.active_ingredients if i.strip())
    return listed or (ingredient(line.drug.generic_name),)


def _check_duplicates(lines: Sequence[RxLine], table: RuleTable, out: _Collector) -> None:
    """Same drug code twice blocks; a shared active ingredient by the same kind of route warns.

    Ingredients compare, not names: amoxicillin capsules and amoxicillin-clavulanate tablets share
    amoxicillin. Routes compare as "systemic" (all of ``systemic_routes``) or by their own code, so
    levofloxacin tablets with levofloxacin eye drops is not a duplicate but tablets with an infusion is.
    """
    by_code: dict[str, int] = {}
    by_ingredient: dict[tuple[str, str], int] = {}
    for index, line in enumerate(lines):
        code = line.drug.code
        if code in by_code:
            out.add("block", "rx.duplicate_drug", index, drug=_name(line, out.lang), first=by_code[code] + 1)
            continue
        by_code[code] = index
        route = "systemic" if line.route.code in table.systemic_routes else line.route.code
        keys = [(name, route) for name in active_ingredients(line)]
        shared = [key for key in keys if key in by_ingredient]
        if shared:
            first = by_ingredient[shared[0]]
            out.add(
                "warn",
                "rx.duplicate_ingredient",
                index,
                drug=_name(line, out.lang),
                first=first + 1,
                other=_name(lines[first], out.lang),
                ingredient="、".join(name for name, _ in shared),
            )
        for key in keys:
            by_ingredient.setdefault(key, index)


def _drug_texts(line: RxLine) -> list[str]:
    drug = line.drug
    return [t.lower() for t in (drug.generic_name, drug.trade_name, drug.english_name) if t]


def _check_allergy(
    draft: PrescriptionDraft, index: int, line: RxLine, table: RuleTable, out: _Collector
) -> None:
    texts = _drug_texts(line)
    for allergy in draft.patient.allergies:
        word = allergy.strip()
        if not word or word.lower() in _NO_ALLERGY:
            continue
        lowered = word.lower()
        hit: str | None = None
        for rule in table.allergens:
            if any(w.lower() in lowered for w in rule.words) and any(
                p.lower() in t for p in rule.drug_patterns for t in texts
            ):
                hit = rule.allergen
                break
        if hit is None and len(lowered) >= 2 and any(lowered in t for t in texts):
            hit = word
        if hit is not None:
            out.add("block", "rx.allergy", index, allergy=word, drug=_name(line, out.lang), allergen=hit)
            return


def allergy_note(patient: PatientFacts, lang: str = DEFAULT_LANGUAGE) -> str | None:
    """What the checks say about the allergy history beside the findings: for a patient nobody asked,
    that the allergy check had nothing to check against (never "no known allergy"); None otherwise.

    Not a finding: a warning would have to be acknowledged on every prescription of every patient
    registered before allergies were recorded, so it is shown, not enforced."""
    if allergy_status(patient.allergy_status, patient.allergies) != "not_asked":
        return None
    return tr("rx.allergy_not_asked", lang)


def _check_class_and_right(
    draft: PrescriptionDraft, index: int, line: RxLine, table: RuleTable, out: _Collector
) -> None:
    cls = line.drug.controlled_class
    type_rule = table.type_rule(draft.rx_type)
    if cls not in type_rule.classes:
        needed = table.class_type.get(cls)
        out.add(
            "block",
            "rx.class_not_allowed",
            index,
            drug=_name(line, out.lang),
            cls=class_name(cls, out.lang),
            type=type_name(draft.rx_type, out.lang),
            needed=type_name(needed, out.lang) if needed else type_name("ordinary", out.lang),
        )
    right = table.class_right.get(cls)
    if right is not None and right not in draft.prescriber.rights:
        out.add(
            "block",
            "rx.no_right",
            index,
            doctor=draft.prescriber.name,
            cls=class_name(cls, out.lang),
            drug=_name(line, out.lang),
        )


def max_days(draft: PrescriptionDraft, line: RxLine, table: RuleTable) -> tuple[int, str]:
    """The days-of-supply limit for ``line`` on this draft's type, with the rule's note if a special one."""
    limit = table.type_rule(draft.rx_type).max_days
    for rule in table.controlled_days:
        if draft.rx_type not in rule.types:
            continue
        injection = line.route.is_injection or line.drug.whole_units_per_dose
        if rule.injection is not None and rule.injection != injection:
            continue
        if rule.name_pattern is not None and not re.search(rule.name_pattern, line.drug.generic_name):
            continue
        return rule.max_days, rule.note
    return limit, ""


def _check_days(
    draft: PrescriptionDraft, index: int, line: RxLine, table: RuleTable, out: _Collector
) -> None:
    limit, note = max_days(draft, line, table)
    if line.days > limit:
        out.add(
            "block",
            "rx.days_exceeded",
            index,
            drug=_name(line, out.lang),
            days=line.days,
            max=limit,
            type=type_name(draft.rx_type, out.lang),
            reason=tr("rx.days_reason", out.lang, note=note) if note else "",
        )


def _check_dose(index: int, line: RxLine, age: int, table: RuleTable, out: _Collector) -> None:
    drug = line.drug
    try:
        dose = dose_in_drug_unit(drug, line.dose, line.dose_unit)
        needed = compute_quantity(drug, line.dose, line.frequency, line.days, dose_unit=line.dose_unit)
    except ValidationFailed:
        out.add("block", "rx.dose_unit", index, drug=_name(line, out.lang), unit=line.dose_unit)
        return
    shown = f"{format_decimal(dose)}{drug.dose_unit}"
    if drug.dose_max is not None and dose > drug.dose_max:
        out.add(
            "block",
            "rx.dose_above",
            index,
            drug=_name(line, out.lang),
            dose=shown,
            max=f"{format_decimal(drug.dose_max)}{drug.dose_unit}",
        )
    # Dose ranges in the drug table are adult ranges: a child's smaller dose is not a finding.
    paediatric_age = table.types["paediatric"].max_age_years or 14
    if drug.dose_min is not None and dose < drug.dose_min and age >= paediatric_age:
        out.add(
            "warn",
            "rx.dose_below",
            index,
            drug=_name(line, out.lang),
            dose=shown,
            min=f"{format_decimal(drug.dose_min)}{drug.dose_unit}",
        )
    if line.quantity_overridden and line.quantity > needed:
        out.add(
            "warn",
            "rx.quantity_above_need",
            index,
            drug=_name(line, out.lang),
            quantity=line.quantity,
            needed=needed,
            unit=drug.pack_unit,
            days=line.days,
        )


def _check_age_rules(index: int, line: RxLine, age: int, table: RuleTable, out: _Collector) -> None:
    for rule in table.age_rules:
        if age >= rule.under_years or not re.search(rule.pattern, line.drug.generic_name):
            continue
        if rule.systemic_only and line.route.code not in table.systemic_routes:
            continue
        out.add(
            rule.level,
            rule.code,
            index,
            msg_key="rx.age_rule",
            drug=_name(line, out.lang),
            reason=rule.reason_en if out.lang == "en" else rule.reason_zh,
            under=rule.under_years,
            verb=tr(f"rx.verb.{rule.level}", out.lang),
            age=age,
        )


def _check_skin_test(index: int, line: RxLine, out: _Collector) -> None:
    if not line.skin_test:
        return
    if line.skin_test_result == "positive":
        out.add("block", "rx.skin_test_positive", index, drug=_name(line, out.lang))
    elif line.skin_test_result == "pending":
        out.add("warn", "rx.skin_test_pending", index, drug=_name(line, out.lang))


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "block"]


def needs_acknowledgement(
    findings: Iterable[Finding], acknowledgements: Iterable[Acknowledgement]
) -> list[Finding]:
    """Warnings that no acknowledgement covers (matched by code and line)."""
    done = {a.key for a in acknowledgements}
    return [f for f in findings if f.level == "warn" and f.key not in done]


def acknowledge(
    findings: Iterable[Finding], staff_id: str, at: dt.datetime, note: str = ""
) -> list[Acknowledgement]:
    """Acknowledgements of every warning in ``findings`` by ``staff_id`` at ``at``."""
    return [
        Acknowledgement(code=f.code, line_index=f.line_index, staff_id=staff_id, at=at, note=note)
        for f in findings
        if f.level == "warn"
    ]


def ready_to_sign(findings: Sequence[Finding], acknowledgements: Iterable[Acknowledgement]) -> bool:
    return not blocking(findings) and not needs_acknowledgement(findings, acknowledgements)


def ensure_signable(
    findings: Sequence[Finding], acknowledgements: Iterable[Acknowledgement], *, lang: str = DEFAULT_LANGUAGE
) -> None:
    """Raise ``BusinessRuleViolation`` (code ``rx_blocked`` / ``rx_unacknowledged``) unless signing may go on."""
    blocks = blocking(findings)
    if blocks:
        raise BusinessRuleViolation(
            tr("rx.blocked", lang, count=len(blocks)),
            code="rx_blocked",
            detail=[f.model_dump() for f in blocks],
        )
    open_warnings = needs_acknowledgement(findings, acknowledgements)
    if open_warnings:
        raise BusinessRuleViolation(
            tr("rx.unacknowledged", lang, count=len(open_warnings)),
            code="rx_unacknowledged",
            detail=[f.model_dump() for f in open_warnings],
        )


def dose_in_range(line: RxLine) -> bool | None:
    """Whether the line's dose is inside the drug's known range (``None`` when the drug has none)."""
    drug = line.drug
    if drug.dose_min is None and drug.dose_max is None:
        return None
    dose: Decimal = dose_in_drug_unit(drug, line.dose, line.dose_unit)
    return (drug.dose_min is None or dose >= drug.dose_min) and (
        drug.dose_max is None or dose <= drug.dose_max
    )
