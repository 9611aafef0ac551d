"""Staff as administered data: ``staff.save`` (create or change one person: names, roles, department,
campuses, title, prescribing and controlled-drug rights, active) and ``staff.retire`` (withdraw them,
never delete them: old notes, signatures and prescriptions still name them).

System administrator (``admin``) work (三员分立): the records. Credentials (setup codes, password and
signing-key resets, unlocking) are the security administrator's, on the server's own endpoints, never in
a mutation, so no secret ever sits in an outbox. A row is checked by the staff import's own rule
(``shared.reference_io.staff.staff_from_fields``): typed by hand or read from a file, one reason."""

from __future__ import annotations

from pydantic import Field

from shared.domain.entities import Campus, Department, Staff
from shared.domain.mutations.base import (
    Effect,
    MutationArgs,
    MutationContext,
    NoCampus,
    Reason,
    Rejected,
    Shared,
    StateReader,
    check_base_version,
    declare_claims,
    mutation,
    require,
)
from shared.errors import ValidationFailed
from shared.i18n import register
from shared.ids import reference_id
from shared.reference_io.staff import COLUMNS, retired_staff, same_person, staff_from_fields

register(
    "staff.row_refused",
    {
        "zh_CN": "人员 {username} 未保存：{reason}",
        "en": "Staff {username} not saved: {reason}",
        "zh_TW": "人員 {username} 未儲存：{reason}",
    },
)
register(
    "staff.username_taken",
    {
        "zh_CN": "用户名 {username} 已被其他人员使用",
        "en": "The username {username} belongs to someone else",
        "zh_TW": "用戶名 {username} 已被其他人員使用",
    },
)
register(
    "staff.not_yourself",
    {
        "zh_CN": "不能停用自己的账号",
        "en": "You cannot retire your own account",
        "zh_TW": "不能停用自己的帳號",
    },
)


class SaveStaff(MutationArgs):
    # The row as ``clinic export staff`` writes it (field -> text); a field left out keeps its value.
    fields: dict[str, str] = Field(min_length=1, max_length=len(COLUMNS))
    # True: a new person (refused if the username exists), False: a change of an existing one
    new: bool = False


class RetireStaff(MutationArgs):
    username: str = Field(min_length=1, max_length=64)
    reason: str = Reason


class _StateDirectory:
    """Campuses and departments by code through the handler's state reader (server and PC alike)."""

    def __init__(self, state: StateReader) -> None:
        self.state = state

    def campus(self, code: str) -> Campus | None:
        found = [c for c in self.state.find(Campus, code=code) if not c.voided]
        return found[0] if found else None

    def department(self, code: str) -> Department | None:
        found = [d for d in self.state.find(Department, code=code) if not d.voided]
        return found[0] if found else None


def _by_username(state: StateReader, username: str) -> Staff | None:
    found = state.find(Staff, username=username)
    return found[0] if found else None


_HOSPITAL_WIDE = NoCampus("staff records are the hospital's, kept by IT for every campus")
_ADMIN_WORK = Shared("the system administrators' shared work")


@mutation("staff.save", SaveStaff, ("admin",), "create or change one staff member's record")
def save_staff(state: StateReader, args: SaveStaff, ctx: MutationContext) -> Effect:
    username = args.fields.get("username", "").strip()

    def refused(reason: str, code: str = "invalid_row") -> Rejected:
        return Rejected(ctx.t("staff.row_refused", username=username, reason=reason), code=code)

    before = _by_username(state, username) if username else None
    if before is not None and args.new:
        raise refused(ctx.t("staff.username_taken", username=username), "duplicate_username")
    if before is None and username:
        # a username is the row's identity: the id it would get must be free too
        taken = state.get(Staff, reference_id("staff", username))
        if taken is not None:
            raise refused(ctx.t("staff.username_taken", username=username), "duplicate_username")
    if before is not None:
        check_base_version(before, ctx)
    try:
        after = staff_from_fields(args.fields, before, _StateDirectory(state), now=ctx.now, lang=ctx.lang)
    except ValidationFailed as error:
        raise refused(error.message) from error
    if before is not None and same_person(before, after):
        return Effect(result={"username": username, "version": before.version, "changed": False})
    return Effect(writes=[after], result={"username": username, "version": after.version, "changed": True})


@mutation("staff.retire", RetireStaff, ("admin",), "withdraw one staff member (never deleted)")
def retire_staff(state: StateReader, args: RetireStaff, ctx: MutationContext) -> Effect:
    row = _by_username(state, args.username)
    row = require(state, Staff, row.id if row else reference_id("staff", args.username), ctx)
    if row.id == ctx.staff_id:
        raise Rejected(ctx.t("staff.not_yourself"), code="not_yourself")
    check_base_version(row, ctx)
    after = retired_staff(row, reason=args.reason, now=ctx.now)
    return Effect(writes=[after], result={"username": args.username, "version": after.version})


declare_claims(
    {
        "staff.save": (_HOSPITAL_WIDE, _ADMIN_WORK),
        "staff.retire": (_HOSPITAL_WIDE, _ADMIN_WORK),
    }
)
