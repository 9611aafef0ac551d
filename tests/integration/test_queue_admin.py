"""Queues, rule sets and pharmacy settings administered against a real server process: saved and retired
as ``reference.save`` / ``reference.retire``, bad input refused with clear messages, roles that may not
administer refused, a triage desk's store picking a new queue and a changed rule set up through the feed,
and an admin's edit meeting a check-in another PC recorded offline: both stand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.domain.entities import Pharmacy, Queue, QueueTicket
from shared.domain.queue_rules import order_for, rules_for
from shared.ids import new_id, reference_id
from tests.shared.domain.test_queue_rules import minutes, ticket
from tests.support.api import ApiUser, patient_args
from tests.support.server import ServerProcess
from tests.sync.support import make_client

NEW_QUEUE = {
    "code": "MAIN-NK-Q2", "name": "心内科专家候诊", "name_en": "Cardiology experts", "campus_id": "MAIN",
    "department_id": "MAIN-NK", "room_ids": "MAIN-NK-01;MAIN-NK-02", "prefix": "K", "policy": "interleave",
    "interleave": "2:1", "second_queue_cap": "1", "late_minutes": "20",
}  # fmt: skip


def save(user: ApiUser, kind: str, fields: dict[str, str], **kw: Any) -> dict[str, Any]:
    return user.push_one("reference.save", {"kind": kind, "fields": fields}, **kw)


def test_an_admin_creates_changes_and_retires_a_queue_and_a_triage_desk_picks_it_up(
    server: ServerProcess, tmp_path: Path
) -> None:
    admin = ApiUser(server.url, "admin")
    desk = make_client(tmp_path / "desk.db", server.url, "nurse1")
    try:
        created = save(admin, "queue", NEW_QUEUE)
        assert created["status"] == "applied", created
        desk.sync()
        queue = desk.store.get(Queue, reference_id("queue", "MAIN-NK-Q2"))
        assert queue is not None and queue.prefix == "K" and len(queue.room_ids) == 2
        assert rules_for(queue).interleave == (2, 1) and rules_for(queue).late_minutes == 20

        # the order a PC computes follows the rule set it pulled: 2:1, then 1:1 after the change
        tickets = [t.model_copy(update={"queue_id": queue.id}) for t in (
            *(ticket(f"a{n}", n, slot=30 + n) for n in range(4)), *(ticket(f"w{n}", n) for n in range(4))
        )]  # fmt: skip
        before = [p.ticket.id for p in order_for(queue, tickets, minutes(40)).waiting]
        changed = save(admin, "queue", {"code": "MAIN-NK-Q2", "interleave": "1:1"})
        assert changed["status"] == "applied", changed
        desk.sync()
        queue = desk.store.get(Queue, queue.id)
        assert queue is not None and rules_for(queue).interleave == (1, 1)
        assert rules_for(queue).second_queue_cap == 1 and queue.prefix == "K"  # only what was named changed
        after = [p.ticket.id for p in order_for(queue, tickets, minutes(40)).waiting]
        assert before != after and sorted(before) == sorted(after)

        # a patient waiting today: the queue cannot be retired under them
        patient = patient_args()
        nurse = ApiUser(server.url, "nurse1", desk_slot=1)
        assert nurse.push_one("patient.register", patient)["status"] == "applied"
        ticket_id = new_id()
        checked = nurse.push_one(
            "queue.check_in", {"id": ticket_id, "queue_id": queue.id, "patient_id": patient["id"]}
        )
        assert checked["status"] == "applied", checked
        refused = admin.push_one(
            "reference.retire", {"kind": "queue", "code": "MAIN-NK-Q2", "reason": "合并"}
        )
        assert refused["status"] == "rejected" and refused["code"] == "queue_in_use"
        assert "1 位患者" in refused["message"] and "关闭签到" in refused["message"]
        closed = save(admin, "queue", {"code": "MAIN-NK-Q2", "active": "0"})
        assert closed["status"] == "applied"
        late = nurse.push_one(
            "queue.check_in", {"id": new_id(), "queue_id": queue.id, "patient_id": patient_args()["id"]}
        )
        assert late["status"] == "rejected"
        assert (
            nurse.push_one("queue.cancel", {"ticket_id": ticket_id, "note": "已转科"})["status"] == "applied"
        )
        retired = admin.push_one(
            "reference.retire", {"kind": "queue", "code": "MAIN-NK-Q2", "reason": "合并"}
        )
        assert retired["status"] == "applied", retired
        desk.sync()
        gone = desk.store.get(Queue, queue.id)
        assert gone is not None and gone.voided  # kept, readable by its old tickets
        assert desk.store.get(QueueTicket, ticket_id) is not None
    finally:
        desk.close()


def test_bad_queue_input_is_refused_with_a_clear_message(server: ServerProcess) -> None:
    admin = ApiUser(server.url, "admin")
    admin.http.headers["Accept-Language"] = "zh-CN"
    cases = [
        ({"interleave": "0:1"}, "预约 : 现场 比例应写成两个 1–20 的整数"),
        ({"second_queue_cap": "-2"}, "诊室门口二次候诊人数应为 0–20 的整数（填写的是 -2）"),
        ({"priority_order": "emergency;vip"}, "未知的优先类别 vip"),
        ({"department_id": "MAIN-XX"}, "未知的科室编码 'MAIN-XX'"),
        ({"room_ids": "EAST-EK-01"}, "诊室 EAST-EK-01 不属于队列所在院区 MAIN"),
    ]
    for fields, expected in cases:
        refused = save(admin, "queue", {**NEW_QUEUE, "code": "BAD-Q", **fields})
        assert refused["status"] == "rejected" and refused["code"] == "invalid_row", refused
        assert refused["message"].startswith("队列 BAD-Q 未保存：") and expected in refused["message"], (
            refused
        )
    # a retired department cannot take a new queue, and says so
    assert (
        save(admin, "department", {"code": "MAIN-TMP", "name": "临时科室", "campus_id": "MAIN"})["status"]
        == "applied"
    )
    assert (
        admin.push_one("reference.retire", {"kind": "department", "code": "MAIN-TMP", "reason": "撤销"})[
            "status"
        ]
        == "applied"
    )
    refused = save(
        admin, "queue", {**NEW_QUEUE, "code": "TMP-Q", "department_id": "MAIN-TMP", "room_ids": ""}
    )
    assert refused["status"] == "rejected" and "科室 MAIN-TMP 已停用，不能用于队列" in refused["message"], (
        refused
    )
    admin.http.headers["Accept-Language"] = "en"
    refused = save(admin, "queue", {**NEW_QUEUE, "code": "BAD-Q", "interleave": "3:0"})
    assert (
        "Appointments : walk-ins must be two whole numbers from 1 to 20, such as 2:1 (given 3:0)"
        in refused["message"]
    )
    admin.http.headers["Accept-Language"] = "zh-TW"
    refused = save(admin, "queue", {**NEW_QUEUE, "code": "BAD-Q", "second_queue_cap": "-1"})
    assert "診室門口二次候診人數應為 0–20 的整數" in refused["message"], refused


def test_roles_that_may_not_administer_cannot_change_queues_or_pharmacies(server: ServerProcess) -> None:
    for username in ("doctor1", "nurse1", "auditor"):
        user = ApiUser(server.url, username)
        for kind, fields in (
            ("queue", NEW_QUEUE),
            ("pharmacy", {"code": "MAIN-WY", "pickup_code_required": "0"}),
        ):
            pushed = user.push(user.envelope("reference.save", {"kind": kind, "fields": fields}))
            assert pushed.status_code == 403, (username, pushed.text)
            detail = pushed.json()["detail"]
            if detail is not None:
                assert detail["outcomes"][0]["status"] == "rejected", (username, pushed.text)
    admin = ApiUser(server.url, "admin")
    changes, _ = admin.pull_all()
    assert not any(c["kind"] == "queue" and c["data"]["code"] == "MAIN-NK-Q2" for c in changes)


def test_pharmacy_settings_are_saved_and_reach_the_pharmacy_pc(server: ServerProcess, tmp_path: Path) -> None:
    admin = ApiUser(server.url, "admin")
    pharmacist = make_client(tmp_path / "pharmacy.db", server.url, "pharmacist1")
    try:
        pharmacies = pharmacist.store.all(Pharmacy)
        target = next(p for p in pharmacies if p.pickup_code_required)
        done = save(
            admin, "pharmacy", {"code": target.code, "pickup_code_required": "0", "payment_required": "1"}
        )
        assert done["status"] == "applied", done
        pharmacist.sync()
        now = pharmacist.store.get(Pharmacy, target.id)
        assert now is not None and not now.pickup_code_required and now.payment_required
        refused = save(admin, "pharmacy", {"code": target.code, "pickup_code_required": "也许"})
        assert refused["status"] == "rejected" and "也许" in refused["message"]
    finally:
        pharmacist.close()


def test_an_admins_rule_change_and_a_check_in_recorded_offline_on_another_pc_both_stand(
    server: ServerProcess, tmp_path: Path
) -> None:
    desk = make_client(tmp_path / "desk.db", server.url, "nurse1")
    admin = ApiUser(server.url, "admin")
    try:
        queue = desk.store.get(Queue, reference_id("queue", "MAIN-NK-Q"))
        assert queue is not None and rules_for(queue).interleave == (2, 1)
        # the desk is cut off: it registers and checks a patient in, kept in its outbox
        patient = patient_args()
        desk.store.record("patient.register", patient)
        ticket_id = new_id()
        desk.store.record(
            "queue.check_in", {"id": ticket_id, "queue_id": queue.id, "patient_id": patient["id"]}
        )
        assert desk.store.pending_count() == 2
        # meanwhile IT changes the queue's rule set
        changed = save(
            admin,
            "queue",
            {"code": "MAIN-NK-Q", "interleave": "3:1", "late_minutes": "30"},
            base_version=queue.version,
        )
        assert changed["status"] == "applied", changed
        # the desk is back: its check-in is accepted into the queue as the admin left it, nothing lost
        desk.sync()
        assert desk.store.pending_count() == 0
        ticket_row = desk.store.get(QueueTicket, ticket_id)
        assert ticket_row is not None and ticket_row.status == "waiting" and ticket_row.queue_id == queue.id
        now = desk.store.get(Queue, queue.id)
        assert now is not None and rules_for(now).interleave == (3, 1) and rules_for(now).late_minutes == 30
        assert now.room_ids == queue.room_ids
    finally:
        desk.close()
