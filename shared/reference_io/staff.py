"""Staff as administered data: one row per person (``username`` is the row's identity), checked by one
rule for an administrator's edit (``staff.save``) and a row of an imported file (``clinic import staff``).

The file's columns: ``username``, ``name``, ``roles``, ``title``, ``campus`` (the home campus's code),
``campuses`` (the other campuses' codes), ``department`` (a department's code), ``prescribing_rights``
(ordinary, antibiotic_restricted), ``controlled_rights`` (narcotic, psychotropic1, psychotropic2, toxic),
``active`` (1/0). Lists are split by ``;``, ``；`` or ``、``. Passwords are never imported: a file with a
password column is refused whole, and each new person gets a one-time setup code instead.
"""

from __future__ import annotations

import datetime as dt
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from pydantic import ValidationError

from shared.domain.entities import ROLES, Campus, Department, PrescribingRight, Staff
from shared.errors import ValidationFailed
from shared.i18n import register, tr
from shared.ids import reference_id
from shared.reference_io.messages import explain, say
from shared.reference_io.plan import (
    _FALSE,
    _TRUE,
    LIST_SEPARATORS,
    Change,
    ColumnMapping,
    ImportPlan,
    Refusal,
)
from shared.reference_io.tables import Table

KIND = "staff"
COLUMNS = (
    "username",
    "name",
    "roles",
    "title",
    "campus",
    "campuses",
    "department",
    "prescribing_rights",
    "controlled_rights",
    "active",
)
LISTS = frozenset({"roles", "campuses", "prescribing_rights", "controlled_rights"})
CONTROLLED: tuple[PrescribingRight, ...] = ("narcotic", "psychotropic1", "psychotropic2", "toxic")
RIGHTS: tuple[PrescribingRight, ...] = typing.get_args(PrescribingRight)
# Headers a HIS export may carry that hold secrets: such a file is refused before any row is read.
SECRET_HEADERS = ("password", "passwd", "pwd", "密码", "密碼", "口令", "password_hash", "hash")

_TEXTS: dict[str, tuple[str, str, str]] = {
    # key: (en, zh_CN, zh_TW)
    "password_column": (
        "the file has a password column ({column!r}): passwords are never imported; remove the column "
        "(each new person gets a one-time setup code)",
        "文件含密码列（{column!r}）：密码从不导入，请删除该列（每位新人员会得到一次性设置码）",
        "檔案含密碼欄（{column!r}）：密碼從不匯入，請刪除該欄（每位新人員會得到一次性設定碼）",
    ),
    "no_username": ("no username", "没有用户名", "沒有用戶名"),
    "bad_username": (
        "username {value!r}: use letters, digits, '.', '_' or '-' (at most 64)",
        "用户名 {value!r}：只能用字母、数字、'.'、'_' 或 '-'（最多 64 个）",
        "用戶名 {value!r}：只能用字母、數字、'.'、'_' 或 '-'（最多 64 個）",
    ),
    "duplicate_username": (
        "duplicate username {code}: already in row {row}",
        "用户名 {code} 重复：第 {row} 行已有",
        "用戶名 {code} 重複：第 {row} 列已有",
    ),
    "unknown_role": (
        "roles: unknown role {value!r} (one of {known})",
        "角色：未知的角色 {value!r}（应为 {known} 之一）",
        "角色：未知的角色 {value!r}（應為 {known} 之一）",
    ),
    "no_roles": ("roles: at least one role", "角色：至少一个角色", "角色：至少一個角色"),
    "unknown_right": (
        "{field}: unknown right {value!r} (one of {known})",
        "{field}：未知的权限 {value!r}（应为 {known} 之一）",
        "{field}：未知的權限 {value!r}（應為 {known} 之一）",
    ),
    "rights_not_doctor": (
        "prescribing and controlled-drug rights are for doctors only",
        "只有医生可以有处方权和特殊药品处方权",
        "只有醫師可以有處方權和管制藥品處方權",
    ),
    "unknown_campus": ("{field}: unknown campus code {value!r}", "{field}：未知的院区编码 {value!r}",
                       "{field}：未知的院區編碼 {value!r}"),
    "unknown_department": (
        "department: unknown department code {value!r}",
        "department：未知的科室编码 {value!r}",
        "department：未知的科室編碼 {value!r}",
    ),
    "department_elsewhere": (
        "department {value!r} belongs to campus {campus!r}, not one of this person's campuses",
        "科室 {value!r} 属于院区 {campus!r}，不在该人员的院区内",
        "科室 {value!r} 屬於院區 {campus!r}，不在該人員的院區內",
    ),
    "name_required": ("name: required", "姓名：必填", "姓名：必填"),
}  # fmt: skip
for _key, (_en, _zh, _tw) in _TEXTS.items():
    register(f"staff_io.{_key}", {"en": _en, "zh_CN": _zh, "zh_TW": _tw})


