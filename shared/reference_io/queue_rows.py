"""A queue and its rule set as one row of plain fields, the way ``clinic import``/``export`` and the
administration window hold them: the rule set's parameters (``Queue.policy`` and the ``Queue.rules``
dict, ``shared.domain.queue_rules.RuleSet``) become columns with plain values (``interleave`` = ``2:1``,
``priority_order`` = ``emergency;military;…``), rooms are named by their codes.

The row never carries what the day's work changes on a queue (``paused_rooms``, ``staffed_rooms``): an
administrator's edit or an import keeps them as they are. A row's numbers are checked here with messages
that name the field in the reader's words, so the window, the import and the server refuse a bad rule set
for the same reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import ValidationError

from shared.domain.entities import Entity, Queue
from shared.domain.queue_rules import PRIORITY_CLASSES, RuleSet, rules_for
from shared.errors import ValidationFailed
from shared.i18n import register, tr
from shared.reference_io.messages import kind_label

# The rule set's columns, with the range an administrator may give (None: no upper bound beyond RuleSet's)
RULE_RANGES: Final[dict[str, tuple[int, int]]] = {
    "elderly_age": (0, 150),  # 0: age alone makes nobody elderly
    "early_minutes": (0, 24 * 60),
    "late_minutes": (0, 24 * 60),
    "skip_reinsert_after": (0, 50),
    "second_queue_cap": (0, 20),
    "starvation_guard_minutes": (0, 24 * 60),  # 0: no guard
    "appointment_bonus_minutes": (0, 600),
}
INTERLEAVE_MAX: Final = 20
# Whole-number fields of the queue itself (the entity bounds them too; these give the reader's message)
QUEUE_RANGES: Final[dict[str, tuple[int, int]]] = {"number_block": (1, 10_000), "number_slots": (2, 100)}
# Rule fields where 0 means "none" (stored as None in the rule set)
_ZERO_IS_NONE: Final = frozenset({"elderly_age", "starvation_guard_minutes"})

QUEUE_COLUMNS: Final[tuple[str, ...]] = (
    "code",
    "name",
    "name_en",
    "campus_id",
    "department_id",
    "kind",
    "room_ids",
    "prefix",
    "number_block",
    "number_slots",
    "active",
    "policy",
    "priority_order",
    "interleave",
    "elderly_age",
    "early_minutes",
    "late_minutes",
    "skip_reinsert_after",
    "second_queue_cap",
    "starvation_guard_minutes",
    "appointment_bonus_minutes",
)
RULE_COLUMNS: Final = frozenset({"priority_order", "interleave", *RULE_RANGES})

_TEXTS: dict[str, tuple[str, str, str]] = {
    # key: (zh_CN, en, zh_TW)
    "range": (
        "{label}应为 {low}–{high} 的整数（填写的是 {given}）",
        "{label} must be a whole number from {low} to {high} (given {given})",
        "{label}應為 {low}–{high} 的整數（填寫的是 {given}）",
    ),
    "interleave": (
        "{label}应写成两个 1–{high} 的整数，如 2:1（填写的是 {given}）",
        "{label} must be two whole numbers from 1 to {high}, such as 2:1 (given {given})",
        "{label}應寫成兩個 1–{high} 的整數，如 2:1（填寫的是 {given}）",
    ),
    "priority_unknown": (
        "{label}：未知的优先类别 {given}（可用：{known}）",
        "{label}: unknown priority class {given} (known: {known})",
        "{label}：未知的優先類別 {given}（可用：{known}）",
    ),
    "priority_twice": (
        "{label}：优先类别 {given} 重复",
        "{label}: priority class {given} is listed twice",
        "{label}：優先類別 {given} 重複",
    ),
    "policy": (
        "{label}应为以下之一：{known}（填写的是 {given}）",
        "{label} must be one of {known} (given {given})",
        "{label}應為以下之一：{known}（填寫的是 {given}）",
    ),
    "no_campus": ("请填写院区编码", "A queue needs a campus code", "請填寫院區編碼"),
    "retired_department": (
        "科室 {code} 已停用，不能用于队列",
        "Department {code} is retired and cannot take a queue",
        "科室 {code} 已停用，不能用於隊列",
    ),
    "other_campus": (
        "{what} {code} 不属于队列所在院区 {campus}",
        "{what} {code} is not at the queue's campus {campus}",
        "{what} {code} 不屬於隊列所在院區 {campus}",
    ),
    "numbers_today": (
        "今天已发出的 {count} 个号码不变；各分诊台在下次同步后按新的号段发号",
        "The {count} numbers issued today stay; desks number by the new blocks after their next sync",
        "今天已發出的 {count} 個號碼不變；各分診台在下次同步後按新的號段發號",
    ),
}
# What the reader calls each column (the window's form labels, and the field in a refusal)
LABELS: Final[dict[str, tuple[str, str, str]]] = {
    "code": ("队列编码", "Queue code", "隊列編碼"),
    "name": ("队列名称", "Queue name", "隊列名稱"),
    "name_en": ("英文名称", "English name", "英文名稱"),
    "campus_id": ("院区编码", "Campus code", "院區編碼"),
    "department_id": ("科室编码", "Department code", "科室編碼"),
    "kind": ("队列类型", "Queue type", "隊列類型"),
    "room_ids": ("固定诊室（诊室编码）", "Rooms (room codes)", "固定診室（診室編碼）"),
    "prefix": ("号码前缀", "Number prefix", "號碼前綴"),
    "number_block": ("号段大小", "Numbers per block", "號段大小"),
    "number_slots": ("发号槽数", "Number slots", "發號槽數"),
    "active": ("接受签到", "Taking check-ins", "接受簽到"),
    "policy": ("排序方式", "Ordering", "排序方式"),
    "priority_order": ("优先类别及顺序", "Priority classes, highest first", "優先類別及順序"),
    "interleave": ("预约 : 现场 比例", "Appointments : walk-ins", "預約 : 現場 比例"),
    "elderly_age": ("老年优先年龄", "Elderly from age", "老年優先年齡"),
    "early_minutes": ("预约提前签到（分钟）", "Check-in opens (min before slot)", "預約提前簽到（分鐘）"),
    "late_minutes": ("迟到容许（分钟）", "Late arrival allowed (min)", "遲到容許（分鐘）"),
    "skip_reinsert_after": ("过号回来排在几人后", "Skipped patients return after", "過號回來排在幾人後"),
    "second_queue_cap": ("诊室门口二次候诊人数", "Waiting at each room's door", "診室門口二次候診人數"),
    "starvation_guard_minutes": ("久候保护（分钟）", "Long-wait guard (min)", "久候保護（分鐘）"),
    "appointment_bonus_minutes": ("预约加权（分钟）", "Appointment head start (min)", "預約加權（分鐘）"),
}
for _key, (_zh, _en, _tw) in _TEXTS.items():
    register(f"queue_rows.{_key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})
for _key, (_zh, _en, _tw) in LABELS.items():
    register(f"queue_rows.label.{_key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


def label(name: str, lang: str) -> str:
    return tr(f"queue_rows.label.{name}", lang) if name in LABELS else name


def say(key: str, lang: str, **params: object) -> str:
    return tr(f"queue_rows.{key}", lang, **params)


class QueueRows:
    """The row codec of ``queue`` for ``shared.reference_io.plan.ImportKind``."""

    columns: tuple[str, ...] = QUEUE_COLUMNS
    flags: frozenset[str] = frozenset({"active"})
    lists: frozenset[str] = frozenset({"room_ids", "priority_order"})
    # fields other kinds' rows fill, which the day's work keeps (never in a file, never compared)
    kept: frozenset[str] = frozenset({"paused_rooms", "staffed_rooms", "doctor_id"})

    def cells(self, entity: Entity) -> dict[str, Any]:
        """The row's values (ids still ids; the export names them by code)."""
        assert isinstance(entity, Queue)
        rules = rules_for(entity)
        out: dict[str, Any] = {
            name: getattr(entity, name) for name in QUEUE_COLUMNS if name not in RULE_COLUMNS
        }
        out["priority_order"] = list(rules.priority_order)
        out["interleave"] = f"{rules.interleave[0]}:{rules.interleave[1]}"
        for name in RULE_RANGES:
            value = getattr(rules, name)
            out[name] = 0 if value is None else value
        return out

    def to_entity_data(self, data: dict[str, Any], before: Entity | None, lang: str) -> dict[str, Any]:
        """The row's fields as ``Queue`` fields: the rule columns folded into ``rules`` on top of
        ``before``'s (an empty cell keeps the value). Raises ``ValidationFailed`` with the reader's reason."""
        assert before is None or isinstance(before, Queue)
        values = {k: v for k, v in data.items() if k not in RULE_COLUMNS}
        if before is None and not values.get("campus_id"):
            raise ValidationFailed(say("no_campus", lang), code="invalid_row")
        for name, (low, high) in QUEUE_RANGES.items():
            if name in values:
                values[name] = _whole(name, values[name], low, high, lang)
        given: dict[str, Any] = {}
        for name, (low, high) in RULE_RANGES.items():
            if name in data:
                number = _whole(name, data[name], low, high, lang)
                given[name] = None if number == 0 and name in _ZERO_IS_NONE else number
        if "interleave" in data:
            given["interleave"] = _ratio(str(data["interleave"]), lang)
        if "priority_order" in data:
            given["priority_order"] = _classes(data["priority_order"], lang)
        policy = str(values.get("policy", before.policy if before else "strict_priority"))
        known_policies = ("strict_priority", "interleave", "weighted_wait")
        if policy not in known_policies:
            raise ValidationFailed(
                say(
                    "policy", lang, label=label("policy", lang), known=", ".join(known_policies), given=policy
                ),
                code="invalid_row",
            )
        old_rules = dict(before.rules) if before else {}
        merged = {**old_rules, **given}
        try:
            new_set = RuleSet.model_validate({**merged, "policy": policy})
        except ValidationError as error:  # pragma: no cover - the ranges above are inside RuleSet's
            raise ValidationFailed(str(error), code="invalid_row") from error
        if before is not None and new_set == rules_for(before.model_copy(update={"policy": policy})):
            merged = old_rules  # the same rule set: the stored dict stays as it was
        values["rules"] = merged
        return values

    def problems(self, queue: Queue, entities: Mapping[str, Entity | None], lang: str) -> str | None:
        """Checks that need other rows (``entities``: id -> row, None when unknown): the department and
        the rooms at the queue's campus."""
        campus = entities.get(queue.campus_id)
        campus_code = str(getattr(campus, "code", queue.campus_id))
        if queue.department_id:
            department = entities.get(queue.department_id)
            if department is not None and getattr(department, "campus_id", None) != queue.campus_id:
                what = kind_label("department", lang)
                return say(
                    "other_campus", lang, what=what, code=getattr(department, "code", ""), campus=campus_code
                )
        for room_id in queue.room_ids:
            room = entities.get(room_id)
            if room is not None and getattr(room, "campus_id", None) != queue.campus_id:
                what = kind_label("room", lang)
                return say(
                    "other_campus", lang, what=what, code=getattr(room, "code", ""), campus=campus_code
                )
        return None


def _whole(name: str, value: Any, low: int, high: int, lang: str) -> int:
    text = str(value).strip()
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise ValidationFailed(
            say("range", lang, label=label(name, lang), low=low, high=high, given=text), code="invalid_row"
        )
    return number


def _ratio(text: str, lang: str) -> list[int]:
    parts = text.replace("：", ":").split(":")
    try:
        numbers = [int(p.strip()) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 2 or not all(1 <= n <= INTERLEAVE_MAX for n in numbers):
        raise ValidationFailed(
            say("interleave", lang, label=label("interleave", lang), high=INTERLEAVE_MAX, given=text),
            code="invalid_row",
        )
    return numbers


def _classes(value: Any, lang: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in (str(i).strip() for i in items):
        if item not in PRIORITY_CLASSES:
            raise ValidationFailed(
                say(
                    "priority_unknown",
                    lang,
                    label=label("priority_order", lang),
                    given=item,
                    known=", ".join(PRIORITY_CLASSES),
                ),
                code="invalid_row",
            )
        if item in out:
            raise ValidationFailed(
                say("priority_twice", lang, label=label("priority_order", lang), given=item),
                code="invalid_row",
            )
        out.append(item)
    return out
