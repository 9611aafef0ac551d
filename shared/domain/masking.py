"""Masking of personal data for screens, prints and logs (names 张*三, ID numbers 110***********1234, phones)."""

from __future__ import annotations

from collections.abc import Collection

# Who receives which fields in full (the server's feed filters by it, ``server_stub.services.feed_views``;
# a PC whose user's view differs from what it downloaded downloads again). Kind -> roles with the full
# view: patients' ID numbers and phones for doctors (controlled-drug prescriptions carry the ID number),
# nurses (registration, ID checks) and pharmacists (a narcotic's dispensing records the ID; the pickup
# code is texted to the patient's phone; couriers' waybills carry it); IT (admin) sees them masked. The
# pickup-code digest for pharmacists only.
FULL_VIEW_ROLES: dict[str, frozenset[str]] = {
    "patient": frozenset({"doctor", "nurse", "pharmacist"}),
    "pickup_code": frozenset({"pharmacist"}),
    "rx": frozenset({"pharmacist"}),  # its copy of the pickup-code digest
}


def restricted_kinds(roles: Collection[str]) -> frozenset[str]:
    """The kinds a user with ``roles`` receives in their restricted form (the widest view of the roles)."""
    granted = frozenset(roles)
    return frozenset(kind for kind, full in FULL_VIEW_ROLES.items() if not full & granted)


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def mask_name(name: str) -> str:
    """Keep the first and the last character and mask the rest, as DESIGN.md shows (张*三 / 欧**华 / 李*).

    Compound surnames are masked like any name (欧阳娜华 → 欧**华), so the mask never reveals how long
    the surname is. Names with a middle dot (阿卜杜·热合曼) count the dot as a masked character.
    Latin names keep the first letter of each word: "John Smith" → "J*** S****".
    """
    name = (name or "").strip()
    if not name:
        return ""
    if not any(_is_cjk(ch) for ch in name):
        return " ".join(word[0] + "*" * (len(word) - 1) for word in name.split())
    chars = [ch for ch in name if not ch.isspace()]
    if len(chars) == 1:
        return chars[0]
    if len(chars) == 2:
        return chars[0] + "*"
    return chars[0] + "*" * (len(chars) - 2) + chars[-1]


def mask_id_number(id_number: str) -> str:
    """Keep the first 3 and last 4 characters: 110101199003071234 → 110***********1234."""
    value = (id_number or "").strip()
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_phone(phone: str) -> str:
    """Keep the first 3 and last 4 digits of a mobile number: 13812345678 → 138****5678."""
    value = (phone or "").strip()
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_patient_identifiers(data: dict[str, object]) -> dict[str, object]:
    """A patient's fields (as a dict) with the ID number and phone masked, for roles and screens that
    do not need them in full; the last 4 of the ID number (``id_number_tail``) stay for look-ups."""
    masked = dict(data)
    if masked.get("id_number"):
        masked["id_number"] = mask_id_number(str(masked["id_number"]))
    if masked.get("phone"):
        masked["phone"] = mask_phone(str(masked["phone"]))
    return masked