def _say(key: str, lang: str, **params: Any) -> str:
    return tr(f"staff_io.{key}", lang, **params)


class Directory(Protocol):
    """The campuses and departments a staff row names by code (live ones only)."""

    def campus(self, code: str) -> Campus | None: ...

    def department(self, code: str) -> Department | None: ...


class TableDirectory:
    """A ``Directory`` over lists read at once (the server's import, the window)."""

    def __init__(self, campuses: Iterable[Campus], departments: Iterable[Department]) -> None:
        self.campuses = {c.code: c for c in campuses if not c.voided}
        self.departments = {d.code: d for d in departments if not d.voided}

    def campus(self, code: str) -> Campus | None:
        return self.campuses.get(code)

    def department(self, code: str) -> Department | None:
        return self.departments.get(code)


def refuse_secret_columns(headers: Iterable[str], lang: str) -> None:
    """``ValidationFailed`` (``password_column``) when a header names a password or its hash."""
    for header in headers:
        folded = header.strip().lower().replace(" ", "_")
        if any(secret in folded for secret in SECRET_HEADERS):
            raise ValidationFailed(_say("password_column", lang, column=header), code="password_column")


def _valid_username(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isascii() and (c.isalnum() or c in "._-") for c in value)


def _items(text: str) -> list[str]:
    return [item.strip() for item in LIST_SEPARATORS.split(text) if item.strip()]


