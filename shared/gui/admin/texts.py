"""Every text of the administration window, in the suite's one catalog (zh_CN, en, zh_TW)."""

from __future__ import annotations

from shared.i18n import DEFAULT_LANGUAGE, register, tr

_TEXTS: dict[str, tuple[str, str, str]] = {
    # key: (zh_CN, en, zh_TW)
    "title": ("系统管理", "Administration", "系統管理"),
    "tab.reference": ("基础资料", "Reference data", "基礎資料"),
    "tab.import": ("批量导入", "Import", "批次匯入"),
    "tab.audit": ("审计日志", "Audit log", "稽核日誌"),
    "tab.clients": ("终端与同步", "PCs and sync", "終端與同步"),
    "kind": ("资料类别", "Kind", "資料類別"),
    "search": (
        "搜索（编码、名称、拼音首字母）",
        "Search (code, name, pinyin initials)",
        "搜尋（編碼、名稱、拼音首字母）",
    ),
    "show_retired": ("显示已停用", "Show retired", "顯示已停用"),
    "new": ("新增", "New", "新增"),
    "edit": ("修改", "Edit", "修改"),
    "retire": ("停用", "Retire", "停用"),
    "history": ("修改记录", "History", "修改記錄"),
    "status": ("状态", "Status", "狀態"),
    "status.live": ("在用", "In use", "在用"),
    "status.retired": ("已停用", "Retired", "已停用"),
    "rows": ("共 {shown} 条（{total} 条中）", "{shown} of {total} rows", "共 {shown} 筆（{total} 筆中）"),
    "loading": ("正在读取…", "Loading…", "正在讀取…"),
    "edit.title.new": ("新增{kind}", "New {kind}", "新增{kind}"),
    "edit.title.change": ("修改{kind} {code}", "Edit {kind} {code}", "修改{kind} {code}"),
    "edit.hint": (
        "引用其他资料时填写其编码（如科室编码、给药途径编码）；留空的项目保持原值。",
        "Name other rows by their codes (department, route …); an empty field keeps its value.",
        "引用其他資料時填寫其編碼（如科室編碼、給藥途徑編碼）；留空的項目保持原值。",
    ),
    "save": ("保存", "Save", "儲存"),
    "cancel": ("取消", "Cancel", "取消"),
    "saved": (
        "已保存{kind} {code}，将同步到所有终端",
        "{kind} {code} saved; every PC will receive it",
        "已儲存{kind} {code}，將同步到所有終端",
    ),
    "retired": (
        "已停用{kind} {code}（旧记录仍可读取）",
        "{kind} {code} retired (old records still read it)",
        "已停用{kind} {code}（舊記錄仍可讀取）",
    ),
    "retire.title": ("停用{kind} {code}", "Retire {kind} {code}", "停用{kind} {code}"),
    "retire.reason": ("停用原因（必填）：", "Reason (required):", "停用原因（必填）："),
    "code_required": ("请填写编码", "Enter a code", "請填寫編碼"),
    "select_row": ("请先选择一行", "Select a row first", "請先選擇一列"),
    # import
    "import.file": ("数据文件", "Data file", "資料檔案"),
    "import.mapping": ("列映射文件（可选）", "Column mapping (optional)", "欄位對應檔（可選）"),
    "import.choose": ("选择…", "Choose…", "選擇…"),
    "import.none": ("（未选择）", "(none)", "（未選擇）"),
    "import.retire_missing": ("停用文件中没有的编码", "Retire codes the file lacks", "停用檔案中沒有的編碼"),
    "import.preview": ("预览", "Preview", "預覽"),
    "import.apply": ("应用", "Apply", "套用"),
    "import.working": ("服务器正在处理…", "The server is working…", "伺服器正在處理…"),
    "import.summary": (
        "新增 {added}，修改 {changed}，停用 {retired}，不变 {unchanged}，拒绝 {refused}",
        "{added} added, {changed} changed, {retired} retired, {unchanged} unchanged, {refused} refused",
        "新增 {added}，修改 {changed}，停用 {retired}，不變 {unchanged}，拒絕 {refused}",
    ),
    "import.previewed": (
        "预览（尚未应用）：{summary}",
        "Preview (nothing applied yet): {summary}",
        "預覽（尚未套用）：{summary}",
    ),
    "import.applied": (
        "已作为一个批次应用并记入审计日志：{summary}",
        "Applied in one audited batch: {summary}",
        "已作為一個批次套用並記入稽核日誌：{summary}",
    ),
    "import.nothing": (
        "无需应用：服务器已有此文件的数据",
        "Nothing to apply: the server already holds this file's data",
        "無需套用：伺服器已有此檔案的資料",
    ),
    "import.effective": ("生效时间", "Applies", "生效時間"),
    "import.rx_summary": (
        "处方规则修改 {changed} 项，{when}",
        "{changed} prescription rule fields changed, {when}",
        "處方規則修改 {changed} 項，{when}",
    ),
    "import.no_file": ("请先选择数据文件", "Choose a data file first", "請先選擇資料檔案"),
    "import.unreadable": (
        "无法读取文件 {name}：{error}",
        "Cannot read {name}: {error}",
        "無法讀取檔案 {name}：{error}",
    ),
    "import.confirm": (
        "将 {summary} 应用到服务器，所有终端都会收到。继续？",
        "Apply {summary} to the server? Every PC will receive it.",
        "將 {summary} 套用到伺服器，所有終端都會收到。繼續？",
    ),
    "import.changed_file": (
        "文件或选项已改变，请重新预览",
        "The file or options changed: preview again",
        "檔案或選項已改變，請重新預覽",
    ),
    "section": ("类别", "Section", "類別"),
    "section.added": ("新增", "Added", "新增"),
    "section.changed": ("修改", "Changed", "修改"),
    "section.retired": ("停用", "Retired", "停用"),
    "section.refused": ("拒绝", "Refused", "拒絕"),
    "row": ("行号", "Row", "列號"),
    "code": ("编码", "Code", "編碼"),
    "detail": ("内容", "Detail", "內容"),
    # audit
    "audit.username": ("操作人", "Who", "操作人"),
    "audit.action": ("操作（以 . 结尾为前缀）", "Action (ending in . = prefix)", "操作（以 . 結尾為前綴）"),
    "audit.target": ("对象或内容包含", "Target or detail contains", "對象或內容包含"),
    "audit.device": ("终端", "PC / device", "終端"),
    "audit.since": ("起", "From", "起"),
    "audit.until": ("止", "To", "止"),
    "audit.search": ("查询", "Search", "查詢"),
    "audit.more": ("更早的记录", "Older entries", "更早的記錄"),
    "audit.export": ("导出 CSV…", "Export CSV…", "匯出 CSV…"),
    "audit.exported": ("已导出到 {path}", "Exported to {path}", "已匯出到 {path}"),
    "audit.count": ("已显示 {count} 条", "{count} entries shown", "已顯示 {count} 筆"),
    "audit.col.id": ("序号", "No.", "序號"),
    "audit.col.at": ("时间", "Time", "時間"),
    "audit.col.outcome": ("结果", "Outcome", "結果"),
    "audit.col.action": ("操作", "Action", "操作"),
    "audit.col.target": ("对象", "Target", "對象"),
    "audit.readonly": (
        "审计日志只可查阅和导出，任何人都不能修改或删除。",
        "The audit log can be read and exported; nobody can change or delete it.",
        "稽核日誌只可查閱和匯出，任何人都不能修改或刪除。",
    ),
    "audit.bad_time": (
        "时间格式应为 2026-12-06 08:30",
        "Write times as 2026-12-06 08:30",
        "時間格式應為 2026-12-06 08:30",
    ),
    # clients
    "clients.refresh": ("刷新", "Refresh", "重新整理"),
    "clients.device": ("终端", "PC / device", "終端"),
    "clients.staff": ("最近用户", "Last user", "最近使用者"),
    "clients.last_seq": ("已上传序号", "Last pushed #", "已上傳序號"),
    "clients.last_push": ("最近上传", "Last push", "最近上傳"),
    "clients.created": ("首次同步", "First sync", "首次同步"),
    "clients.count": ("共 {count} 台终端", "{count} PCs", "共 {count} 台終端"),
    "clients.never": ("从未上传", "never", "從未上傳"),
    # clinic hubs
    "tab.hubs": ("中转服务器", "Clinic hubs", "中轉伺服器"),
    "hubs.refresh": ("刷新", "Refresh", "重新整理"),
    "hubs.name": ("名称", "Name", "名稱"),
    "hubs.campus": ("院区", "Campus", "院區"),
    "hubs.campus_hint": ("院区编码，如 MAIN", "campus code, e.g. MAIN", "院區編碼，如 MAIN"),
    "hubs.name_hint": ("如 东院区中转服务器", "e.g. EAST clinic hub", "如 東院區中轉伺服器"),
    "hubs.enrol": ("登记中转服务器", "Enrol a hub", "登記中轉伺服器"),
    "hubs.revoke": ("吊销…", "Revoke…", "撤銷…"),
    "hubs.audit": ("查看其审计记录", "Its audit entries", "查看其稽核記錄"),
    "hubs.id": ("编号", "Id", "編號"),
    "hubs.created": ("登记时间", "Enrolled", "登記時間"),
    "hubs.last_seen": ("最近联系", "Last seen", "最近聯繫"),
    "hubs.last_relay": ("最近中转", "Last relay", "最近中轉"),
    "hubs.status": ("状态", "Status", "狀態"),
    "hubs.revoked_at": ("已吊销 {at}", "revoked {at}", "已撤銷 {at}"),
    "hubs.never": ("从未", "never", "從未"),
    "hubs.active": ("在用", "active", "在用"),
    "hubs.count": ("共 {count} 台中转服务器", "{count} hubs", "共 {count} 台中轉伺服器"),
    "hubs.fill": (
        "请填写名称和院区编码",
        "Enter a name and a campus code",
        "請填寫名稱和院區編碼",
    ),
    "hubs.enrolled": (
        "已登记“{name}”（{id}）",
        "“{name}” enrolled ({id})",
        "已登記「{name}」（{id}）",
    ),
    "hubs.credential": ("凭据", "Credential", "憑據"),
    "hubs.credential_warning": (
        "凭据只显示这一次：请立即复制，保存到中转服务器上仅其运行账户可读的文件中（或 CLINIC_HUB_CREDENTIAL）。"
        "服务器只保存其摘要，丢失后只能吊销并重新登记。",
        "This credential is shown once: copy it now into a file only the hub's account can read (or "
        "CLINIC_HUB_CREDENTIAL). The server keeps only a hash: if it is lost, revoke the hub and enrol it again.",
        "憑據只顯示這一次：請立即複製，儲存到中轉伺服器上僅其執行帳戶可讀的檔案中（或 CLINIC_HUB_CREDENTIAL）。"
        "伺服器只保存其摘要，遺失後只能撤銷並重新登記。",
    ),
    "hubs.copy": ("复制", "Copy", "複製"),
    "hubs.copied": ("凭据已复制到剪贴板", "Credential copied to the clipboard", "憑據已複製到剪貼簿"),
    "hubs.done": ("已保存，隐藏凭据", "Saved it; hide", "已儲存，隱藏憑據"),
    "hubs.revoke_confirm": (
        "吊销中转服务器“{name}”（{id}）？\n它的下一次请求将被拒绝。本院终端的操作仍保存在各自终端，"
        "由中心服务器接收。吊销不能撤回：要再用这台中转服务器，需重新登记。",
        "Revoke the hub “{name}” ({id})?\nIts next request is refused. The clinic's PCs keep their work "
        "and hand it to the central server. This cannot be undone: to use the hub again, enrol it anew.",
        "撤銷中轉伺服器「{name}」（{id}）？\n它的下一次請求將被拒絕。本院終端的操作仍保存在各自終端，"
        "由中心伺服器接收。撤銷不能復原：要再用這台中轉伺服器，需重新登記。",
    ),
    "hubs.revoked_done": ("已吊销“{name}”", "“{name}” revoked", "已撤銷「{name}」"),
    "hubs.already": ("“{name}”此前已吊销", "“{name}” was already revoked", "「{name}」此前已撤銷"),
    "audit.hub": ("中转服务器", "Clinic hub", "中轉伺服器"),
    "role.security": (
        "安全管理员：登记和吊销中转服务器。",
        "Security administrator: enrols and revokes clinic hubs.",
        "安全管理員：登記和撤銷中轉伺服器。",
    ),
    "role.auditor": (
        "审计员：只能查阅和导出审计日志，不能修改任何数据。",
        "Auditor: reads and exports the audit log, changes no data.",
        "稽核員：只能查閱和匯出稽核日誌，不能修改任何資料。",
    ),
}

