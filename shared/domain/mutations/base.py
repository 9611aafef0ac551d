"""The mutation framework: a named command, its argument model, the roles allowed, and a pure handler.

A handler reads state only through a ``StateReader`` and returns an ``Effect`` (entity writes, warnings,
a result) or raises ``Rejected``. The server runs it against its database inside one transaction; the
client runs the very same function against its local view, so both agree by construction.

Every mutation also declares *where* its objects are (``campus=``: ``CampusOf`` the rows its arguments
name, or ``NoCampus`` with the reason) and *whose* they are (``owner=``: ``Shared`` work of the roles,
``OwnedBy`` the staff member a row names, ``NotBy`` them — separation of duties — or ``Custom``). The
registry runs both checks before the handler (``REGISTRY[name].handler``), so the server and every PC
refuse a MAIN nurse's cancel of an EAST ticket or a second doctor's cancel of another's prescription the
same way; a test over the registry holds that no mutation leaves either undeclared.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.domain.entities import Entity, Role
from shared.errors import BusinessRuleViolation
from shared.i18n import DEFAULT_LANGUAGE, kind_name, register, tr

E = TypeVar("E", bound=Entity)
A = TypeVar("A", bound=BaseModel)


class StateReader(Protocol):
    """Read access a handler gets: by id, or by equality on a kind's indexed columns."""

    def get(self, kind: type[E], entity_id: str) -> E | None: ...

    def find(self, kind: type[E], **equals: Any) -> list[E]: ...

    def next_number(self, counter: str) -> int | None:
        """Next value of a server-side counter (medical record numbers); ``None`` on a client."""
        ...


@dataclass(frozen=True)
class MutationContext:
    """Who does it, where and when. ``now`` is the server's clock on the server, the PC's on a client."""

    staff_id: str
    roles: frozenset[str]
    device_id: str
    campus_id: str | None
    now: dt.datetime
    today: dt.date
    base_version: int | None = None
    lang: str = DEFAULT_LANGUAGE
    # When the action happened on the PC (the server's bounded reading of the envelope's
    # ``occurred_at``); ``None`` on a client, where ``now`` is that moment.
    occurred_at: dt.datetime | None = None
    # the server only: when this device (with this staff member) last pulled before this push, asked
    # lazily (signature time checks, ``shared.domain.signatures``); None on a client
    last_contact: Callable[[], dt.datetime | None] | None = None

    def last_contact_at(self) -> dt.datetime | None:
        return self.last_contact() if self.last_contact is not None else None

    def t(self, key: str, **params: object) -> str:
        return tr(key, self.lang, **params)

    @property
    def happened_at(self) -> dt.datetime:
        """When the action happened: ``occurred_at`` when the server knows it, else ``now``."""
        return self.occurred_at or self.now


@dataclass
class Effect:
    """What a mutation does: rows to write (each at its new version), warnings, and a small result."""

    writes: list[Entity] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


class Rejected(BusinessRuleViolation):
    """A permanent, acknowledged refusal. ``detail`` may carry the server's current state of the row."""


# argument fields every mutation module uses
Id = Field(min_length=1, max_length=64)
OptionalId = Field(default=None, min_length=1, max_length=64)
Reason = Field(min_length=1, max_length=500)


# Every number anywhere in a mutation's arguments, whatever its field: finite, and at most this in
# magnitude (a pushed ``1e30`` or ``10**30`` is refused as invalid_args, never reaches a handler or a
# database column). Fields with a meaning (doses, quantities, days, prices) have tighter bounds.
MAX_ABS_NUMBER = 10**12


