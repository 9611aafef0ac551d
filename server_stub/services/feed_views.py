"""Field-level views of the change feed per role: what each role receives of a patient's identifiers
and of a prescription's pickup-code digest.

The feed is encoded once per change; a kind with fields some roles must not receive is encoded a second
time in its restricted form (``restrict``), and each pull picks the form by the caller's roles
(``restricted_kinds``, with the policy, in ``shared.domain.masking``). A staff member with several roles
gets the widest view of them.

- Patients' ID numbers and phones in full: doctors (prescriptions of controlled drugs carry the ID
  number), nurses (they register patients and check IDs at the desk) and pharmacists (a narcotic's
  dispensing records the ID, the pickup code is texted to the patient's phone, waybills carry it). IT
  admins get them masked (``110***********1234``, ``138****5678``); the last 4 of the ID number stay.
- The pickup-code digest (``pickup_code.digest`` and its copy ``rx.pickup_code_hash``): pharmacists only
  (they verify the code); everyone else gets it blank.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.domain.masking import FULL_VIEW_ROLES, mask_patient_identifiers, restricted_kinds

__all__ = ["FULL_VIEW_ROLES", "RESTRICTABLE_KINDS", "restrict", "restricted_kinds"]


def _without_digest(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "digest": ""}


def _rx_without_digest(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "pickup_code_hash": ""} if data.get("pickup_code_hash") else data


_RESTRICT: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "patient": mask_patient_identifiers,
    "pickup_code": _without_digest,
    "rx": _rx_without_digest,
}

RESTRICTABLE_KINDS = frozenset(_RESTRICT)


def restrict(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` of a change of ``kind`` in its restricted form (unchanged for other kinds)."""
    transform = _RESTRICT.get(kind)
    return data if transform is None else transform(data)
