"""Texts of the queue and pharmacy screens of the administration window (zh_CN, en, zh_TW), in the suite's
one catalog; the queue's field labels are the import's own (``shared.reference_io.queue_rows.LABELS``)."""

from __future__ import annotations

from shared.i18n import DEFAULT_LANGUAGE, register, tr
from shared.reference_io import queue_rows

_TEXTS: dict[str, tuple[str, str, str]] = {
    # key: (zh_CN, en, zh_TW)
    "tab.queues": ("队列与规则", "Queues and rules", "隊列與規則"),
    "tab.pharmacies": ("药房设置", "Pharmacies", "藥房設定"),
    "search.queues": (
        "搜索（队列编码、名称、科室、诊室）",
        "Search (queue code, name, department, room)",
        "搜尋（隊列編碼、名稱、科室、診室）",
    ),
    "search.pharmacies": (
        "搜索（药房编码、名称、院区）",
        "Search (code, name, campus)",
        "搜尋（藥房編碼、名稱、院區）",
    ),
    "col.campus": ("院区", "Campus", "院區"),
    "col.department": ("科室", "Department", "科室"),
    "col.rooms": ("诊室", "Rooms", "診室"),
    "col.ordering": ("排序规则", "Ordering", "排序規則"),
    "col.priority": ("优先类别", "Priority classes", "優先類別"),
    "col.window": ("签到时间窗", "Check-in window", "簽到時間窗"),
    "col.door": ("门口候诊", "At each door", "門口候診"),
    "col.numbers": ("号码", "Numbers", "號碼"),
    "col.checkin": ("签到", "Check-in", "簽到"),
    "col.payment": ("先缴费", "Pay first", "先繳費"),
    "col.pickup": ("取药码", "Pickup code", "取藥碼"),
    "col.kind": ("类型", "Type", "類型"),
    "yes": ("是", "yes", "是"),
    "no": ("否", "no", "否"),
    "open": ("开放", "open", "開放"),
    "closed": ("关闭", "closed", "關閉"),
    "none": ("无", "none", "無"),
    "all_rooms": ("（不固定）", "(any)", "（不固定）"),
    "ordering.strict_priority": (
        "按优先类别，再按签到时间",
        "Priority class, then time",
        "按優先類別，再按簽到時間",
    ),
    "ordering.interleave": (
        "预约与现场 {n}:{m} 交替",
        "Appointments and walk-ins {n}:{m}",
        "預約與現場 {n}:{m} 交替",
    ),
    "ordering.weighted_wait": ("按等候时间加权", "Weighted by waiting time", "按等候時間加權"),
    "window.text": (
        "提前 {early} 分钟，迟到 {late} 分钟内",
        "{early} min early to {late} min late",
        "提前 {early} 分鐘，遲到 {late} 分鐘內",
    ),
    "door.text": ("每诊室 {cap} 人", "{cap} per room", "每診室 {cap} 人"),
    "door.off": ("不设", "no door queue", "不設"),
    "numbers.text": (
        "{prefix} · 每段 {block} 号 · {slots} 槽",
        "{prefix} · {block} per block · {slots} slots",
        "{prefix} · 每段 {block} 號 · {slots} 槽",
    ),
    "group.queue": ("队列", "Queue", "隊列"),
    "group.numbers": ("号码", "Ticket numbers", "號碼"),
    "group.rules": ("排序规则", "Ordering rules", "排序規則"),
    "group.arrival": ("签到、迟到与过号", "Check-in, late arrivals and skipped patients", "簽到、遲到與過號"),
    "priority.hint": (
        "勾选的类别优先，越靠上越优先（用 ↑ ↓ 调整）；未勾选的按普通患者排队。",
        "Ticked classes go first, the higher the sooner (↑ ↓ to move); unticked ones queue as normal.",
        "勾選的類別優先，越靠上越優先（用 ↑ ↓ 調整）；未勾選的按普通患者排隊。",
    ),
    "up": ("↑ 上移", "↑ Up", "↑ 上移"),
    "down": ("↓ 下移", "↓ Down", "↓ 下移"),
    "interleave.between": ("预约", "appointments", "預約"),
    "interleave.and": (": 现场", ": walk-ins", ": 現場"),
    "minutes": (" 分钟", " min", " 分鐘"),
    "persons": (" 人", " patients", " 人"),
    "zero_none": ("0 = 不设", "0 = none", "0 = 不設"),
    "rules.hint": (
        "保存后立即生效：正在候诊的患者按新规则重新排序，已叫过的号不变。号段改动只影响之后发出的号码。",
        "Takes effect when saved: patients already waiting are ordered by the new rules; calls made stay. "
        "Changed number blocks apply to numbers given from then on.",
        "儲存後立即生效：正在候診的患者按新規則重新排序，已叫過的號不變。號段改動只影響之後發出的號碼。",
    ),
    "rooms.hint": ("勾选本队列的诊室", "Tick the queue's rooms", "勾選本隊列的診室"),
    "kind.department": ("科室队列", "Department", "科室隊列"),
    "kind.doctor": ("医生队列", "Doctor", "醫生隊列"),
    "kind.room": ("诊室队列", "Room", "診室隊列"),
    "kind.lab": ("检验", "Laboratory", "檢驗"),
    "kind.imaging": ("影像", "Imaging", "影像"),
    "prio.emergency": ("急诊", "emergency", "急診"),
    "prio.military": ("军人", "military", "軍人"),
    "prio.disabled": ("残疾人", "disabled", "殘疾人"),
    "prio.elderly": ("老年人", "elderly", "老年人"),
    "prio.returning": ("复诊看结果", "returning with results", "複診看結果"),
    # pharmacy
    "ph.code": ("药房编码", "Pharmacy code", "藥房編碼"),
    "ph.name": ("药房名称", "Name", "藥房名稱"),
    "ph.campus": ("院区", "Campus", "院區"),
    "ph.kind": ("药房类型", "Type", "藥房類型"),
    "ph.kind.outpatient": ("门诊药房", "Outpatient", "門診藥房"),
    "ph.kind.emergency": ("急诊药房", "Emergency", "急診藥房"),
    "ph.kind.tcm": ("中药房", "TCM", "中藥房"),
    "ph.kind.central": ("中心药房", "Central", "中心藥房"),
    "ph.payment": ("先缴费，再发取药码", "Take payment before issuing the pickup code", "先繳費，再發取藥碼"),
    "ph.payment.hint": (
        "勾选：审核通过后处方为“待缴费”，药房收费后才发取药码。",
        "Ticked: an approved prescription waits for payment; the code is issued once paid.",
        "勾選：審核通過後處方為「待繳費」，藥房收費後才發取藥碼。",
    ),
    "ph.pickup": ("发药前核对取药码", "Check a pickup code before handing out", "發藥前核對取藥碼"),
    "ph.pickup.hint": (
        "不勾选：审核通过后不发取药码，窗口直接发药。",
        "Unticked: approval issues no code and the counter hands out without one.",
        "不勾選：審核通過後不發取藥碼，窗口直接發藥。",
    ),
    "ph.hint": (
        "保存后各药房终端在下次同步时使用新设置；已发出的取药码仍然有效。",
        "Pharmacy PCs use the new settings from their next sync; codes already issued stay valid.",
        "儲存後各藥房終端在下次同步時使用新設定；已發出的取藥碼仍然有效。",
    ),
}
for _key, (_zh, _en, _tw) in _TEXTS.items():
    register(f"admin.settings.{_key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


def s(key: str, lang: str = DEFAULT_LANGUAGE, **params: object) -> str:
    return tr(f"admin.settings.{key}", lang, **params)


def label(name: str, lang: str) -> str:
    """A queue field as the reader calls it."""
    return queue_rows.label(name, lang)
