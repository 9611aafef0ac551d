"""Queues over real HTTP: desk check-in and double calls through sync, kiosk check-in and queue status."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, update

from server_stub.db.tables import ENTITY_TABLES
from shared.errors import SuiteError
from shared.ids import new_id, reference_id
from shared.sync.transport import ApiTransport
from tests.support.api import ApiUser, patient_args
from tests.support.server import ServerProcess

CARDIOLOGY = reference_id("queue", "MAIN-NK-Q")


def _latest(changes: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [c["data"] for c in changes if c["kind"] == kind]


def test_two_desks_calling_one_ticket_both_count_and_the_later_is_told(server: ServerProcess) -> None:
    desk1 = ApiUser(server.url, "nurse1")
    desk2 = ApiUser(server.url, "nurse3")
    patient = patient_args()
    assert desk1.push_one("patient.register", patient)["status"] == "applied"
    ticket_id = new_id()
    checked = desk1.push_one(
        "queue.check_in",
        {"id": ticket_id, "queue_id": CARDIOLOGY, "patient_id": patient["id"], "number": 101},
    )
    assert checked["status"] == "applied" and checked["result"]["label"] == "A101"
    room = reference_id("room", "MAIN-NK-01")
    assert desk1.push_one("queue.call", {"ticket_id": ticket_id, "room_id": room})["status"] == "applied"
    second = desk2.push_one("queue.call", {"ticket_id": ticket_id})
    assert second["status"] == "applied_with_warning"
    assert desk1.staff["name"] in second["warnings"][0] and "A101" in second["warnings"][0]

    changes, _ = desk2.pull_all()
    tickets = [t for t in _latest(changes, "queue_ticket") if t["id"] == ticket_id]
    assert tickets[0]["status"] == "called"
    assert [(e["kind"], e["by"]) for e in tickets[0]["events"]] == [
        ("check_in", desk1.staff["id"]),
        ("call", desk1.staff["id"]),
        ("call", desk2.staff["id"]),
    ]
    assert {q["code"] for q in _latest(changes, "queue")} >= {"MAIN-NK-Q", "MAIN-LAB", "MAIN-IMG"}

    listing = desk1.http.get(f"/api/v1/queue/{CARDIOLOGY}").json()
    assert [c["label"] for c in listing["called"]] == ["A101"]
    assert listing["called"][0]["patient_name"] == "测**者"


def test_a_kiosk_checks_in_by_appointment_and_learns_its_place(server: ServerProcess) -> None:
    nurse = ApiUser(server.url, "nurse1")
    changes, _ = nurse.pull_all()
    appointment = sorted(_latest(changes, "appointment"), key=lambda a: a["number"])[0]
    # a kiosk is always held to the check-in window: the patient arrives shortly before the slot
    move_slot(server, appointment["id"], dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
    kiosk = ApiUser(server.url, "kiosk1")

    first = kiosk.http.post("/api/v1/queue/check-in", json={"appointment_number": appointment["number"]})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["label"].endswith("001") and body["status"] == "waiting" and body["ahead"] == 0
    assert body["room_id"] == appointment["room_id"] and body["room_name"]
    assert body["already_checked_in"] is False

    again = kiosk.http.post("/api/v1/queue/check-in", json={"appointment_number": appointment["number"]})
    assert again.status_code == 200 and again.json()["ticket_id"] == body["ticket_id"]
    assert again.json()["already_checked_in"] is True

    queue_id = body["queue_id"]
    by_label = kiosk.http.get(f"/api/v1/queue/{queue_id}/status", params={"ticket": body["label"]})
    by_appointment = kiosk.http.get(
        f"/api/v1/queue/{queue_id}/status", params={"appointment": appointment["number"]}
    )
    assert by_label.status_code == 200 and by_label.json()["ticket_id"] == body["ticket_id"]
    assert by_appointment.json()["ahead"] == 0
    listing = kiosk.http.get(f"/api/v1/queue/{queue_id}").json()
    assert [w["label"] for w in listing["waiting"]] == [body["label"]]
    assert "*" in listing["waiting"][0]["patient_name"]

    # the desk sees the kiosk's ticket through sync, with the appointment marked as checked in
    changes, _ = nurse.pull_all()
    assert body["ticket_id"] in {t["id"] for t in _latest(changes, "queue_ticket")}
    marked = [a for a in _latest(changes, "appointment") if a["id"] == appointment["id"]]
    assert marked[0]["status"] == "checked_in"


def test_queue_endpoints_are_documented_and_role_protected(shared_server: ServerProcess) -> None:
    spec = httpx.get(f"{shared_server.url}/openapi.json").json()
    assert {"/api/v1/queue/check-in", "/api/v1/queue/{queue_id}/status", "/api/v1/queue/{queue_id}"} <= set(
        spec["paths"]
    )
    anonymous = httpx.get(f"{shared_server.url}/api/v1/queue/{CARDIOLOGY}")
    assert anonymous.status_code == 401
    pharmacist = ApiUser(shared_server.url, "pharmacist1")
    assert pharmacist.http.get(f"/api/v1/queue/{CARDIOLOGY}").status_code == 403
    kiosk = ApiUser(shared_server.url, "kiosk1")
    assert kiosk.http.get("/api/v1/sync/pull").status_code == 403
    assert kiosk.push(kiosk.envelope("queue.call", {"ticket_id": new_id()})).status_code == 403
    unknown = kiosk.http.post(
        "/api/v1/queue/check-in", json={"appointment_number": "NOPE"}, headers={"Accept-Language": "en"}
    )
    assert unknown.status_code == 404 and unknown.json()["message"] == "No appointment numbered NOPE"
    queues = kiosk.http.get("/api/v1/queue").json()
    assert CARDIOLOGY in {q["id"] for q in queues}
    assert all(q["code"].startswith("MAIN-") for q in queues)
    east = reference_id("queue", "EAST-QK-Q")
    assert kiosk.http.get(f"/api/v1/queue/{east}").status_code == 403


def move_slot(server: ServerProcess, appointment_id: str, slot_time: dt.datetime) -> None:
    """Move an appointment's slot in the server's database: the server's clock is the real one, so a
    test puts the slot where it needs it relative to now."""
    engine = create_engine(server.db_url)
    table = ENTITY_TABLES["appointment"]
    try:
        with engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == appointment_id).values(slot_time=slot_time))
    finally:
        engine.dispose()


def test_a_self_check_in_outside_the_window_is_refused_with_the_window(server: ServerProcess) -> None:
    nurse = ApiUser(server.url, "nurse1")
    changes, _ = nurse.pull_all()
    early, late, on_time = sorted(_latest(changes, "appointment"), key=lambda a: a["number"])[:3]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    move_slot(server, early["id"], now + dt.timedelta(hours=3))
    move_slot(server, late["id"], now - dt.timedelta(hours=2))
    move_slot(server, on_time["id"], now + dt.timedelta(minutes=20))
    kiosk = ApiUser(server.url, "kiosk1")

    def check_in(number: str, lang: str = "zh-CN", **extra: Any) -> httpx.Response:
        return kiosk.http.post(
            "/api/v1/queue/check-in",
            json={"appointment_number": number, **extra},
            headers={"Accept-Language": lang},
        )

    too_early = check_in(early["number"], within_window=True)
    assert too_early.status_code == 422, too_early.text
    body = too_early.json()
    assert body["code"] == "outside_check_in_window" and "还未到签到时间" in body["message"]
    detail = body["detail"]
    slot = dt.datetime.fromisoformat(detail["slot_time"])
    assert slot == now + dt.timedelta(hours=3) and detail["verdict"] == "too_early"
    assert dt.datetime.fromisoformat(detail["opens_at"]) == slot - dt.timedelta(minutes=60)
    assert dt.datetime.fromisoformat(detail["closes_at"]) == slot + dt.timedelta(minutes=15)

    too_late = check_in(late["number"], "en", within_window=True)
    assert too_late.status_code == 422 and too_late.json()["detail"]["verdict"] == "too_late"
    assert too_late.json()["message"].startswith("Too late to check in here")

    # nothing was checked in by the refusals
    for refused in (early, late):
        status = kiosk.http.get(
            f"/api/v1/queue/{CARDIOLOGY}/status", params={"appointment": refused["number"]}
        )
        assert status.status_code == 404

    # a kiosk account is held to the window whatever it sends; without ``within_window`` a desk (or
    # another hospital system) checks a late patient in: the window is not the server's business then
    assert check_in(late["number"], within_window=False).status_code == 422
    desk = nurse.http.post("/api/v1/queue/check-in", json={"appointment_number": late["number"]})
    assert desk.status_code == 200, desk.text

    # the desktop client's call: within the window it checks in, outside it raises the code and detail
    transport = ApiTransport(server.url, lang="zh_CN")
    transport.set_token(kiosk.token)
    try:
        answer = transport.queue_check_in(on_time["number"], within_window=True)
        assert answer["already_checked_in"] is False and answer["label"]
        with pytest.raises(SuiteError) as refused:
            transport.queue_check_in(early["number"], within_window=True)
        assert refused.value.code == "outside_check_in_window"
        assert isinstance(refused.value.detail, dict) and refused.value.detail["verdict"] == "too_early"
    finally:
        transport.close()


def test_queue_steps_done_offline_keep_when_they_happened_within_the_servers_bounds(
    server: ServerProcess,
) -> None:
    desk = ApiUser(server.url, "nurse1")
    patient = patient_args()
    ticket_id = new_id()
    room = reference_id("room", "MAIN-NK-01")
    now = dt.datetime.now(dt.UTC)

    def at(envelope: dict[str, Any], when: dt.datetime) -> dict[str, Any]:
        return {**envelope, "occurred_at": when.isoformat()}

    # an outage: the desk did it all 50 … 20 minutes ago and uploads it now, in one batch
    batch = [
        at(desk.envelope("patient.register", patient), now - dt.timedelta(minutes=55)),
        at(
            desk.envelope(
                "queue.check_in",
                {"id": ticket_id, "queue_id": CARDIOLOGY, "patient_id": patient["id"], "number": 150},
            ),
            now - dt.timedelta(minutes=50),
        ),
        at(
            desk.envelope("queue.call", {"ticket_id": ticket_id, "room_id": room}),
            now - dt.timedelta(minutes=30),
        ),
        # a PC clock that puts the start before the call: not before the call
        at(desk.envelope("queue.start", {"ticket_id": ticket_id}), now - dt.timedelta(minutes=45)),
        # a PC clock two hours fast: not after the server got it
        at(desk.envelope("queue.finish", {"ticket_id": ticket_id}), now + dt.timedelta(hours=2)),
    ]
    answer = desk.push(*batch)
    assert answer.status_code == 200, answer.text
    assert [o["status"] for o in answer.json()["outcomes"]] == ["applied"] * 5
    received = dt.datetime.now(dt.UTC)

    changes, _ = desk.pull_all()
    row = [t for t in _latest(changes, "queue_ticket") if t["id"] == ticket_id][0]
    assert dt.datetime.fromisoformat(row["checked_in_at"]) == now - dt.timedelta(minutes=50)
    events = row["events"]
    assert [e["kind"] for e in events] == ["check_in", "call", "start", "finish"]
    happened = [dt.datetime.fromisoformat(e["occurred_at"]) for e in events]
    recorded = [dt.datetime.fromisoformat(e["at"]) for e in events]
    assert happened[:3] == [now - dt.timedelta(minutes=m) for m in (50, 30, 30)]
    assert now <= happened[3] <= recorded[3] <= received
    assert all(now <= r <= received for r in recorded)  # the server's own receipt time is kept too


def test_only_rooms_with_a_doctor_at_work_take_patients_at_their_door(server: ServerProcess) -> None:
    desk = ApiUser(server.url, "nurse1")
    changes, _ = desk.pull_all()
    cardiology = reference_id("department", "MAIN-NK")
    doctor = next(
        s
        for s in sorted(_latest(changes, "staff"), key=lambda s: s["username"])
        if s["department_id"] == cardiology and "doctor" in s["roles"]
    )
    for n in range(3):
        patient = patient_args()
        assert desk.push_one("patient.register", patient)["status"] == "applied"
        args = {"id": new_id(), "queue_id": CARDIOLOGY, "patient_id": patient["id"], "number": 160 + n}
        assert desk.push_one("queue.check_in", args)["status"] == "applied"
    listing = desk.http.get(f"/api/v1/queue/{CARDIOLOGY}").json()
    assert listing["doors"] == {}  # nobody at work: nobody is parked at an empty room

    user = ApiUser(server.url, doctor["username"])
    room = reference_id("room", "MAIN-NK-02")
    opened = user.push_one("queue.room_open", {"room_id": room})
    assert opened["status"] == "applied", opened
    listing = desk.http.get(f"/api/v1/queue/{CARDIOLOGY}").json()
    assert set(listing["doors"]) == {room}
    assert listing["queue"]["working_rooms"] == [room]
    assert user.push_one("queue.room_close", {"room_id": room})["status"] == "applied"
    assert desk.http.get(f"/api/v1/queue/{CARDIOLOGY}").json()["doors"] == {}
