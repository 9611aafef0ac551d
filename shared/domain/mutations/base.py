"""The mutation framework: a named command, its argument model, the roles allowed, and a pure handler.

A handler reads state only through a ``StateReader`` and returns an ``Effect`` (entity writes, warnings,
a result) or raises ``Rejected``. The server runs it against its database inside one transaction; the
client runs the very same function against its local view, so both agree by construction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.entities import Entity, Role
from shared.errors import BusinessRuleViolation
from shared.i18n import DEFAULT_LANGUAGE, kind_name, tr

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
    # the server only: when this device (with this staff member) last pulled before this push, asked
    # lazily (signature time checks, ``shared.domain.signatures``); None on a client
    last_contact: Callable[[], dt.datetime | None] | None = None

    def last_contact_at(self) -> dt.datetime | None:
        return self.last_contact() if self.last_contact is not None else None

    def t(self, key: str, **params: object) -> str:
        return tr(key, self.lang, **params)


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


class MutationArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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


REGISTRY: dict[str, MutationSpec[Any]] = {}


def mutation(
    name: str,
    args: type[A],
    roles: tuple[Role, ...],
    summary: str = "",
    *,
    reads_id_of: str | None = None,
    takes_numbers: tuple[str, ...] = (),
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
            handler=fn,
            summary=summary,
            reads_id_of=reads_id_of,
            takes_numbers=takes_numbers,
        )
        return fn

    return wrap


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
