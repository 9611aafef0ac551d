"""``print.record`` through a real server: every print is kept with who, which PC, printer and reprint flag."""

from __future__ import annotations

import datetime as dt

from shared.ids import new_id
from tests.support.api import ApiUser
from tests.support.server import ServerProcess


def _record(user: ApiUser, **over: object) -> dict[str, object]:
    args: dict[str, object] = {
        "id": new_id(),
        "document": "prescription",
        "ref_id": "rx-123",
        "reprint": False,
        "printer": "A5 激光",
        "printed_at": dt.datetime.now(dt.UTC).isoformat(),
        **over,
    }
    return user.push_one("print.record", args)


def test_prints_and_reprints_are_recorded_and_reach_other_pcs(shared_server: ServerProcess) -> None:
    doctor = ApiUser(shared_server.url, "doctor1")
    pharmacist = ApiUser(shared_server.url, "pharmacist1")
    try:
        ref = new_id()
        first = _record(doctor, ref_id=ref)
        again = _record(pharmacist, ref_id=ref, reprint=True, document="label", copies=2)
        assert first["status"] == "applied" and again["status"] == "applied", (first, again)
        changes, _ = pharmacist.pull_all()
        rows = [c["data"] for c in changes if c["kind"] == "print_record" and c["data"]["ref_id"] == ref]
        assert sorted((r["document"], r["reprint"], r["copies"]) for r in rows) == [
            ("label", True, 2),
            ("prescription", False, 1),
        ]
        by_doctor = next(r for r in rows if r["document"] == "prescription")
        assert by_doctor["printed_by"] == doctor.staff["id"] and by_doctor["printer"] == "A5 激光"
        assert by_doctor["campus_id"] == doctor.staff["campus_id"]
    finally:
        doctor.close()
        pharmacist.close()


def test_a_bad_print_record_is_refused_with_a_clear_message(shared_server: ServerProcess) -> None:
    nurse = ApiUser(shared_server.url, "nurse1")
    try:
        unknown = _record(nurse, document="poster")
        assert unknown["status"] == "rejected" and "document" in str(unknown), unknown
        missing = nurse.push_one("print.record", {"id": new_id(), "document": "ticket"})
        assert missing["status"] == "rejected" and "ref_id" in str(missing), missing
    finally:
        nurse.close()
