"""人员 / Staff: the hospital's staff with each account's state, for the two administrators (三员分立).

The system administrator (``admin``) keeps the records: New / Edit / Retire, recorded as ``staff.save`` /
``staff.retire`` in this PC's outbox (the usual rules: role, audit, sync to every PC). The security
administrator (``security_admin``) keeps the credentials: Reset password (a new one-time setup code,
shown once here; the old password and every session of the account stop working), Reset signing key
(every key of the person, on every PC, revoked; old signatures still verify) and Unlock; each asks for
confirmation and is audited by the server, which refuses every other role anyway. The list comes from
the server (``GET /admin/staff``: no password, hash or code in it) and is read again after every change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from shared.domain.entities import ROLES
from shared.gui import theme
from shared.gui.admin.audit_panel import local_time
from shared.gui.admin.calls import call, error_text
from shared.gui.admin.list_panel import ListPanel, ask_yes, save_cancel
from shared.gui.ops import OpBus, OpChanges
from shared.gui.widgets import Column, MessageLine, note_label
from shared.i18n import register, tr
from shared.reference_io.staff import CONTROLLED, RIGHTS
from shared.sync.transport import ApiTransport

_TEXTS: dict[str, tuple[str, str, str]] = {
    # key: (zh_CN, en, zh_TW)
    "tab": ("人员", "Staff", "人員"),
    "role_note.security": ("安全管理员：账号、密码、签名密钥与中转服务器", "Security administrator: accounts, passwords, signing keys, clinic hubs", "安全管理員：帳號、密碼、簽章金鑰與中轉伺服器"),  # noqa: E501
    "search": ("搜索（用户名、姓名、科室、角色）", "Search (username, name, department, role)", "搜尋（用戶名、姓名、科室、角色）"),  # noqa: E501
    "show_retired": ("显示已停用", "Show retired", "顯示已停用"),
    "new": ("新增", "New", "新增"),
    "edit": ("修改", "Edit", "修改"),
    "retire": ("停用", "Retire", "停用"),
    "refresh": ("刷新", "Refresh", "重新整理"),
    "reset_password": ("重置密码", "Reset password", "重設密碼"),
    "reset_key": ("重置签名密钥", "Reset signing key", "重設簽章金鑰"),
    "unlock": ("解锁账号", "Unlock account", "解鎖帳號"),
    "col.status": ("状态", "Status", "狀態"),
    "col.username": ("用户名", "Username", "用戶名"),
    "col.name": ("姓名", "Name", "姓名"),
    "col.roles": ("角色", "Roles", "角色"),
    "col.title": ("职称", "Title", "職稱"),
    "col.campus": ("院区", "Campus", "院區"),
    "col.department": ("科室", "Department", "科室"),
    "col.rights": ("处方权", "Prescribing rights", "處方權"),
    "col.account": ("账号", "Account", "帳號"),
    "col.keys": ("签名密钥", "Signing keys", "簽章金鑰"),
    "status.live": ("在用", "Active", "在用"),
    "status.inactive": ("已禁用", "Disabled", "已停用登入"),
    "status.retired": ("已停用", "Retired", "已停用"),
    "account.password": ("已设密码", "Password set", "已設密碼"),
    "account.code": ("待首次登录（设置码有效至 {until}）", "Awaiting first login (code valid until {until})", "待首次登入（設定碼有效至 {until}）"),  # noqa: E501
    "account.none": ("未设密码（请重置密码发放设置码）", "No password (reset it to issue a setup code)", "未設密碼（請重設密碼發放設定碼）"),  # noqa: E501
    "account.locked": ("；已锁定", "; locked", "；已鎖定"),
    "rows": ("共 {shown} 人（{total} 人中）", "{shown} of {total} people", "共 {shown} 人（{total} 人中）"),
    "loading": ("正在读取…", "Loading…", "正在讀取…"),
    "select_row": ("请先选择一行", "Select a row first", "請先選擇一列"),
    "edit.new": ("新增人员", "New staff member", "新增人員"),
    "edit.change": ("修改人员 {username}", "Edit staff member {username}", "修改人員 {username}"),
    "edit.hint": (
        "院区、科室填写编码（如 MAIN、MAIN-NK），其他院区用“;”分隔。密码不在此设置：新人员由安全管理员发放一次性设置码。",
        "Campuses and department by code (MAIN, MAIN-NK); other campuses separated by ';'. No password here: "
        "the security administrator issues a one-time setup code.",
        "院區、科室填寫編碼（如 MAIN、MAIN-NK），其他院區用「;」分隔。密碼不在此設定：新人員由安全管理員發放一次性設定碼。",
    ),
    "field.username": ("用户名", "Username", "用戶名"),
    "field.name": ("姓名", "Name", "姓名"),
    "field.roles": ("角色", "Roles", "角色"),
    "field.title": ("职称", "Title", "職稱"),
    "field.campus": ("主院区编码", "Home campus code", "主院區編碼"),
    "field.campuses": ("其他院区编码", "Other campus codes", "其他院區編碼"),
    "field.department": ("科室编码", "Department code", "科室編碼"),
    "field.prescribing_rights": ("处方权", "Prescribing rights", "處方權"),
    "field.controlled_rights": ("特殊药品处方权", "Controlled-drug rights", "管制藥品處方權"),
    "field.active": ("可登录", "May log in", "可登入"),
    "need.username": ("请填写用户名和姓名，并至少选择一个角色", "Enter a username and a name, and choose at least one role", "請填寫用戶名和姓名，並至少選擇一個角色"),  # noqa: E501
    "save": ("保存", "Save", "儲存"),
    "cancel": ("取消", "Cancel", "取消"),
    "saved": ("已保存人员 {username}，将同步到所有终端", "Staff member {username} saved; every PC will receive it", "已儲存人員 {username}，將同步到所有終端"),  # noqa: E501
    "retired": ("已停用人员 {username}（旧记录仍显示其姓名）", "{username} retired (old records still name them)", "已停用人員 {username}（舊記錄仍顯示其姓名）"),  # noqa: E501
    "retire.title": ("停用人员 {username}", "Retire {username}", "停用人員 {username}"),
    "retire.reason": ("停用原因（必填）：", "Reason (required):", "停用原因（必填）："),
    "confirm.title": ("请确认", "Please confirm", "請確認"),
    "confirm.reset_password": (
        "重置 {name}（{username}）的密码？\n旧密码立即失效，其所有登录会话被注销，并生成一次性设置码（只显示这一次）。",
        "Reset the password of {name} ({username})?\nThe old password stops working now, every session of the "
        "account ends, and a one-time setup code is made (shown this once only).",
        "重設 {name}（{username}）的密碼？\n舊密碼立即失效，其所有登入工作階段被登出，並產生一次性設定碼（只顯示這一次）。",
    ),
    "confirm.reset_key": (
        "重置 {name}（{username}）的签名密钥？\n其在所有电脑上登记的签名密钥都将作废，下次签名时须重新设置 PIN；已签的文件仍可验证。",
        "Reset the signing keys of {name} ({username})?\nEvery key they registered, on every PC, is revoked; they "
        "set a new PIN at their next signature. Documents already signed still verify.",
        "重設 {name}（{username}）的簽章金鑰？\n其在所有電腦上登記的簽章金鑰都將作廢，下次簽章時須重新設定 PIN；已簽的文件仍可驗證。",
    ),
    "confirm.unlock": (
        "解锁 {name}（{username}）的账号？（清除所有电脑上的登录失败锁定）",
        "Unlock the account of {name} ({username})? (clears its failed-login locks on every PC)",
        "解鎖 {name}（{username}）的帳號？（清除所有電腦上的登入失敗鎖定）",
    ),
    "key_reason": ("由安全管理员重置", "reset by the security administrator", "由安全管理員重設"),
    "code.title": ("一次性设置码", "One-time setup code", "一次性設定碼"),
    "code.text": (
        "{name}（{username}）的设置码：",
        "Setup code of {name} ({username}):",
        "{name}（{username}）的設定碼：",
    ),
    "code.note": (
        "只显示这一次，服务器不保存明文。请当面交给本人：在登录窗口点“首次登录/设置密码”，输入用户名、设置码和新密码。"
        "有效至 {until}，只能使用一次。",
        "Shown this once: the server keeps no plain copy. Hand it to the person: in the log-in window, "
        "'First login / set password', then username, code and a new password. Valid until {until}, once.",
        "只顯示這一次，伺服器不保存明文。請當面交給本人：在登入視窗點「首次登入/設定密碼」，輸入用戶名、設定碼和新密碼。"
        "有效至 {until}，只能使用一次。",
    ),
    "code.copy": ("复制", "Copy", "複製"),
    "code.close": ("已交给本人，关闭", "Handed over, close", "已交給本人，關閉"),
    "done.reset_password": (
        "已重置 {username} 的密码（注销 {tokens} 个会话），设置码有效至 {until}",
        "Password of {username} reset ({tokens} sessions ended); the code is valid until {until}",
        "已重設 {username} 的密碼（登出 {tokens} 個工作階段），設定碼有效至 {until}",
    ),
    "done.reset_key": (
        "已作废 {username} 的 {count} 个签名密钥",
        "{count} signing keys of {username} revoked",
        "已作廢 {username} 的 {count} 個簽章金鑰",
    ),
    "done.unlock": ("已解锁 {username}（清除 {cleared} 个锁定）", "{username} unlocked ({cleared} locks cleared)", "已解鎖 {username}（清除 {cleared} 個鎖定）"),  # noqa: E501
}  # fmt: skip
for _key, (_zh, _en, _tw) in _TEXTS.items():
    register(f"admin.staff.{_key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})
# the import tab's row kind for a new person's one-time setup code (admin.section.* as the others)
register(
    "admin.section.setup_code",
    {"zh_CN": "设置码（仅显示一次）", "en": "Setup code (shown once)", "zh_TW": "設定碼（僅顯示一次）"},
)

_ROLE_NAMES: dict[str, tuple[str, str, str]] = {
    "doctor": ("医生", "Doctor", "醫師"),
    "pharmacist": ("药师", "Pharmacist", "藥師"),
    "nurse": ("护士", "Nurse", "護理師"),
    "admin": ("系统管理员", "System administrator", "系統管理員"),
    "kiosk": ("自助机", "Kiosk", "自助機"),
    "security_admin": ("安全管理员", "Security administrator", "安全管理員"),
    "auditor": ("安全审计员", "Auditor", "安全稽核員"),
}
_RIGHT_NAMES: dict[str, tuple[str, str, str]] = {
    "ordinary": ("普通处方", "Ordinary", "一般處方"),
    "antibiotic_restricted": ("限制级抗菌药", "Restricted antibiotics", "限制級抗菌藥"),
    "narcotic": ("麻醉药品", "Narcotics", "麻醉藥品"),
    "psychotropic1": ("第一类精神药品", "Psychotropics I", "第一級精神藥品"),
    "psychotropic2": ("第二类精神药品", "Psychotropics II", "第二級精神藥品"),
    "toxic": ("医疗用毒性药品", "Toxic drugs", "醫療用毒性藥品"),
}
for _name, (_zh, _en, _tw) in _ROLE_NAMES.items():
    register(f"admin.staff.role.{_name}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})
for _name, (_zh, _en, _tw) in _RIGHT_NAMES.items():
    register(f"admin.staff.right.{_name}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


def s(key: str, lang: str, **params: object) -> str:
    return tr(f"admin.staff.{key}", lang, **params)


def _names(prefix: str, items: str, lang: str) -> str:
    return "、".join(s(f"{prefix}.{item}", lang) for item in items.split(";") if item)


class StaffClient:
    """The staff endpoints as blocking calls over the runtime's transport (run off the GUI thread)."""

    def __init__(self, transport: ApiTransport) -> None:
        self.transport = transport

    def staff(self) -> list[dict[str, Any]]:
        return self.transport.call("GET", "/admin/staff").json()  # type: ignore[no-any-return]

    def reset_password(self, username: str) -> dict[str, Any]:
        return self.transport.call("POST", f"/admin/staff/{username}/reset-password").json()  # type: ignore[no-any-return]

    def reset_signing_key(self, username: str, reason: str) -> dict[str, Any]:
        answer = self.transport.call(
            "POST", f"/admin/staff/{username}/reset-signing-key", json={"reason": reason}
        )
        return answer.json()  # type: ignore[no-any-return]

    def unlock(self, username: str) -> dict[str, Any]:
        return self.transport.call("POST", f"/admin/staff/{username}/unlock").json()  # type: ignore[no-any-return]


