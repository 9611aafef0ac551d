"""A patient's allergy information as one of three facts: nobody asked, asked and none known, or a list.

"No known allergy" printed for a patient nobody asked is a safety problem: the prescription, the doctor's
checks and every screen read the fact through ``allergy_status`` and say it with ``allergy_text``.
Patients registered before the status existed have ``allergy_status`` None: with allergies listed they
read as "listed", without as "not asked" (an empty list never meant that someone asked).
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.domain.entities import AllergyStatus
from shared.i18n import DEFAULT_LANGUAGE, register, tr

register(
    "allergy.not_asked",
    {"zh_CN": "未询问", "en": "Not asked", "zh_TW": "未詢問"},
)
register(
    "allergy.none",
    {"zh_CN": "无已知过敏", "en": "No known allergy", "zh_TW": "無已知過敏"},
)
register(
    "patient.allergies_missing",
    {
        "zh_CN": "已选择“有过敏”，请填写过敏物",
        "en": "“Allergic to” is chosen: enter what the patient is allergic to",
        "zh_TW": "已選擇「有過敏」，請填寫過敏物",
    },
)
register(
    "patient.allergies_contradict",
    {
        "zh_CN": "过敏史为“{status}”时不能填写过敏物",
        "en": "No allergens can be listed when the allergy history is “{status}”",
        "zh_TW": "過敏史為「{status}」時不能填寫過敏物",
    },
)


def allergy_status(status: AllergyStatus | None, allergies: Iterable[str]) -> AllergyStatus:
    """The fact, for rows with or without a recorded status (see the module docstring). Named allergens
    always win (a list merged from another source is never hidden behind "none")."""
    if any(a.strip() for a in allergies):
        return "listed"
    return "none" if status == "none" else "not_asked"


def allergy_text(
    status: AllergyStatus | None, allergies: Iterable[str], lang: str = DEFAULT_LANGUAGE, sep: str = "、"
) -> str:
    """What a screen or print says: 未询问, 无已知过敏, or the allergens (青霉素、头孢类)."""
    items = [a.strip() for a in allergies if a.strip()]
    fact = allergy_status(status, items)
    return sep.join(items) if fact == "listed" else tr(f"allergy.{fact}", lang)
