"""A queue and its rule set as a row of plain fields: what the export writes reads back unchanged, a bad
number is refused with the reader's words in every language, an edit keeps the day's room state, and a
changed rule set orders the tickets already waiting from the moment it is there."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.domain.entities import Queue, RoomDuty
from shared.domain.queue_rules import order_for, rules_for
from shared.errors import ValidationFailed
from shared.ids import reference_id
from shared.reference_io import export
from shared.reference_io.plan import KINDS, entity_from_fields
from tests.shared.domain.test_queue_rules import minutes, ticket

NOW = dt.datetime(2026, 11, 22, 1, 0, tzinfo=dt.UTC)
SPEC = KINDS["queue"]
CAMPUS = reference_id("campus", "MAIN")
DEPARTMENT = reference_id("department", "MAIN-NK")
ROOM = reference_id("room", "MAIN-NK-01")
KNOWN = {
    "campus": {"MAIN": CAMPUS},
    "department": {"MAIN-NK": DEPARTMENT},
    "room": {"MAIN-NK-01": ROOM},
}
CODES_BY_ID = {kind: {v: k for k, v in codes.items()} for kind, codes in KNOWN.items()}


def queue(**changes: object) -> Queue:
    base = Queue(
        id=reference_id("queue", "NK-Q"),
        campus_id=CAMPUS,
        code="NK-Q",
        name="心内科候诊",
        department_id=DEPARTMENT,
        room_ids=[ROOM],
        policy="interleave",
        rules={"interleave": [2, 1], "second_queue_cap": 2},
        paused_rooms=[ROOM],
        staffed_rooms={ROOM: RoomDuty(doctor_id="d1", since=NOW, by="d1")},
    )
    return base.model_copy(update=changes)


def save(fields: dict[str, str], before: Queue | None = None, lang: str = "en") -> Queue:
    entity = entity_from_fields(SPEC, fields, before, known_codes=KNOWN, now=NOW, lang=lang)
    assert isinstance(entity, Queue)
    return entity


def test_an_exported_queue_reads_back_as_the_same_queue_with_its_rule_set_in_plain_columns() -> None:
    before = queue()
    cells = dict(zip(export.columns(SPEC), export.row(SPEC, before, CODES_BY_ID), strict=True))
    assert cells["interleave"] == "2:1" and cells["room_ids"] == "MAIN-NK-01"
    assert cells["priority_order"] == "emergency;military;disabled;elderly;returning"
    assert cells["department_id"] == "MAIN-NK" and cells["second_queue_cap"] == "2"
    again = save(cells, before)
    # the same rule set: the stored dict is left as it was, nothing changes but the version
    assert again.model_dump(exclude={"version", "updated_at"}) == before.model_dump(
        exclude={"version", "updated_at"}
    )


def test_an_edit_changes_the_rules_it_names_and_keeps_the_days_room_state() -> None:
    before = queue()
    after = save({"code": "NK-Q", "interleave": "1:1", "priority_order": "military;emergency"}, before)
    rules = rules_for(after)
    assert rules.interleave == (1, 1) and rules.priority_order == ("military", "emergency")
    assert rules.second_queue_cap == 2  # untouched
    assert after.paused_rooms == before.paused_rooms and after.staffed_rooms == before.staffed_rooms
    assert save({"code": "NK-Q", "elderly_age": "0"}, before).rules["elderly_age"] is None  # 0 = none


def test_a_new_queue_is_made_from_codes_with_the_id_an_import_gives_it() -> None:
    made = save({"code": "NEW-Q", "name": "新队列", "campus_id": "MAIN", "department_id": "MAIN-NK",
                 "room_ids": "MAIN-NK-01", "interleave": "3:1", "policy": "interleave"})  # fmt: skip
    assert made.id == reference_id("queue", "NEW-Q") and made.room_ids == [ROOM]
    assert made.department_id == DEPARTMENT and rules_for(made).interleave == (3, 1)


@pytest.mark.parametrize(
    ("fields", "en", "zh"),
    [
        ({"interleave": "0:1"}, "Appointments : walk-ins must be two whole numbers from 1 to 20", "预约 : 现场 比例应写成两个 1–20 的整数"),
        ({"interleave": "2"}, "such as 2:1 (given 2)", "如 2:1（填写的是 2）"),
        ({"second_queue_cap": "-1"}, "Waiting at each room's door must be a whole number from 0 to 20 (given -1)", "诊室门口二次候诊人数应为 0–20 的整数（填写的是 -1）"),
        ({"late_minutes": "lots"}, "Late arrival allowed (min) must be a whole number", "迟到容许（分钟）应为 0–1440 的整数"),
        ({"skip_reinsert_after": "51"}, "Skipped patients return after must be a whole number from 0 to 50", "过号回来排在几人后应为 0–50 的整数"),
        ({"priority_order": "vip"}, "unknown priority class vip", "未知的优先类别 vip"),
        ({"priority_order": "elderly;elderly"}, "priority class elderly is listed twice", "优先类别 elderly 重复"),
        ({"number_slots": "1"}, "Number slots must be a whole number from 2 to 100 (given 1)", "发号槽数应为 2–100 的整数"),
        ({"policy": "fastest"}, "Ordering must be one of strict_priority, interleave, weighted_wait", "排序方式应为以下之一"),
        ({"department_id": "NOPE"}, "department_id: unknown department code 'NOPE'", "未知的科室编码 'NOPE'"),
        ({"room_ids": "MAIN-NK-01;XX-9"}, "room_ids: unknown room code 'XX-9'", "未知的诊室编码 'XX-9'"),
    ],
)  # fmt: skip
def test_a_bad_rule_set_is_refused_with_the_field_in_the_readers_words(
    fields: dict[str, str], en: str, zh: str
) -> None:
    for lang, expected in (("en", en), ("zh_CN", zh)):
        with pytest.raises(ValidationFailed) as refused:
            save({"code": "NK-Q", **fields}, queue(), lang=lang)
        assert expected in refused.value.message, (lang, refused.value.message)
    with pytest.raises(ValidationFailed) as refused:
        save({"code": "NK-Q", **fields}, queue(), lang="zh_TW")
    assert refused.value.message  # a Traditional Chinese text too (no key shown instead)
    assert "queue_rows." not in refused.value.message


def test_a_new_queue_without_a_campus_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="A queue needs a campus code"):
        save({"code": "X-Q", "name": "无院区"})


def test_a_changed_interleave_orders_the_patients_already_waiting_from_the_moment_it_is_there() -> None:
    """Decision: a rule set applies to every ticket still waiting as soon as a PC has it (the order is a
    function of the tickets and the queue's rules now); calls already made are history and stay."""
    made = [ticket(f"a{n}", n, slot=30 + n) for n in range(4)] + [ticket(f"w{n}", n) for n in range(4)]
    made.append(ticket("c0", 0, slot=20, status="called", events=[{"kind": "call", "at": minutes(25)}]))
    *waiting, called = [t.model_copy(update={"queue_id": reference_id("queue", "NK-Q")}) for t in made]
    now = minutes(40)
    before = queue(staffed_rooms={}, paused_rooms=[], room_ids=[], rules={"interleave": [2, 1], "starvation_guard_minutes": None, "second_queue_cap": 0})  # fmt: skip
    after = save({"code": "NK-Q", "interleave": "1:1"}, before)
    old = [p.ticket.id for p in order_for(before, [*waiting, called], now).waiting]
    new = [p.ticket.id for p in order_for(after, [*waiting, called], now).waiting]
    assert sorted(old) == sorted(new) and old != new
    streams = ["a" if tid.startswith("a") else "w" for tid in new]
    assert streams[:4] in (["w", "a", "w", "a"], ["a", "w", "a", "w"])  # one to one from now on
    assert "c0" not in new and [t.id for t in order_for(after, [called], now).called] == ["c0"]