def staff_from_fields(
    fields: Mapping[str, str], before: Staff | None, directory: Directory, *, now: dt.datetime, lang: str
) -> Staff:
    """The staff row that ``fields`` (texts keyed by ``COLUMNS``) make of ``before`` (None: a new person).
    A field left out keeps ``before``'s value; a field given empty clears it (required ones are refused).
    Raises ``ValidationFailed`` (``invalid_row``) with the reason, in ``lang``."""

    def refuse(key: str, **params: Any) -> ValidationFailed:
        return ValidationFailed(_say(key, lang, **params), code="invalid_row")

    unknown = sorted(set(fields) - set(COLUMNS))
    if unknown:
        raise ValidationFailed(say("no_fields", lang, kind=KIND, fields=unknown), code="invalid_row")
    username = fields.get("username", before.username if before else "").strip()
    if not username:
        raise refuse("no_username")
    if not _valid_username(username):
        raise refuse("bad_username", value=username)
    data: dict[str, Any] = before.model_dump() if before else {"username": username}
    if "name" in fields:
        data["name"] = fields["name"].strip()
    if not data.get("name"):
        raise refuse("name_required")
    if "title" in fields:
        data["title"] = fields["title"].strip()
    if "roles" in fields:
        roles = _items(fields["roles"])
        for role in roles:
            if role not in ROLES:
                raise refuse("unknown_role", value=role, known=", ".join(ROLES))
        data["roles"] = list(dict.fromkeys(roles))
    if not data.get("roles"):
        raise refuse("no_roles")
    if "active" in fields:
        text = fields["active"].strip().lower()
        if text not in _TRUE | _FALSE:
            raise ValidationFailed(say("not_yes_no", lang, field="active", text=text), code="invalid_row")
        data["active"] = text in _TRUE or text == ""  # empty: active, the default
    if "campus" in fields:
        code = fields["campus"].strip()
        campus = directory.campus(code) if code else None
        if code and campus is None:
            raise refuse("unknown_campus", field="campus", value=code)
        data["campus_id"] = campus.id if campus else None
    if "campuses" in fields:
        ids = []
        for code in _items(fields["campuses"]):
            campus = directory.campus(code)
            if campus is None:
                raise refuse("unknown_campus", field="campuses", value=code)
            ids.append(campus.id)
        data["campus_ids"] = sorted(set(ids) - {data.get("campus_id")})
    if "department" in fields:
        code = fields["department"].strip()
        department = directory.department(code) if code else None
        if code and department is None:
            raise refuse("unknown_department", value=code)
        if department is not None:
            if data.get("campus_id") is None:
                data["campus_id"] = department.campus_id  # the department says where the person works
            if department.campus_id != data["campus_id"] and department.campus_id not in data.get(
                "campus_ids", []
            ):
                raise refuse("department_elsewhere", value=code, campus=_campus_code(directory, department))
        data["department_id"] = department.id if department else None
    if "prescribing_rights" in fields or "controlled_rights" in fields:
        current = list(data.get("prescribing_rights", []))
        rights = {r for r in current if r not in CONTROLLED}, {r for r in current if r in CONTROLLED}
        for index, name in enumerate(("prescribing_rights", "controlled_rights")):
            if name not in fields:
                continue
            given = set()
            for right in _items(fields[name]):
                if right not in RIGHTS:
                    raise refuse("unknown_right", field=name, value=right, known=", ".join(RIGHTS))
                given.add(right)
            rights[index].clear()
            rights[index].update(given)
        data["prescribing_rights"] = [r for r in RIGHTS if r in rights[0] | rights[1]]
    if data.get("prescribing_rights") and "doctor" not in data["roles"]:
        raise refuse("rights_not_doctor")
    if before is None:
        data.update(id=reference_id(KIND, username), version=1)
    else:
        data.update(version=before.version + 1, voided=False, void_reason=None)
    data["updated_at"] = now
    try:
        return Staff.model_validate(data)
    except ValidationError as error:
        raise ValidationFailed(explain(error, lang), code="invalid_row") from error


def _campus_code(directory: Directory, department: Department) -> str:
    for campus in getattr(directory, "campuses", {}).values():
        if campus.id == department.campus_id:
            return str(campus.code)
    return department.campus_id


def same_person(before: Staff, after: Staff) -> bool:
    """Whether ``after`` changes nothing of ``before`` but its version and time."""
    skip = {"version", "updated_at"}
    return before.model_dump(exclude=skip) == after.model_dump(exclude=skip)


def changed_fields(before: Staff, after: Staff) -> tuple[str, ...]:
    skip = {"version", "updated_at"}
    dumped_before, dumped_after = before.model_dump(exclude=skip), after.model_dump(exclude=skip)
    return tuple(name for name in dumped_after if dumped_before.get(name) != dumped_after[name])


