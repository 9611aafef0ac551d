"""PRC resident ID numbers (GB 11643): check character, encoded birth date and sex."""

from __future__ import annotations

import datetime as dt
import re

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_char(first17: str) -> str:
    """The 18th character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def resident_id_problem(id_number: str) -> str | None:
    """Why an 18-character resident ID number is invalid ('format', 'check_digit', 'birth_date'), or None."""
    value = id_number.upper()
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return "format"
    if check_char(value[:17]) != value[17]:
        return "check_digit"
    try:
        dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "birth_date"
    return None


def resident_id_facts(id_number: str) -> tuple[dt.date, str]:
    """Birth date and sex ('M'/'F') encoded in a valid resident ID number."""
    value = id_number.upper()
    birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    return birth, ("M" if int(value[16]) % 2 else "F")
