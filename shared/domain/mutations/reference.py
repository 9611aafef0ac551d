"""Reference-data mutations for the administrator: ``reference.save`` (create or change one row of an
importable kind) and ``reference.retire`` (withdraw it from use, never delete it).

A row is checked by the import's own rule (``shared.reference_io.plan.entity_from_fields``), so a row an
administrator types and a row of a HIS file are accepted or refused for the same reasons. A row's id is
``reference_id(kind, code)``, as the import gives it, so an edit and a later import meet on one row."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pydantic import Field, field_validator

from shared.domain.entities import ENTITY_BY_KIND, Entity, Role
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
    mutation,
    require,
)
from shared.errors import ValidationFailed
from shared.i18n import kind_name, register
from shared.ids import reference_id
from shared.reference_io.plan import KINDS, entity_from_fields, retired

register(
    "reference.row_refused",
    {
        "zh_CN": "{kind} {code} 未保存：{reason}",
        "en": "{kind} {code} not saved: {reason}",
        "zh_TW": "{kind} {code} 未儲存：{reason}",
    },
)
register(
    "reference.unknown_kind",
    {
        "zh_CN": "不能在此维护的资料类别：{kind}",
        "en": "Not an editable kind of reference data: {kind}",
        "zh_TW": "不能在此維護的資料類別：{kind}",
    },
)

ADMIN_ROLES: tuple[Role, ...] = ("admin",)
# The dictionaries are the hospital's, and the system administrators keep them for every campus (a room
# or a pharmacy names its campus as data, but IT edits all of them).
_HOSPITAL_WIDE = NoCampus("reference data is the hospital's, kept by IT for every campus")
_ADMIN_WORK = Shared("the system administrators' shared work")


def _kind(value: str) -> str:
    if value not in KINDS:
        raise ValueError(f"not an importable kind: {value} (one of {', '.join(sorted(KINDS))})")
    return value


class SaveReference(MutationArgs):
    kind: str = Field(min_length=1, max_length=32)
    # The row as ``clinic export`` writes it: field -> text, other rows named by their codes.
    fields: dict[str, str] = Field(min_length=1, max_length=60)

    _check_kind = field_validator("kind")(_kind)


class RetireReference(MutationArgs):
    kind: str = Field(min_length=1, max_length=32)
    code: str = Field(min_length=1, max_length=64)
    reason: str = Reason

    _check_kind = field_validator("kind")(_kind)


class _LiveCodes(Mapping[str, str]):
    """A kind's live codes -> ids, looked up one at a time through the handler's state reader."""

    def __init__(self, state: StateReader, kind: str) -> None:
        self.state = state
        self.kind = kind

    def __getitem__(self, code: str) -> str:
        row = self.state.get(ENTITY_BY_KIND[self.kind], reference_id(self.kind, code))
        if row is None or row.voided:
            raise KeyError(code)
        return row.id

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _current(state: StateReader, kind: str, code: str) -> Entity | None:
    return state.get(ENTITY_BY_KIND[kind], reference_id(kind, code))


@mutation(
    "reference.save",
    SaveReference,
    ADMIN_ROLES,
    "create or change one reference row",
    campus=_HOSPITAL_WIDE,
    owner=_ADMIN_WORK,
)
def save_reference(state: StateReader, args: SaveReference, ctx: MutationContext) -> Effect:
    spec = KINDS[args.kind]
    code = args.fields.get("code", "").strip()
    before = _current(state, args.kind, code) if code else None
    if before is not None:
        check_base_version(before, ctx)
    known = {other: _LiveCodes(state, other) for other in set(spec.references.values())}
    try:
        after = entity_from_fields(spec, args.fields, before, known_codes=known, now=ctx.now, lang=ctx.lang)
    except ValidationFailed as error:
        raise Rejected(
            ctx.t(
                "reference.row_refused", kind=kind_name(args.kind, ctx.lang), code=code, reason=error.message
            ),
            code="invalid_row",
        ) from error
    if before is not None and after.model_dump(exclude={"version", "updated_at"}) == before.model_dump(
        exclude={"version", "updated_at"}
    ):
        return Effect(result={"kind": args.kind, "code": code, "version": before.version, "changed": False})
    # kind and code in the result: the audit entry (which keeps the result) then says what was changed
    return Effect(
        writes=[after], result={"kind": args.kind, "code": code, "version": after.version, "changed": True}
    )


@mutation(
    "reference.retire",
    RetireReference,
    ADMIN_ROLES,
    "withdraw one reference row from use",
    campus=_HOSPITAL_WIDE,
    owner=_ADMIN_WORK,
)
def retire_reference(state: StateReader, args: RetireReference, ctx: MutationContext) -> Effect:
    entity_type = ENTITY_BY_KIND[args.kind]
    row = require(state, entity_type, reference_id(args.kind, args.code), ctx)
    check_base_version(row, ctx)
    after = retired(row, reason=args.reason, now=ctx.now)
    return Effect(writes=[after], result={"kind": args.kind, "code": args.code, "version": after.version})