class StaffDialog(QDialog):
    """One person's record: names and codes typed, roles and rights ticked. No password field."""

    def __init__(self, lang: str, values: dict[str, str] | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lang = lang
        editing = values is not None
        values = values or {}
        self.setWindowTitle(
            s("edit.change", lang, username=values.get("username", "")) if editing else s("edit.new", lang)
        )
        self.edits: dict[str, QLineEdit] = {}
        form = QFormLayout()
        for name in ("username", "name", "title", "campus", "campuses", "department"):
            edit = QLineEdit(values.get(name, ""))
            edit.setObjectName(f"staff-{name}")
            edit.setReadOnly(editing and name == "username")  # a person's username is their identity
            self.edits[name] = edit
            form.addRow(s(f"field.{name}", lang), edit)
        self.checks: dict[str, dict[str, QCheckBox]] = {}
        for field, options, prefix in (
            ("roles", ROLES, "role"),
            ("prescribing_rights", tuple(r for r in RIGHTS if r not in CONTROLLED), "right"),
            ("controlled_rights", CONTROLLED, "right"),
        ):
            chosen = set(values.get(field, "").split(";"))
            box = QWidget()
            grid = QGridLayout(box)
            grid.setContentsMargins(0, 0, 0, 0)
            self.checks[field] = {}
            for index, option in enumerate(options):
                check = QCheckBox(s(f"{prefix}.{option}", lang))
                check.setObjectName(f"staff-{field}-{option}")
                check.setChecked(option in chosen)
                grid.addWidget(check, index // 3, index % 3)
                self.checks[field][option] = check
            form.addRow(s(f"field.{field}", lang), box)
        self.active = QCheckBox()
        self.active.setChecked(values.get("active", "1") != "0")
        form.addRow(s("field.active", lang), self.active)
        hint = note_label(s("edit.hint", lang))
        self.problem = MessageLine()
        buttons = save_cancel(self, s("save", lang), s("cancel", lang), self._accept)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.resize(640, 560)

    def fields(self) -> dict[str, str]:
        out = {name: edit.text().strip() for name, edit in self.edits.items()}
        for field, checks in self.checks.items():
            out[field] = ";".join(option for option, check in checks.items() if check.isChecked())
        out["active"] = "1" if self.active.isChecked() else "0"
        return out

    def _accept(self) -> None:
        fields = self.fields()
        if not fields["username"] or not fields["name"] or not fields["roles"]:
            self.problem.show_message(s("need.username", self.lang), "error")
            return
        self.accept()

    @classmethod
    def ask(cls, parent: QWidget | None, lang: str, values: dict[str, str] | None) -> dict[str, str] | None:
        """The record's fields, or None if cancelled (tests replace this)."""
        dialog = cls(lang, values, parent)
        return dialog.fields() if dialog.exec() == QDialog.DialogCode.Accepted else None


class SetupCodeDialog(QDialog):
    """The one-time setup code, shown this once, large, with a copy button."""

    def __init__(
        self, lang: str, person: dict[str, Any], answer: dict[str, Any], parent: QWidget | None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(s("code.title", lang))
        self.code = str(answer["setup_code"])
        text = QLabel(s("code.text", lang, name=person.get("name", ""), username=person["username"]))
        code = QLabel(self.code)
        code.setObjectName("setup-code")
        code.setStyleSheet("font-size: 28px; font-weight: bold; letter-spacing: 2px; font-family: monospace;")
        note = QLabel(s("code.note", lang, until=local_time(str(answer["expires_at"]))))
        note.setWordWrap(True)
        copy = QPushButton(s("code.copy", lang))
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.code))
        close = QPushButton(s("code.close", lang))
        close.clicked.connect(self.accept)
        row = QHBoxLayout()
        row.addWidget(code, 1)
        row.addWidget(copy)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addLayout(row)
        layout.addWidget(note)
        layout.addWidget(close)
        self.resize(520, 240)

    @classmethod
    def show_code(
        cls, parent: QWidget | None, lang: str, person: dict[str, Any], answer: dict[str, Any]
    ) -> None:
        """Show the code modally (tests replace this)."""
        cls(lang, person, answer, parent).exec()


def _columns(lang: str) -> list[Column[dict[str, Any]]]:
    def status(r: dict[str, Any]) -> str:
        if r["retired"]:
            return s("status.retired", lang)
        return s("status.live" if r["active"] == "1" else "status.inactive", lang)

    def account(r: dict[str, Any]) -> str:
        if r["has_password"]:
            text = s("account.password", lang)
        elif r.get("setup_code_expires_at"):
            text = s("account.code", lang, until=local_time(r["setup_code_expires_at"]))
        else:
            text = s("account.none", lang)
        return text + (s("account.locked", lang) if r["locked"] else "")

    def muted(r: dict[str, Any]) -> str | None:
        return theme.MUTED if r["retired"] else None

    def campuses(r: dict[str, Any]) -> str:
        return ";".join(c for c in (r["campus"], r["campuses"]) if c)

    def rights(r: dict[str, Any]) -> str:
        both = (r["prescribing_rights"], r["controlled_rights"])
        return _names("right", ";".join(x for x in both if x), lang)

    return [
        Column(s("col.status", lang), status, colour=lambda r: theme.MUTED if r["retired"] else theme.OK),
        Column(s("col.username", lang), lambda r: str(r["username"]), colour=muted),
        Column(s("col.name", lang), lambda r: str(r["name"]), colour=muted),
        Column(s("col.roles", lang), lambda r: _names("role", r["roles"], lang), colour=muted),
        Column(s("col.title", lang), lambda r: str(r["title"]), colour=muted),
        Column(s("col.campus", lang), campuses, colour=muted),
        Column(s("col.department", lang), lambda r: str(r["department"]), colour=muted),
        Column(s("col.rights", lang), rights, colour=muted),
        Column(s("col.account", lang), account, colour=lambda r: theme.MUTED if r["retired"] else None),
        Column(s("col.keys", lang), lambda r: str(r["signing_keys"]), align_right=True, colour=muted),
    ]


class StaffPanel(ListPanel[dict[str, Any]]):
    """Search, the list (retired people greyed, hidden unless asked), and the actions the role may do."""

    ask_record: Callable[..., dict[str, str] | None] = StaffDialog.ask
    ask_confirm: Callable[[QWidget | None, str, str], bool] = staticmethod(ask_yes)
    show_code: Callable[..., None] = SetupCodeDialog.show_code

    def __init__(self, client: StaffClient, bus: OpBus, lang: str, parent: QWidget | None = None) -> None:
        super().__init__(bus, lang, s("search", lang), _columns(lang), parent)
        self.client = client
        self.roles: frozenset[str] = frozenset()
        self.reset_password_button = QPushButton(s("reset_password", lang))
        self.reset_key_button = QPushButton(s("reset_key", lang))
        self.unlock_button = QPushButton(s("unlock", lang))
        self.refresh_button = QPushButton(s("refresh", lang))
        self.record_buttons = (self.new_button, self.edit_button, self.retire_button)
        self.credential_buttons = (self.reset_password_button, self.reset_key_button, self.unlock_button)
        self._lay_out((*self.record_buttons, *self.credential_buttons, self.refresh_button))
        self.reset_password_button.clicked.connect(self.reset_password)
        self.reset_key_button.clicked.connect(self.reset_signing_key)
        self.unlock_button.clicked.connect(self.unlock)
        self.refresh_button.clicked.connect(self.refresh)
        self.set_roles(frozenset())

    def text(self, key: str, **params: object) -> str:
        return s(key, self.lang, **params)

    def set_roles(self, roles: frozenset[str]) -> None:
        """Show only what this role may do (the server refuses the rest anyway)."""
        self.roles = roles
        for button in self.record_buttons:
            button.setVisible("admin" in roles)
        for button in self.credential_buttons:
            button.setVisible("security_admin" in roles)

    # -- the list ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        self.count.setText(s("loading", self.lang))
        call(self, self.client.staff, self._loaded, self._failed, "admin-staff")

    def _loaded(self, rows: list[dict[str, Any]]) -> None:
        self._show(rows, size_once=False)

    def retired(self, row: dict[str, Any]) -> bool:
        return bool(row["retired"])

    def haystack(self, row: dict[str, Any]) -> str:
        texts = [str(row[k]) for k in ("username", "name", "title", "department", "campus", "roles")]
        return " ".join([*texts, _names("role", row["roles"], self.lang)]).lower()

    def _failed(self, error: BaseException) -> None:
        self.count.setText("")
        self.message.show_message(error_text(error), "error")

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.touches("staff", "signing_key"):
            self.refresh()

    def select(self, username: str) -> bool:
        """Select ``username``'s row if it is shown (tests and the search use it)."""
        return self._select_where(lambda row: row["username"] == username)

    # -- records (system administrator) -------------------------------------------------------------

    def new_row(self) -> None:
        fields = type(self).ask_record(self, self.lang, None)
        if fields is not None:
            self._record_staff(
                "staff.save", {"fields": fields, "new": True}, None, "saved", fields["username"]
            )

    def edit_row(self) -> None:
        if "admin" not in self.roles:
            return
        row = self._selected()
        if row is None:
            return
        before = {k: str(row[k]) for k in ("username", "name", "roles", "title", "campus", "campuses",
                                           "department", "prescribing_rights", "controlled_rights", "active")}  # fmt: skip
        fields = type(self).ask_record(self, self.lang, before)
        if fields is not None:
            changed = {k: v for k, v in fields.items() if v != before.get(k)}
            args = {"fields": {"username": before["username"], **changed}}
            self._record_staff("staff.save", args, int(row["version"]), "saved", before["username"])

    def retire_row(self) -> None:
        row = self._selected()
        if row is None:
            return
        username = str(row["username"])
        self._retire(
            s("retire.title", self.lang, username=username),
            "staff.retire",
            {"username": username},
            {},
            int(row["version"]),
            ("staff",),
            s("retired", self.lang, username=username),
        )

    def _record_staff(
        self, name: str, args: dict[str, Any], base_version: int | None, done: str, username: str
    ) -> None:
        self._record(name, args, base_version, ("staff",), s(done, self.lang, username=username))

    # -- credentials (security administrator) -------------------------------------------------------

    def _confirmed(self, key: str) -> dict[str, Any] | None:
        row = self._selected()
        if row is None:
            return None
        text = s(f"confirm.{key}", self.lang, name=row["name"], username=row["username"])
        return row if type(self).ask_confirm(self, s("confirm.title", self.lang), text) else None

    def reset_password(self) -> None:
        row = self._confirmed("reset_password")
        if row is None:
            return
        username, lang = str(row["username"]), self.lang

        def shown(answer: dict[str, Any]) -> None:
            until = local_time(str(answer["expires_at"]))
            self.message.show_message(
                s(
                    "done.reset_password",
                    lang,
                    username=username,
                    tokens=answer["tokens_revoked"],
                    until=until,
                ),
                "ok",
            )
            type(self).show_code(self, lang, row, answer)
            self.refresh()

        call(self, lambda: self.client.reset_password(username), shown, self._failed, "staff-reset-password")

    def reset_signing_key(self) -> None:
        row = self._confirmed("reset_key")
        if row is None:
            return
        username, lang = str(row["username"]), self.lang

        def done(answer: dict[str, Any]) -> None:
            self.message.show_message(
                s("done.reset_key", lang, username=username, count=len(answer["revoked"])), "ok"
            )
            self.refresh()

        reason = s("key_reason", lang)
        call(
            self,
            lambda: self.client.reset_signing_key(username, reason),
            done,
            self._failed,
            "staff-reset-key",
        )

    def unlock(self) -> None:
        row = self._confirmed("unlock")
        if row is None:
            return
        username, lang = str(row["username"]), self.lang

        def done(answer: dict[str, Any]) -> None:
            self.message.show_message(
                s("done.unlock", lang, username=username, cleared=answer["cleared"]), "ok"
            )
            self.refresh()

        call(self, lambda: self.client.unlock(username), done, self._failed, "staff-unlock")
