"""Every view of a patient's record is audited: a screen that shows one records ``patient.view`` in the
outbox (at once, offline too); it is pushed with the rest and the server's audit log keeps who, which
device, which screen and when the PC showed it."""

from __future__ import annotations

from shared.store.store import LocalStore


def record_patient_view(store: LocalStore, patient_id: str, screen: str) -> None:
    """Note that ``screen`` showed ``patient_id``'s record now (store thread or any worker thread)."""
    store.record(
        "patient.view",
        {"patient_id": patient_id, "screen": screen, "viewed_at": store.clock().isoformat()},
    )