_KINDS: dict[str, tuple[str, str, str]] = {
    "drug": ("药品", "Drug", "藥品"),
    "frequency": ("用药频次", "Frequency", "用藥頻次"),
    "route": ("给药途径", "Route", "給藥途徑"),
    "diagnosis": ("诊断（ICD-10）", "Diagnosis (ICD-10)", "診斷（ICD-10）"),
    "exam_item": ("检验检查项目", "Lab / imaging item", "檢驗檢查項目"),
    "campus": ("院区", "Campus", "院區"),
    "department": ("科室", "Department", "科室"),
    "room": ("诊室", "Room", "診室"),
    "pharmacy": ("药房", "Pharmacy", "藥房"),
    "queue": ("队列与规则", "Queue and rules", "隊列與規則"),
}

_FIELDS: dict[str, tuple[str, str, str]] = {
    "code": ("编码", "Code", "編碼"),
    "name": ("名称", "Name", "名稱"),
    "name_zh": ("中文名称", "Chinese name", "中文名稱"),
    "name_en": ("英文名称", "English name", "英文名稱"),
    "hospital_name": ("医院名称", "Hospital name", "醫院名稱"),
    "address": ("地址", "Address", "地址"),
    "campus_id": ("院区编码", "Campus code", "院區編碼"),
    "department_id": ("科室编码", "Department code", "科室編碼"),
    "kind": ("类型", "Type", "類型"),
    "queue_prefix": ("排队号前缀", "Ticket prefix", "排隊號前綴"),
    "floor": ("楼层", "Floor", "樓層"),
    "payment_required": ("先缴费后取药", "Payment before pickup", "先繳費後取藥"),
    "pickup_code_required": ("核对取药码", "Pickup code checked", "核對取藥碼"),
    "generic_name": ("通用名", "Generic name", "通用名"),
    "trade_name": ("商品名", "Trade name", "商品名"),
    "english_name": ("英文名", "English name", "英文名"),
    "pinyin": ("拼音首字母", "Pinyin initials", "拼音首字母"),
    "spec": ("规格", "Spec", "規格"),
    "form": ("剂型", "Form", "劑型"),
    "pack_unit": ("包装单位", "Pack unit", "包裝單位"),
    "pack_qty": ("包装数量", "Pack quantity", "包裝數量"),
    "min_unit": ("最小单位", "Smallest unit", "最小單位"),
    "dose_per_min_unit": ("单位剂量", "Dose per unit", "單位劑量"),
    "dose_unit": ("剂量单位", "Dose unit", "劑量單位"),
    "default_dose": ("常用剂量", "Usual dose", "常用劑量"),
    "default_route": ("给药途径编码", "Route code", "給藥途徑編碼"),
    "default_frequency": ("频次编码", "Frequency code", "頻次編碼"),
    "price": ("零售价", "Price", "零售價"),
    "controlled_class": ("管制类别", "Controlled class", "管制類別"),
    "internet_rx_restricted": ("互联网处方限制", "Not for internet Rx", "網路處方限制"),
    "dose_min": ("最小剂量", "Lowest dose", "最小劑量"),
    "dose_max": ("最大剂量", "Highest dose", "最大劑量"),
    "skin_test": ("需皮试", "Skin test", "需皮試"),
    "min_stock": ("最低库存", "Minimum stock", "最低庫存"),
    "times_per_day": ("每日次数", "Times a day", "每日次數"),
    "interval_days": ("间隔天数", "Every N days", "間隔天數"),
    "plain_zh": ("通俗说法", "Plain wording", "通俗說法"),
    "is_injection": ("注射", "Injection", "注射"),
}

for _prefix, _table in (("admin.", _TEXTS), ("admin.kind.", _KINDS), ("admin.field.", _FIELDS)):
    for _key, (_zh, _en, _tw) in _table.items():
        register(_prefix + _key, {"zh_CN": _zh, "en": _en, "zh_TW": _tw})

KIND_ORDER = (
    "drug",
    "frequency",
    "route",
    "diagnosis",
    "exam_item",
    "campus",
    "department",
    "room",
    "pharmacy",
)
# the import offers these too; queues (with their rule sets) have a screen of their own
IMPORT_KIND_ORDER = (*KIND_ORDER, "queue")


def t(key: str, lang: str = DEFAULT_LANGUAGE, **params: object) -> str:
    return tr(f"admin.{key}", lang, **params)


def kind_label(kind: str, lang: str) -> str:
    return tr(f"admin.kind.{kind}", lang)


def field_label(name: str, lang: str) -> str:
    text = tr(f"admin.field.{name}", lang)
    return name if text == f"admin.field.{name}" else text