def _out_of_range(value: Any, path: str) -> str | None:
    """The path of the first number in ``value`` (models, lists, dicts, walked) out of range."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return path if abs(value) > MAX_ABS_NUMBER else None
    if isinstance(value, Decimal):
        return path if not value.is_finite() or abs(value) > MAX_ABS_NUMBER else None
    if isinstance(value, float):
        return path if not math.isfinite(value) or abs(value) > MAX_ABS_NUMBER else None
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found = _out_of_range(getattr(value, name), f"{path}.{name}" if path else name)
            if found:
                return found
        return None
    if isinstance(value, list | tuple | set | frozenset):
        for n, item in enumerate(value):
            found = _out_of_range(item, f"{path}.{n}")
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _out_of_range(item, f"{path}.{key}")
            if found:
                return found
    return None


class MutationArgs(BaseModel):
    """Base of every mutation's arguments: unknown fields refused, strings stripped, and every number
    finite and within ``MAX_ABS_NUMBER`` (the server's edge: nothing out of range reaches a handler)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _numbers_in_range(self) -> MutationArgs:
        where = _out_of_range(self, "")
        if where:
            raise ValueError(f"{where}: number out of range (finite, at most {MAX_ABS_NUMBER:.0e})")
        return self


@dataclass(frozen=True)
class MutationSpec(Generic[A]):
    name: str
    args: type[A]
    roles: frozenset[Role]
    handler: Callable[[StateReader, A, MutationContext], Effect]
    summary: str = ""
    # Hints for a server that applies many mutations at once and may read ahead for all of them: the
    # entity kind whose row ``args["id"]`` names (the handler reads it), and the numbering counters the
    # handler usually takes. Handlers behave the same without them.
    reads_id_of: str | None = None
    takes_numbers: tuple[str, ...] = ()
    # Where its objects are and whose they are (see the module docstring); ``None`` = not declared,
    # which the registry test refuses. ``rule`` is the bare handler, without these checks.
    campus: CampusRule | None = None
    owner: OwnerRule | None = None
    rule: Callable[[StateReader, A, MutationContext], Effect] | None = None


REGISTRY: dict[str, MutationSpec[Any]] = {}
UNKNOWN_CLAIMS: list[str] = []  # names ``declare_claims`` was given that no mutation has


def mutation(
    name: str,
    args: type[A],
    roles: tuple[Role, ...],
    summary: str = "",
    *,
    reads_id_of: str | None = None,
    takes_numbers: tuple[str, ...] = (),
    campus: CampusRule | None = None,
    owner: OwnerRule | None = None,
) -> Callable[
    [Callable[[StateReader, A, MutationContext], Effect]], Callable[[StateReader, A, MutationContext], Effect]
]:
    """Register a pure handler under a mutation name; the same registry serves server and client."""

    def wrap(
        fn: Callable[[StateReader, A, MutationContext], Effect],
    ) -> Callable[[StateReader, A, MutationContext], Effect]:
        if name in REGISTRY:
            raise ValueError(f"mutation {name} registered twice")
        REGISTRY[name] = MutationSpec(
            name=name,
            args=args,
            roles=frozenset(roles),
            handler=_checked(fn, campus, owner),
            summary=summary,
            reads_id_of=reads_id_of,
            takes_numbers=takes_numbers,
            campus=campus,
            owner=owner,
            rule=fn,
        )
        return fn

    return wrap


def _checked(
    fn: Callable[[StateReader, A, MutationContext], Effect],
    campus: CampusRule | None,
    owner: OwnerRule | None,
) -> Callable[[StateReader, A, MutationContext], Effect]:
    """``fn`` behind the campus and ownership checks (what the server and the PCs run)."""

    def checked(state: StateReader, parsed: A, ctx: MutationContext) -> Effect:
        if campus is not None:
            campus.check(state, parsed, ctx)
        if owner is not None:
            owner.check(state, parsed, ctx)
        return fn(state, parsed, ctx)

    return checked


def declare_claims(table: dict[str, tuple[CampusRule, OwnerRule]]) -> None:
    """Declare, for mutations already registered, where their objects are and whose they are (a module
    lists its mutations' rules in one table at its end, beside the handlers)."""
    for name, (campus, owner) in table.items():
        spec = REGISTRY.get(name)
        if spec is None:  # a mutation renamed or removed: the registry test lists these
            UNKNOWN_CLAIMS.append(name)
            continue
        fn = spec.rule or spec.handler
        REGISTRY[name] = replace(spec, campus=campus, owner=owner, handler=_checked(fn, campus, owner))


def require(
    state: StateReader, kind: type[E], entity_id: str, ctx: MutationContext, *, live: bool = True
) -> E:
    """Fetch a row a mutation depends on, or reject with a clear message."""
    row = state.get(kind, entity_id)
    if row is None:
        raise Rejected(
            ctx.t("entity.not_found", kind=kind_name(kind.KIND, ctx.lang), id=entity_id), code="not_found"
        )
    if live and row.voided:
        raise Rejected(
            ctx.t("entity.voided", kind=kind_name(kind.KIND, ctx.lang), id=entity_id), code="voided"
        )
    return row


def check_base_version(row: Entity, ctx: MutationContext) -> None:
    """Reject an edit made on a version that is no longer current, returning the server's row."""
    if ctx.base_version is not None and ctx.base_version != row.version:
        raise Rejected(
            ctx.t(
                "entity.version_mismatch",
                kind=kind_name(row.KIND, ctx.lang),
                current=row.version,
                base=ctx.base_version,
            ),
            code="version_conflict",
            detail={"server_state": row.model_dump(mode="json")},
        )


def next_version(row: E, ctx: MutationContext, **changes: Any) -> E:
    """A copy of ``row`` with ``changes`` applied, one version up, stamped with the mutation's time."""
    data = {**row.model_dump(), **changes, "version": row.version + 1, "updated_at": ctx.now}
    return type(row).model_validate(data)


# ------------------------------------------------------------------------- campus and ownership rules

_MESSAGES = {
    "claims.wrong_campus": {
        "zh_CN": "{kind} {id} 不属于当前院区，不能在此操作",
        "en": "{kind} {id} belongs to another campus; it cannot be changed from this one",
        "zh_TW": "{kind} {id} 不屬於當前院區，不能在此操作",
    },
    "claims.no_campus": {
        "zh_CN": "当前登录未选择院区，不能执行此操作",
        "en": "This login has no campus; the action needs one",
        "zh_TW": "當前登入未選擇院區，不能執行此操作",
    },
    "claims.not_owner": {
        "zh_CN": "只有{kind}的负责人本人可以执行此操作",
        "en": "Only the staff member the {kind} belongs to may do this",
        "zh_TW": "只有{kind}的負責人本人可以執行此操作",
    },
    "claims.same_person": {
        "zh_CN": "须由另一位工作人员完成（职责分离）：此{kind}由您本人经手",
        "en": "Another staff member must do this (separation of duties): you handled this {kind}",
        "zh_TW": "須由另一位工作人員完成（職責分離）：此{kind}由您本人經手",
    },
}
for _key, _texts in _MESSAGES.items():
    register(_key, _texts)


class CampusRule(Protocol):
    """Where a mutation's objects are; ``check`` rejects one that touches another campus's objects."""

    def check(self, state: StateReader, args: Any, ctx: MutationContext) -> None: ...


class OwnerRule(Protocol):
    """Whose a mutation's object is; ``check`` rejects a caller who may not act on it."""

    @property
    def description(self) -> str: ...

    def check(self, state: StateReader, args: Any, ctx: MutationContext) -> None: ...


class CampusOf:
    """Each keyword names an argument field and the kind of row it points to; every such row that exists
    must belong to the caller's campus (a new row's campus comes from those rows, so it is checked too).
    ``caller=True``: the mutation writes rows at the caller's campus, so it needs one."""

    def __init__(self, *, caller: bool = False, **fields: type[Entity]) -> None:
        self.caller = caller
        self.fields = fields

    def check(self, state: StateReader, args: Any, ctx: MutationContext) -> None:
        if self.caller and not ctx.campus_id:
            raise Rejected(ctx.t("claims.no_campus"), code="wrong_campus")
        for field_name, kind in self.fields.items():
            value = getattr(args, field_name, None)
            if not value:
                continue
            row = state.get(kind, str(value))
            if row is None:
                continue  # a new row, or the handler's "not found"
            campus = getattr(row, "campus_id", None)
            if campus is None:
                continue
            if not ctx.campus_id:
                raise Rejected(ctx.t("claims.no_campus"), code="wrong_campus")
            if campus != ctx.campus_id:
                raise Rejected(
                    ctx.t("claims.wrong_campus", kind=kind_name(kind.KIND, ctx.lang), id=value),
                    code="wrong_campus",
                    detail={"kind": kind.KIND, "id": value},
                )


@dataclass(frozen=True)
class NoCampus:
    """The mutation touches nothing tied to a campus (patients, a person's own keys); ``why`` says so."""

    why: str

    def check(self, state: StateReader, args: Any, ctx: MutationContext) -> None:
        return None


@dataclass(frozen=True)
class Shared:
    """Any holder of the spec's roles at the object's campus may do it (team work); ``description`` says why."""

    description: str

    def check(self, state: StateReader, args: Any, ctx: MutationContext) -> None:
        return None


class _RowField:
    def __init__(self, description: str, **fields: tuple[type[Entity], str]) -> None:
        if len(fields) != 1:
            raise ValueError("name exactly one argument field")
        ((self.field, (self.kind, self.by)),) = fields.items()
        self.description = description

    def _holder(self, state: StateReader, args: Any) -> tuple[bool, str | None]:
        value = getattr(args, self.field, None)
        row = state.get(self.kind, str(value)) if value else None
        if row is None:
            return False, None  # a new row (the caller's own) or the handler's "not found"
        return True, getattr(row, self.by)


class OwnedBy(_RowField):
    """Only the staff member the row names (``field=(Kind, "doctor_id")``) may act on it."""

    def check(self, state: StateReader, args: Any, ctx: MutationContext) -> None:
        found, holder = self._holder(state, args)
        if found and holder != ctx.staff_id:
            raise Rejected(
                ctx.t("claims.not_owner", kind=kind_name(self.kind.KIND, ctx.lang)),
                code="not_owner",
                detail={"kind": self.kind.KIND, "owner": holder},
            )


class NotBy(_RowField):
    """Separation of duties: the staff member the row names (who made or handled it) may not do this."""

    def check(self, state: StateReader, args: Any, ctx: MutationContext) -> None:
        found, holder = self._holder(state, args)
        if found and holder == ctx.staff_id:
            raise Rejected(
                ctx.t("claims.same_person", kind=kind_name(self.kind.KIND, ctx.lang)),
                code="same_person",
                detail={"kind": self.kind.KIND},
            )


@dataclass(frozen=True)
class InHandler:
    """The handler itself holds the rule (it needs the row it builds); ``description`` states it."""

    description: str

    def check(self, state: StateReader, args: Any, ctx: MutationContext) -> None:
        return None


@dataclass(frozen=True)
class Custom:
    """A rule that needs more than one row: ``rule`` raises ``Rejected``; ``description`` states it."""

    description: str
    rule: Callable[[StateReader, Any, MutationContext], None]

    def check(self, state: StateReader, args: Any, ctx: MutationContext) -> None:
        self.rule(state, args, ctx)


def not_owner(kind: str, ctx: MutationContext, holder: str | None = None) -> Rejected:
    """The refusal ``OwnedBy`` gives, for ``Custom`` rules."""
    return Rejected(
        ctx.t("claims.not_owner", kind=kind_name(kind, ctx.lang)),
        code="not_owner",
        detail={"kind": kind, "owner": holder},
    )
