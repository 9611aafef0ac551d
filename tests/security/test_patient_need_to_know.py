"""Patients are need-to-know, against a real server: each campus's PCs receive only the patients the
campus has business with; ID numbers and phones reach only the roles that need them; the pickup-code
digest reaches only pharmacists; bulk reads, searches, opened records and views are audited."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server_stub.db.engine import Database
from server_stub.services.entities import bulk_insert
from shared.ids import new_id
from tests.support.api import ApiUser, patient_args
from tests.support.server import ServerProcess

ID_NUMBER = "11010519491231002X"  # a valid resident ID (1949-12-31, female)
PHONE = "13912345678"
PATIENT_WINDOW_DAYS = 30  # entities.PATIENT_WINDOW_DAYS


def _patients(changes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c["data"] for c in changes if c["kind"] == "patient"}


def _path(url: str) -> str:
    return url.split("///", 1)[1]


def _needed_at(db_url: str, campus_id: str) -> set[str]:
    """Worked out from the clinical rows themselves, not from the server's bookkeeping."""
    cutoff = (dt.date.today() - dt.timedelta(days=PATIENT_WINDOW_DAYS)).isoformat()
    queries = [
        "SELECT patient_id FROM visit WHERE campus_id = ? AND substr(visit_date, 1, 10) >= ?",
        "SELECT patient_id FROM appointment WHERE campus_id = ? AND substr(slot_time, 1, 10) >= ?",
        "SELECT patient_id FROM queue_ticket WHERE campus_id = ? AND substr(day, 1, 10) >= ?",
        "SELECT patient_id FROM rx WHERE campus_id = ? AND substr(day, 1, 10) >= ?",
    ]
    with sqlite3.connect(_path(db_url)) as conn:
        return {row[0] for query in queries for row in conn.execute(query, (campus_id, cutoff))}


