"""The one translation mechanism: message keys to Simplified Chinese (default), English, Traditional Chinese."""

from __future__ import annotations

from typing import Final

DEFAULT_LANGUAGE: Final = "zh_CN"
LANGUAGES: Final = ("zh_CN", "en", "zh_TW")

# key -> {language: text}; {name} placeholders are filled by str.format.
_CATALOG: dict[str, dict[str, str]] = {
    "auth.bad_credentials": {
        "zh_CN": "用户名或密码错误（还可尝试 {remaining} 次）",
        "en": "Wrong username or password ({remaining} attempts left)",
        "zh_TW": "用戶名或密碼錯誤（還可嘗試 {remaining} 次）",
    },
    "auth.login_failed": {
        "zh_CN": "用户名或密码错误，或该账户暂时不能在这台电脑登录。请核对后重试，或请安全管理员解锁",
        "en": "Wrong username or password, or this account cannot log in on this PC for now. "
        "Check and try again, or ask the security administrator to unlock it",
        "zh_TW": "用戶名或密碼錯誤，或該賬戶暫時不能在這台電腦登錄。請核對後重試，或請安全管理員解鎖",
    },
    "auth.source_blocked": {
        "zh_CN": "这台电脑登录失败次数过多，请于 {until} 后重试或联系安全管理员",
        "en": "Too many failed logins from this PC; try again after {until} or ask the security administrator",
        "zh_TW": "這台電腦登錄失敗次數過多，請於 {until} 後重試或聯繫安全管理員",
    },
    "auth.locked": {
        "zh_CN": "账户因多次密码错误已锁定，请于 {until} 后重试或联系管理员",
        "en": "Account locked after repeated failed logins; try again after {until} or ask an administrator",
        "zh_TW": "賬戶因多次密碼錯誤已鎖定，請於 {until} 後重試或聯繫管理員",
    },
    "auth.inactive": {
        "zh_CN": "账户已停用",
        "en": "This account is disabled",
        "zh_TW": "賬戶已停用",
    },
    "auth.missing_token": {
        "zh_CN": "请先登录",
        "en": "Please log in first",
        "zh_TW": "請先登錄",
    },
    "auth.expired": {
        "zh_CN": "登录已过期，请重新登录",
        "en": "Your session has expired; please log in again",
        "zh_TW": "登錄已過期，請重新登錄",
    },
    "auth.forbidden": {
        "zh_CN": "当前角色（{roles}）无权执行：{action}",
        "en": "Your role ({roles}) may not do this: {action}",
        "zh_TW": "當前角色（{roles}）無權執行：{action}",
    },
    "request.invalid": {
        "zh_CN": "请求数据有误：{detail}",
        "en": "Invalid request: {detail}",
        "zh_TW": "請求數據有誤：{detail}",
    },
    "request.too_large": {
        "zh_CN": "一次最多提交 {limit} 条，本次 {count} 条",
        "en": "At most {limit} mutations per push; got {count}",
        "zh_TW": "一次最多提交 {limit} 條，本次 {count} 條",
    },
    "sync.unknown_mutation": {
        "zh_CN": "未知的操作类型：{name}",
        "en": "Unknown mutation name: {name}",
        "zh_TW": "未知的操作類型：{name}",
    },
    "sync.internal_error": {
        "zh_CN": "服务器处理该操作时出错 {tries} 次，已停止重试；请联系信息科",
        "en": "The server failed {tries} times handling this operation and stopped retrying it; please contact IT",
        "zh_TW": "伺服器處理該操作時出錯 {tries} 次，已停止重試；請聯繫資訊科",
    },
    "sync.seq_gap": {
        "zh_CN": "客户端序号不连续：应为 {expected}，收到 {got}",
        "en": "client_seq out of order: expected {expected}, got {got}",
        "zh_TW": "客戶端序號不連續：應為 {expected}，收到 {got}",
    },
    "sync.seq_reused": {
        "zh_CN": "客户端序号 {seq} 已被另一操作使用",
        "en": "client_seq {seq} was already used by another mutation",
        "zh_TW": "客戶端序號 {seq} 已被另一操作使用",
    },
    "sync.cursor_expired": {
        "zh_CN": "本机同步游标 {cursor} 已超过服务器保留期（最早 {min_cursor}），需要重新初始化；未上传的操作会先上传",
        "en": "Cursor {cursor} is older than the server keeps (oldest {min_cursor}); re-bootstrap after pushing the outbox",
        "zh_TW": "本機同步游標 {cursor} 已超過伺服器保留期（最早 {min_cursor}），需要重新初始化；未上傳的操作會先上傳",
    },
    "sync.cursor_ahead": {
        "zh_CN": "同步游标 {cursor} 超出服务器当前位置 {head}，请重新初始化",
        "en": "Cursor {cursor} is ahead of the server ({head}); re-bootstrap this PC",
        "zh_TW": "同步游標 {cursor} 超出伺服器當前位置 {head}，請重新初始化",
    },
    "sync.client_mismatch": {
        "zh_CN": "该客户端编号属于另一台设备",
        "en": "This client id belongs to another device",
        "zh_TW": "該客戶端編號屬於另一台設備",
    },
    "entity.not_found": {
        "zh_CN": "找不到{kind}：{id}",
        "en": "{kind} not found: {id}",
        "zh_TW": "找不到{kind}：{id}",
    },
    "entity.version_mismatch": {
        "zh_CN": "{kind}已被他人修改（服务器版本 {current}，本地基于 {base}），请查看最新内容后再修改",
        "en": "{kind} changed meanwhile (server version {current}, yours based on {base}); review it and edit again",
        "zh_TW": "{kind}已被他人修改（伺服器版本 {current}，本地基於 {base}），請查看最新內容後再修改",
    },
    "entity.voided": {
        "zh_CN": "{kind}已作废：{id}",
        "en": "{kind} has been voided: {id}",
        "zh_TW": "{kind}已作廢：{id}",
    },
    "entity.duplicate_id": {
        "zh_CN": "{kind}编号已存在：{id}",
        "en": "{kind} id already exists: {id}",
        "zh_TW": "{kind}編號已存在：{id}",
    },
    "visit.appointment_mismatch": {
        "zh_CN": "预约不属于该患者",
        "en": "The appointment belongs to another patient",
        "zh_TW": "預約不屬於該患者",
    },
    "patient.id_facts_differ": {
        "zh_CN": "证件号中的出生日期或性别与登记信息不一致",
        "en": "Birth date or sex differs from what the ID number encodes",
        "zh_TW": "證件號中的出生日期或性別與登記信息不一致",
    },
    "patient.duplicate_id_number": {
        "zh_CN": "证件号已登记给患者 {mrn}",
        "en": "This ID number is already registered to patient {mrn}",
        "zh_TW": "證件號已登記給患者 {mrn}",
    },
    "patient.bad_id_number": {
        "zh_CN": "身份证号校验失败：{id_number}",
        "en": "ID card number fails its check digit: {id_number}",
        "zh_TW": "身份證號校驗失敗：{id_number}",
    },
    "patient.birth_in_future": {
        "zh_CN": "出生日期不能晚于今天",
        "en": "Birth date cannot be in the future",
        "zh_TW": "出生日期不能晚於今天",
    },
    "patient.bad_phone": {
        "zh_CN": "手机号格式不正确：{phone}",
        "en": "Phone number is not valid: {phone}",
        "zh_TW": "手機號格式不正確：{phone}",
    },
    "visit.already_open": {
        "zh_CN": "该患者今日在本科室已有就诊记录",
        "en": "This patient already has an open visit in this department today",
        "zh_TW": "該患者今日在本科室已有就診記錄",
    },
    "visit.department_mismatch": {
        "zh_CN": "诊室不属于所选科室",
        "en": "The room does not belong to the chosen department",
        "zh_TW": "診室不屬於所選科室",
    },
    "visit.not_a_doctor": {
        "zh_CN": "接诊人不是医生：{name}",
        "en": "The attending staff member is not a doctor: {name}",
        "zh_TW": "接診人不是醫生：{name}",
    },
    "server.busy": {
        "zh_CN": "服务器繁忙，请稍后自动重试",
        "en": "The server is busy; retrying shortly",
        "zh_TW": "伺服器繁忙，請稍後自動重試",
    },
    "server.error": {
        "zh_CN": "服务器内部错误，请稍后重试（编号 {ref}）",
        "en": "Internal server error; please retry later (ref {ref})",
        "zh_TW": "伺服器內部錯誤，請稍後重試（編號 {ref}）",
    },
    "server.stopping": {
        "zh_CN": "服务器正在停止，稍后自动重试",
        "en": "The server is stopping; this PC retries by itself",
        "zh_TW": "伺服器正在停止，稍後自動重試",
    },
}