def plan_staff_import(
    table: Table,
    current: Iterable[Staff],
    directory: Directory,
    *,
    mapping: ColumnMapping | None = None,
    retire_missing: bool = False,
    now: dt.datetime,
    source: str = "",
    lang: str = "en",
) -> ImportPlan:
    """The plan of a staff file, as ``plan_import`` makes one for the other kinds: rows keyed by
    username; an empty cell keeps the value the server holds. A password column refuses the whole file
    (``ValidationFailed``)."""
    mapping = mapping or ColumnMapping()
    refuse_secret_columns(table.headers, lang)
    unknown = set(mapping.columns) - set(COLUMNS)
    if unknown:
        raise ValidationFailed(
            f"the mapping names fields that staff does not have: {sorted(unknown)}", code="bad_mapping"
        )
    present = set(table.headers)
    missing = {f: c for f, c in mapping.columns.items() if c not in present}
    if missing:
        raise ValidationFailed(
            "columns named in the mapping are not in the file: "
            + ", ".join(f"{c!r} (for {f})" for f, c in sorted(missing.items())),
            code="bad_mapping",
        )
    columns = {f: f for f in COLUMNS if f in present and f not in mapping.columns}
    columns.update(mapping.columns)
    if "username" not in columns:
        raise ValidationFailed("no column gives the username of each person", code="bad_mapping")
    by_username = {s.username: s for s in current}
    plan = ImportPlan(KIND)
    seen: dict[str, int] = {}
    for row in table.rows:
        fields: dict[str, str] = {str(k): str(v) for k, v in mapping.defaults.items()}
        for name, column in columns.items():
            text = row.cells.get(column, "").strip()
            text = mapping.values.get(name, {}).get(text, text)
            if text:
                fields[name] = text
            else:
                fields.pop(name, None)  # empty: keep what the server holds
        username = fields.get("username", "")
        if username in seen:
            plan.refused.append(
                Refusal(
                    row.number, username, _say("duplicate_username", lang, code=username, row=seen[username])
                )
            )
            continue
        before = by_username.get(username)
        try:
            after = staff_from_fields(fields, before, directory, now=now, lang=lang)
        except ValidationFailed as error:
            plan.refused.append(Refusal(row.number, username, error.message))
            continue
        seen[username] = row.number
        if before is None:
            plan.added.append(after)
        elif same_person(before, after):
            plan.unchanged += 1
        else:
            plan.changed.append(Change(before, after, changed_fields(before, after)))
    if retire_missing:
        reason = f"retired by import {source}".strip()[:500]
        for username, staff in sorted(by_username.items()):
            if username not in seen and not staff.voided:
                plan.retired.append(retired_staff(staff, reason=reason, now=now))
    return plan


def retired_staff(staff: Staff, *, reason: str, now: dt.datetime) -> Staff:
    """``staff`` withdrawn (never deleted: their notes, signatures and prescriptions still name them):
    voided and inactive, so they can no longer log in."""
    return staff.model_copy(
        update={
            "version": staff.version + 1,
            "voided": True,
            "active": False,
            "void_reason": reason[:500],
            "updated_at": now,
        }
    )


def export_row(
    staff: Staff, campus_codes: Mapping[str, str], department_codes: Mapping[str, str]
) -> list[str]:
    """One person as a row of ``COLUMNS`` (no secret: there is none on a staff row)."""
    ordinary = [r for r in staff.prescribing_rights if r not in CONTROLLED]
    controlled = [r for r in staff.prescribing_rights if r in CONTROLLED]
    return [
        staff.username,
        staff.name,
        ";".join(staff.roles),
        staff.title,
        campus_codes.get(staff.campus_id or "", "") if staff.campus_id else "",
        ";".join(sorted(campus_codes.get(c, c) for c in staff.campus_ids)),
        department_codes.get(staff.department_id or "", "") if staff.department_id else "",
        ";".join(ordinary),
        ";".join(controlled),
        "1" if staff.active else "0",
    ]


def export_rows(
    staff: Iterable[Staff], campuses: Iterable[Campus], departments: Iterable[Department]
) -> list[list[str]]:
    """Live staff as rows sorted by username."""
    campus_codes = {c.id: c.code for c in campuses}
    department_codes = {d.id: d.code for d in departments}
    live = sorted((s for s in staff if not s.voided), key=lambda s: s.username)
    return [export_row(s, campus_codes, department_codes) for s in live]