def _all_patients(db_url: str) -> set[str]:
    with sqlite3.connect(_path(db_url)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM patient")}


def _user_at(server: ServerProcess, role: str, campus_id: str) -> ApiUser:
    for n in range(1, 9):
        user = ApiUser(server.url, f"{role}{n}")
        if user.campus_id == campus_id:
            return user
        user.close()
    raise AssertionError(f"no {role} at {campus_id}")


def _clinical_department(user: ApiUser) -> str:
    changes, _ = user.pull_all()
    for change in changes:
        data = change["data"]
        if (
            change["kind"] == "department"
            and data["campus_id"] == user.campus_id
            and data["kind"] == "clinical"
        ):
            return str(change["id"])
    raise AssertionError("no clinical department")


def test_each_campus_receives_only_the_patients_it_has_business_with(server: ServerProcess) -> None:
    main, east = ApiUser(server.url, "nurse1"), ApiUser(server.url, "nurse2")
    assert main.campus_id != east.campus_id
    everyone = _all_patients(server.db_url)
    for user in (main, east):
        needed = _needed_at(server.db_url, user.campus_id)
        pulled = set(_patients(user.pull_all()[0]))
        assert pulled == needed and len(pulled) < len(everyone)
        assert set(_patients(user.snapshot())) == needed


def test_a_patient_registered_at_one_campus_reaches_another_only_once_it_has_business_there(
    any_server: ServerProcess,
) -> None:
    main, east = ApiUser(any_server.url, "nurse1"), ApiUser(any_server.url, "nurse2")
    args = patient_args(id_number=ID_NUMBER, birth_date="1949-12-31", sex="F", phone=PHONE)
    assert main.push_one("patient.register", args)["status"] == "applied"
    colleague = ApiUser(any_server.url, "nurse3")
    assert colleague.campus_id == main.campus_id
    assert args["id"] in _patients(colleague.pull_all()[0])
    department = _clinical_department(east)
    _, cursor = east.pull_all()
    assert args["id"] not in _patients(east.pull_all()[0])
    assert args["id"] not in _patients(east.snapshot())

    opened = east.push_one(
        "visit.open", {"id": new_id(), "patient_id": args["id"], "department_id": department}
    )
    assert opened["status"] == "applied", opened
    arrived = _patients(east.pull_all(cursor)[0])
    assert arrived[args["id"]]["id_number"] == ID_NUMBER  # a nurse checks IDs: in full
    assert args["id"] in _patients(east.snapshot())


def test_it_receives_masked_identifiers_nurses_doctors_and_pharmacists_in_full(
    server: ServerProcess,
) -> None:
    nurse = ApiUser(server.url, "nurse1")
    _, start = nurse.pull_all()
    args = patient_args(id_number=ID_NUMBER, birth_date="1949-12-31", sex="F", phone=PHONE)
    assert nurse.push_one("patient.register", args)["status"] == "applied"
    readers = {
        "pharmacist": _user_at(server, "pharmacist", nurse.campus_id),
        "admin": ApiUser(server.url, "admin", campus_id=nurse.campus_id),
        "doctor": _user_at(server, "doctor", nurse.campus_id),
        "nurse": nurse,
    }
    for role, user in readers.items():
        from_database = _patients(user.pull_all()[0])[args["id"]]  # cursor 0: read from the database
        from_memory = _patients(user.pull_all(start)[0])[args["id"]]  # near the head: the feed tail
        from_snapshot = _patients(user.snapshot())[args["id"]]
        for seen in (from_database, from_memory, from_snapshot):
            if role in ("doctor", "nurse", "pharmacist"):
                assert (seen["id_number"], seen["phone"]) == (ID_NUMBER, PHONE), role
            else:
                assert (seen["id_number"], seen["phone"]) == ("110***********002X", "139****5678"), role
                assert seen["id_number_tail"] == "002X"
    everything = json.dumps(readers["admin"].pull_all()[0])
    assert ID_NUMBER not in everything and PHONE not in everything


def test_only_pharmacists_receive_the_pickup_code_digest(server: ServerProcess) -> None:
    from tests.pharmacy_domain.support import prescription, review_args, signing_key_row

    rx = prescription(("阿莫西林胶囊", 3))
    db = Database.open(server.db_url, pool_size=1)
    try:
        with db.write() as conn:
            bulk_insert(conn, [signing_key_row(), rx])
    finally:
        db.dispose()
    pharmacist = ApiUser(server.url, "pharmacist1")
    assert pharmacist.campus_id == rx.campus_id
    _, start = pharmacist.pull_all()
    assert pharmacist.push_one("rx.review", review_args(rx, pickup_code="582014"))["status"] == "applied"

    def digests(user: ApiUser, cursor: int) -> tuple[str, str]:
        rows = {(c["kind"], c["id"]): c["data"] for c in user.pull_all(cursor)[0]}
        code = next(d for (k, _), d in rows.items() if k == "pickup_code" and d["rx_id"] == rx.id)
        return code["digest"], rows[("rx", rx.id)]["pickup_code_hash"]

    digest, copy = digests(pharmacist, start)
    assert digest and copy == digest
    others = [
        _user_at(server, "nurse", rx.campus_id),
        _user_at(server, "doctor", rx.campus_id),
        ApiUser(server.url, "admin", campus_id=rx.campus_id),
    ]
    for user in others:
        assert digests(user, 0) == ("", "")  # database path
        assert digests(user, start) == ("", "")  # feed-tail path
        snapshot = json.dumps(user.snapshot())
        assert digest not in snapshot


def _audit(db_url: str, action: str) -> list[dict[str, Any]]:
    with sqlite3.connect(_path(db_url)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM audit_log WHERE action = ? ORDER BY id", (action,)).fetchall()
    return [{**dict(row), "detail": json.loads(row["detail"])} for row in rows]


def _wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.fixture
def audited_server(demo_db_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {"CLINIC_PATIENT_AUDIT_FLUSH_SECONDS": "0.3"}
    process = ServerProcess(demo_db_url, tmp_path / "server.log", env=env).start()
    yield process
    process.stop()


def test_bulk_reads_of_patients_by_pulls_and_bootstraps_are_audited(audited_server: ServerProcess) -> None:
    nurse = ApiUser(audited_server.url, "nurse1")
    pulled = set(_patients(nurse.pull_all()[0]))
    assert pulled

    def pull_entries() -> list[dict[str, Any]]:
        return [
            e
            for e in _audit(audited_server.db_url, "patient.bulk_read")
            if e["device_id"] == nurse.device_id and e["detail"]["via"] == "pull"
        ]

    entries = _wait_for(pull_entries)
    assert set().union(*(set(e["detail"]["patients"]) for e in entries)) == pulled
    assert entries[0]["username"] == "nurse1" and entries[0]["target"] == nurse.campus_id

    snapshot = set(_patients(nurse.snapshot()))
    boot = _wait_for(
        lambda: [
            e
            for e in _audit(audited_server.db_url, "patient.bulk_read")
            if e["device_id"] == nurse.device_id and e["detail"]["via"] == "bootstrap"
        ]
    )
    assert set(boot[-1]["detail"]["patients"]) == snapshot and boot[-1]["detail"]["count"] == len(snapshot)
    assert boot[-1]["outcome"] == "sent"


def test_a_patient_looked_up_online_is_audited_and_then_reaches_the_campus(server: ServerProcess) -> None:
    main, east = ApiUser(server.url, "nurse1"), ApiUser(server.url, "nurse2")
    args = patient_args(id_number=ID_NUMBER, birth_date="1949-12-31", sex="F", phone=PHONE)
    assert main.push_one("patient.register", args)["status"] == "applied"
    _, cursor = east.pull_all()

    found = east.http.get("/api/v1/patients/search", params={"q": PHONE})
    assert found.status_code == 200 and [p["id"] for p in found.json()] == [args["id"]]
    search = _audit(server.db_url, "patient.search")[-1]
    assert search["device_id"] == east.device_id and search["detail"]["patients"] == [args["id"]]
    assert search["detail"]["query_kind"] == "phone" and PHONE not in json.dumps(search)
    assert args["id"] not in _patients(east.pull_all(cursor)[0])  # a search brings nobody to the PC

    it = ApiUser(server.url, "admin", campus_id=east.campus_id)  # IT sees identifiers masked
    masked = it.http.get("/api/v1/patients/search", params={"q": PHONE}).json()
    assert masked[0]["phone"] == "139****5678" and masked[0]["id_number"] == "110***********002X"

    opened = east.http.get(f"/api/v1/patients/{args['id']}")
    assert opened.status_code == 200 and opened.json()["id_number"] == ID_NUMBER
    read = _audit(server.db_url, "patient.read")[-1]
    assert (read["target"], read["device_id"], read["outcome"]) == (args["id"], east.device_id, "ok")
    assert args["id"] in _patients(east.pull_all(cursor)[0])
    missing = east.http.get(f"/api/v1/patients/{new_id()}")
    assert missing.status_code == 404 and missing.json()["code"] == "patient_not_found"


def test_a_view_recorded_offline_is_audited_with_its_time_when_pushed(server: ServerProcess) -> None:
    nurse = ApiUser(server.url, "nurse1")
    patient_id = next(iter(_patients(nurse.pull_all()[0])))
    viewed_at = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).isoformat()
    outcome = nurse.push_one(
        "patient.view", {"patient_id": patient_id, "screen": "check_in", "viewed_at": viewed_at}
    )
    assert outcome["status"] == "applied"
    entry = _audit(server.db_url, "mutation.patient.view")[-1]
    assert entry["username"] == "nurse1" and entry["device_id"] == nurse.device_id
    result = entry["detail"]["result"]
    assert result["patient_id"] == patient_id and result["screen"] == "check_in"
    assert dt.datetime.fromisoformat(result["viewed_at"]) == dt.datetime.fromisoformat(viewed_at)


def test_a_view_recorded_on_a_pc_waits_in_its_outbox_and_is_audited_when_it_syncs(
    server: ServerProcess, tmp_path: Path
) -> None:
    from shared.domain.entities import Patient
    from shared.store.patient_views import record_patient_view
    from tests.sync.support import make_client

    pc = make_client(tmp_path / "pc.db", server.url, "nurse1")
    try:
        patient = pc.store.all(Patient)[0]
        record_patient_view(pc.store, patient.id, "consult")  # the PC may be offline: only the outbox
        entry = pc.store.outbox("pending")[-1]
        assert entry.name == "patient.view" and entry.args["patient_id"] == patient.id
        assert not [
            e for e in _audit(server.db_url, "mutation.patient.view") if e["device_id"] == pc.store.device_id
        ]
        pc.sync()
        audited = [
            e for e in _audit(server.db_url, "mutation.patient.view") if e["device_id"] == pc.store.device_id
        ]
        assert audited[-1]["detail"]["result"]["patient_id"] == patient.id
        assert audited[-1]["detail"]["result"]["viewed_at"] == entry.args["viewed_at"]
    finally:
        pc.close()


def test_a_pc_it_uses_after_a_nurse_keeps_no_full_id_numbers(server: ServerProcess, tmp_path: Path) -> None:
    from shared.domain.entities import Patient
    from tests.support.api import DEMO_PASSWORD
    from tests.sync.support import make_client

    pc = make_client(tmp_path / "pc.db", server.url, "nurse1")
    try:
        assert [p for p in pc.store.all(Patient) if p.id_number and "*" not in p.id_number]
        pc.engine.login("admin", DEMO_PASSWORD, pc.store.session().campus_id)  # IT sees them masked
        pc.sync()
        patients = pc.store.all(Patient)
        assert patients and all(not p.id_number or "*" in p.id_number for p in patients)
        assert all(not p.phone or "*" in p.phone for p in patients)
    finally:
        pc.close()


def test_a_pc_finds_a_patient_of_another_campus_online_and_holds_it_once_opened(
    server: ServerProcess, tmp_path: Path
) -> None:
    from shared.domain.entities import Patient
    from shared.sync.patient_lookup import open_online, search_online
    from tests.sync.support import make_client

    main = ApiUser(server.url, "nurse1")
    args = patient_args(id_number=ID_NUMBER, birth_date="1949-12-31", sex="F", phone=PHONE)
    assert main.push_one("patient.register", args)["status"] == "applied"
    pc = make_client(tmp_path / "east.db", server.url, "nurse2")
    try:
        assert pc.store.get(Patient, args["id"]) is None
        found = search_online(pc.transport, ID_NUMBER)
        assert [p.id for p in found] == [args["id"]]
        pc.sync()
        assert pc.store.get(Patient, args["id"]) is None  # found, not yet opened: not on this PC
        assert open_online(pc.transport, args["id"]).id_number == ID_NUMBER
        pc.sync()
        assert pc.store.get(Patient, args["id"]) is not None
    finally:
        pc.close()