_KIND_NAMES: dict[str, dict[str, str]] = {
    "patient": {"zh_CN": "患者", "en": "Patient", "zh_TW": "患者"},
    "visit": {"zh_CN": "就诊", "en": "Visit", "zh_TW": "就診"},
    "department": {"zh_CN": "科室", "en": "Department", "zh_TW": "科室"},
    "room": {"zh_CN": "诊室", "en": "Room", "zh_TW": "診室"},
    "staff": {"zh_CN": "人员", "en": "Staff member", "zh_TW": "人員"},
    "rx_rule_set": {"zh_CN": "处方规则版本", "en": "Prescription rules version", "zh_TW": "處方規則版本"},
    "appointment": {"zh_CN": "预约", "en": "Appointment", "zh_TW": "預約"},
    "campus": {"zh_CN": "院区", "en": "Campus", "zh_TW": "院區"},
    "drug": {"zh_CN": "药品", "en": "Drug", "zh_TW": "藥品"},
    "queue": {"zh_CN": "队列", "en": "Queue", "zh_TW": "隊列"},
    "pharmacy": {"zh_CN": "药房", "en": "Pharmacy", "zh_TW": "藥房"},
}

# The states people read, per kind of row (entities' ``status`` values): every message that names a state
# goes through ``state_name`` so no raw English state ends up inside a Chinese sentence.
_STATE_NAMES: dict[str, dict[str, tuple[str, str, str]]] = {
    "prescription": {
        "draft": ("草稿", "a draft", "草稿"),
        "signed": ("已签名待审核", "signed, awaiting review", "已簽名待審核"),
        "approved": ("已审核", "approved", "已審核"),
        "rejected": ("已驳回", "rejected", "已駁回"),
        "cancelled": ("已作废", "cancelled", "已作廢"),
        "partly_dispensed": ("部分发药", "partly dispensed", "部分發藥"),
        "dispensed": ("已发药", "dispensed", "已發藥"),
        "refunded": ("已退药", "refunded", "已退藥"),
    },
    "queue_ticket": {
        "waiting": ("候诊", "waiting", "候診"),
        "called": ("已叫号", "called", "已叫號"),
        "in_consultation": ("就诊中", "in consultation", "就診中"),
        "done": ("已完成", "done", "已完成"),
        "skipped": ("过号", "skipped", "過號"),
        "transferred": ("已转出", "transferred", "已轉出"),
        "cancelled": ("已取消", "cancelled", "已取消"),
    },
    "clinical_order": {
        "ordered": ("已申请", "ordered", "已申請"),
        "cancelled": ("已取消", "cancelled", "已取消"),
        "resulted": ("已出结果", "resulted", "已出結果"),
    },
    "delivery": {
        "draft": ("草稿", "a draft", "草稿"),
        "confirmed": ("已确认", "confirmed", "已確認"),
        "placed": ("已下单", "booked", "已下單"),
        "shipped": ("已交寄", "shipped", "已交寄"),
        "delivered": ("已签收", "delivered", "已簽收"),
        "cancelled": ("已取消", "cancelled", "已取消"),
    },
    "refund_request": {
        "requested": ("待审核", "awaiting review", "待審核"),
        "approved": ("已同意", "approved", "已同意"),
        "rejected": ("已拒绝", "refused", "已拒絕"),
    },
    "emr_note": {
        "draft": ("草稿", "a draft", "草稿"),
        "signed": ("已签名", "signed", "已簽名"),
        "superseded": ("已被新版本替代", "superseded", "已被新版本替代"),
    },
    "visit": {
        "open": ("就诊中", "open", "就診中"),
        "closed": ("已结束", "closed", "已結束"),
        "withdrawn": ("已退诊", "withdrawn", "已退診"),
    },
    "appointment": {
        "booked": ("已预约", "booked", "已預約"),
        "checked_in": ("已签到", "checked in", "已簽到"),
        "cancelled": ("已取消", "cancelled", "已取消"),
        "no_show": ("爽约", "a no-show", "爽約"),
    },
}


