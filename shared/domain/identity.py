"""PRC resident ID numbers (GB 11643): check character, encoded birth date and sex, and the one rule that a
registration's typed sex and birth date agree with them.

An 18-character number is ``AAAAAA YYYYMMDD SSS C``: region, birth date, a sequence whose last digit is odd
for a man and even for a woman, and a check character (ISO 7064 MOD 11-2, ``X`` for 10). The legacy
15-digit number (issued until 1999) is ``AAAAAA YYMMDD SSS`` with a 19xx birth year and no check
character. ``identity_problems`` is what both the registration dialog (next to the fields, as the nurse
types) and the server's ``patient.register`` / ``patient.update`` handlers apply, so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Literal

from shared.i18n import DEFAULT_LANGUAGE, register, tr

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"

IdProblem = Literal["format", "check_digit", "birth_date"]
IdField = Literal["id_number", "sex", "birth_date"]

_MESSAGES: dict[str, tuple[str, str, str]] = {
    "patient.bad_id_number.format": (
        "身份证号应为18位（最后一位可为X）或15位数字：{id_number}",
        "A resident ID number has 18 characters (the last may be X) or 15 digits: {id_number}",
        "身份證號應為18位（最後一位可為X）或15位數字：{id_number}",
    ),
    "patient.bad_id_number.check_digit": (
        "身份证号校验位不对，请核对每一位：{id_number}",
        "The ID number's check digit is wrong; check each digit: {id_number}",
        "身份證號校驗位不對，請核對每一位：{id_number}",
    ),
    "patient.bad_id_number.birth_date": (
        "身份证号中的出生日期无效：{id_number}",
        "The birth date inside the ID number is not a valid date: {id_number}",
        "身份證號中的出生日期無效：{id_number}",
    ),
    "patient.id_sex_differs": (
        "身份证号显示性别为“{id_sex}”，与所填性别不符",
        "The ID number says the patient is {id_sex}; the sex entered differs",
        "身份證號顯示性別為「{id_sex}」，與所填性別不符",
    ),
    "patient.id_birth_differs": (
        "身份证号显示出生日期为 {id_birth}，与所填出生日期不符",
        "The ID number says born {id_birth}; the birth date entered differs",
        "身份證號顯示出生日期為 {id_birth}，與所填出生日期不符",
    ),
    "patient.sex_name.M": ("男", "male", "男"),
    "patient.sex_name.F": ("女", "female", "女"),
}
for _key, (_zh, _en, _tw) in _MESSAGES.items():
    register(_key, {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


def check_char(first17: str) -> str:
    """The 18th character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def normalise_id_number(id_number: str) -> str:
    """Spaces out, full-width digits and a lower-case x as typed or scanned made plain: ``11010519491231002X``."""
    table = str.maketrans("０１２３４５６７８９ｘＸ", "0123456789XX")
    return re.sub(r"\s+", "", id_number).translate(table).upper()


def _birth(value: str) -> dt.date:
    if len(value) == 15:
        return dt.date(1900 + int(value[6:8]), int(value[8:10]), int(value[10:12]))
    return dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))


def resident_id_problem(id_number: str, today: dt.date | None = None) -> IdProblem | None:
    """Why a resident ID number (18 characters, or the legacy 15 digits) is invalid, or None.

    'format' (not 18 digits/X or 15 digits), 'check_digit', 'birth_date' (no such date, before 1900 or
    after ``today``)."""
    value = normalise_id_number(id_number)
    if re.fullmatch(r"\d{17}[\dX]", value):
        if check_char(value[:17]) != value[17]:
            return "check_digit"
    elif not re.fullmatch(r"\d{15}", value):
        return "format"
    try:
        birth = _birth(value)
    except ValueError:
        return "birth_date"
    if birth.year < 1900 or (today is not None and birth > today):
        return "birth_date"
    return None


def resident_id_facts(id_number: str) -> tuple[dt.date, str]:
    """Birth date and sex ('M'/'F') encoded in a valid resident ID number (18 or 15 digits)."""
    value = normalise_id_number(id_number)
    sex_digit = value[16] if len(value) == 18 else value[14]
    return _birth(value), ("M" if int(sex_digit) % 2 else "F")


def id_facts(id_number: str | None, id_type: str = "resident_id") -> tuple[dt.date, str] | None:
    """Birth date and sex from a resident ID number when it is a valid one, else None (what the
    registration dialog fills in as soon as the number is complete)."""
    if not id_number or id_type != "resident_id" or resident_id_problem(id_number):
        return None
    return resident_id_facts(id_number)


@dataclass(frozen=True)
class IdentityProblem:
    """One thing wrong with a patient's identity fields: the field it belongs next to, a message key
    (``patient.*`` in shared.i18n) and its values."""

    field: IdField
    key: str
    values: dict[str, str] = dataclass_field(default_factory=dict)
    code: str = "invalid_input"

    def message(self, lang: str = DEFAULT_LANGUAGE) -> str:
        values = dict(self.values)
        if "id_sex" in values:
            values["id_sex"] = tr(f"patient.sex_name.{values['id_sex']}", lang)
        return tr(self.key, lang, **values)


def identity_problems(
    *,
    id_type: str,
    id_number: str | None,
    sex: str | None,
    birth_date: dt.date | None,
    today: dt.date,
) -> list[IdentityProblem]:
    """What is wrong with the ID number, and where the typed sex or birth date contradicts a valid
    resident ID number (a male ID saved as a woman reaches the doctor's checks and the prescription).

    Sex "U" (unknown) is a contradiction too when the ID number says which it is."""
    problems: list[IdentityProblem] = []
    if birth_date is not None and birth_date > today:
        problems.append(IdentityProblem("birth_date", "patient.birth_in_future", code="birth_in_future"))
    if not id_number or id_type != "resident_id":
        return problems
    value = normalise_id_number(id_number)
    reason = resident_id_problem(value, today)
    if reason is not None:
        problems.append(
            IdentityProblem(
                "id_number",
                f"patient.bad_id_number.{reason}",
                {"id_number": value},
                code="bad_id_number",
            )
        )
        return problems
    id_birth, id_sex = resident_id_facts(value)
    if sex is not None and sex != id_sex:
        problems.append(
            IdentityProblem("sex", "patient.id_sex_differs", {"id_sex": id_sex}, code="id_mismatch")
        )
    if birth_date is not None and birth_date != id_birth:
        problems.append(
            IdentityProblem(
                "birth_date",
                "patient.id_birth_differs",
                {"id_birth": id_birth.isoformat()},
                code="id_mismatch",
            )
        )
    return problems