def normalize_language(value: str | None) -> str:
    """Map an Accept-Language style value to one of LANGUAGES (default Simplified Chinese)."""
    if not value:
        return DEFAULT_LANGUAGE
    first = value.split(",")[0].split(";")[0].strip().replace("-", "_").lower()
    if first.startswith("en"):
        return "en"
    if first in ("zh_tw", "zh_hk", "zh_hant", "zh_mo"):
        return "zh_TW"
    return DEFAULT_LANGUAGE


def kind_name(kind: str, lang: str = DEFAULT_LANGUAGE) -> str:
    names = _KIND_NAMES.get(kind)
    return names.get(lang, names[DEFAULT_LANGUAGE]) if names else kind


def state_name(kind: str, state: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A row's state as people read it (``state_name("prescription", "dispensed")`` -> 已发药); a state this
    table does not know comes back as it is (never blank)."""
    names = _STATE_NAMES.get(kind, {}).get(state)
    if names is None:
        return state
    zh, en, tw = names
    return {"zh_CN": zh, "en": en, "zh_TW": tw}.get(lang, zh)


def state_names(kind: str) -> dict[str, tuple[str, str, str]]:
    """Every known state of ``kind`` with its names (zh_CN, en, zh_TW)."""
    return dict(_STATE_NAMES.get(kind, {}))


def tr(key: str, lang: str = DEFAULT_LANGUAGE, /, **params: object) -> str:
    """Translate ``key`` into ``lang``; unknown keys come back as the key so nothing is ever blank."""
    texts = _CATALOG.get(key)
    if texts is None:
        return key
    text = texts.get(lang) or texts[DEFAULT_LANGUAGE]
    return text.format(**params) if params else text


def register(key: str, texts: dict[str, str]) -> None:
    """Let a feature module add its own messages to the one catalog."""
    _CATALOG[key] = texts
