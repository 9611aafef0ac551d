"""Plan an import of reference data: map a table's columns to an entity's fields, check every row, and
compare with what the server holds — added, changed (field by field), retired, unchanged, refused (row
number and reason). Pure: the server plans against its database and applies the plan in one transaction;
``clinic import --dry-run`` prints the same plan and applies nothing.

A row's identity is its code (``reference_id(kind, code)``), so importing the same file twice plans
nothing the second time, and a code that disappears from the file is retired (voided with a reason, never
deleted: old prescriptions and notes still read it) only when asked (``retire_missing``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from shared.domain.code_sets import diagnosis_id
from shared.domain.entities import (
    DEFAULT_CODE_SET,
    Campus,
    Department,
    Diagnosis,
    Drug,
    Entity,
    ExamItem,
    Frequency,
    Pharmacy,
    Queue,
    Room,
    Route,
)
from shared.domain.prices import dated_edit
from shared.domain.search_keys import pinyin_initials
from shared.errors import ValidationFailed
from shared.ids import reference_id
from shared.reference_io.messages import explain, kind_label, say
from shared.reference_io.queue_rows import QueueRows
from shared.reference_io.tables import SourceRow, Table

LIST_SEPARATORS = re.compile("[;；、]")
_TRUE = {"1", "true", "yes", "y", "是", "t", "√"}
_FALSE = {"0", "false", "no", "n", "否", "f", ""}


class RowCodec(Protocol):
    """A kind whose row is not its entity's fields one to one (a queue's rule set is a dict on the
    entity, columns in the file): the file's fields, and the conversions both ways."""

    columns: tuple[str, ...]
    flags: frozenset[str]
    lists: frozenset[str]
    kept: frozenset[str]  # entity fields no row carries: an edit or an import leaves them as they are

    def cells(self, entity: Entity) -> dict[str, Any]: ...

    def to_entity_data(self, data: dict[str, Any], before: Entity | None, lang: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ImportKind:
    """How rows of one kind become entities: the entity type, the field its pinyin initials come from,
    and fields that must name a code of another kind (``references``: field -> kind). A file always
    names the other row by its code; a field ending in ``_id`` stores that row's id (``room.department_id``
    comes from a department code), one ending in ``_ids`` a list of ids (``queue.room_ids``), any other
    stores the code itself (``drug.default_route``). ``codec``: see ``RowCodec``."""

    entity: type[Entity]
    pinyin_from: str | None = None
    references: Mapping[str, str] = field(default_factory=dict)
    codec: RowCodec | None = None

    @property
    def name(self) -> str:
        return self.entity.KIND

    @functools.cached_property
    def fields(self) -> tuple[str, ...]:
        """The row's fields, in the order ``clinic export`` writes them."""
        if self.codec is not None:
            return self.codec.columns
        return tuple(name for name in self.entity.model_fields if name not in MANAGED_FIELDS)

    @functools.cached_property
    def flags(self) -> frozenset[str]:
        """The yes/no fields, read as 1/0, true/false, 是/否."""
        if self.codec is not None:
            return self.codec.flags
        return frozenset(
            n for n, f in self.entity.model_fields.items() if f.annotation in (bool, bool | None)
        )

    @functools.cached_property
    def lists(self) -> frozenset[str]:
        """The list fields (a drug's active ingredients), one cell of items split by ``;``, ``；`` or ``、``."""
        if self.codec is not None:
            return self.codec.lists
        return frozenset(
            n for n, f in self.entity.model_fields.items() if typing.get_origin(f.annotation) is list
        )


KINDS: dict[str, ImportKind] = {
    k.name: k
    for k in (
        ImportKind(Drug, "generic_name", {"default_route": "route", "default_frequency": "frequency"}),
        ImportKind(Frequency),
        ImportKind(Route),
        ImportKind(Diagnosis, "name_zh"),
        ImportKind(ExamItem, "name_zh"),
        ImportKind(Campus),
        ImportKind(Department, references={"campus_id": "campus"}),
        ImportKind(Room, references={"campus_id": "campus", "department_id": "department"}),
        ImportKind(Pharmacy, references={"campus_id": "campus"}),
        ImportKind(
            Queue,
            references={"campus_id": "campus", "department_id": "department", "room_ids": "room"},
            codec=QueueRows(),
        ),
    )
}
# The order in which kinds are imported when one batch brings several: a kind after those it names.
IMPORT_ORDER = (
    "campus",
    "department",
    "room",
    "pharmacy",
    "queue",
    "frequency",
    "route",
    "drug",
    "diagnosis",
    "exam_item",
)

# Fields the import never takes from a file: identity and bookkeeping are the server's.
# A drug's dated price changes come from ``reference.set_price`` (and a changed ``price``, dated now).
MANAGED_FIELDS = frozenset({"id", "version", "voided", "void_reason", "updated_at", "price_changes"})


@dataclass(frozen=True)
class ColumnMapping:
    """Which column fills which field (``columns``: field -> column header), constant values for fields
    the file lacks (``defaults``), and value translations per field (``values``: field -> {text: value},
    e.g. 麻醉药品 -> narcotic). Without a mapping file a column fills the field of the same name."""

    columns: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ColumnMapping:
        """A TOML mapping file with tables ``[columns]``, ``[defaults]`` and ``[values.<field>]``."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ValidationFailed(
                f"{path.name}: not a readable TOML mapping file: {error}", code="bad_mapping"
            ) from error
        return cls.parse(text, path.name)

    @classmethod
    def parse(cls, text: str, name: str = "mapping") -> ColumnMapping:
        """The mapping file's text (as sent to the server's import endpoint); ``name`` for messages."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ValidationFailed(
                f"{name}: not a readable TOML mapping file: {error}", code="bad_mapping"
            ) from error
        unknown = set(data) - {"columns", "defaults", "values", "kind"}
        if unknown:
            raise ValidationFailed(f"{name}: unknown sections {sorted(unknown)}", code="bad_mapping")
        return cls(
            columns={str(k): str(v) for k, v in data.get("columns", {}).items()},
            defaults=dict(data.get("defaults", {})),
            values={
                str(f): {str(k): str(v) for k, v in m.items()} for f, m in data.get("values", {}).items()
            },
        )

    def resolve(self, kind: ImportKind, headers: Iterable[str]) -> dict[str, str]:
        """field -> column for every importable field the file (or the mapping) provides."""
        present = set(headers)
        fields = set(kind.fields)
        unknown = set(self.columns) - fields
        if unknown:
            raise ValidationFailed(
                f"the mapping names fields that {kind.name} does not have: {sorted(unknown)}",
                code="bad_mapping",
            )
        missing = {f: c for f, c in self.columns.items() if c not in present}
        if missing:
            raise ValidationFailed(
                "columns named in the mapping are not in the file: "
                + ", ".join(f"{c!r} (for {f})" for f, c in sorted(missing.items())),
                code="bad_mapping",
            )
        resolved = {f: f for f in fields if f in present and f not in self.columns}
        resolved.update(self.columns)
        if "code" not in resolved:
            raise ValidationFailed(f"no column gives the code of each {kind.name}", code="bad_mapping")
        return resolved


@dataclass(frozen=True)
class Refusal:
    row: int
    code: str  # the row's code, "" when it has none
    reason: str


@dataclass(frozen=True)
class Change:
    before: Entity
    after: Entity
    fields: tuple[str, ...]  # the fields whose values differ


@dataclass
class ImportPlan:
    kind: str
    added: list[Entity] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    retired: list[Entity] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    unchanged: int = 0

    @property
    def writes(self) -> list[Entity]:
        """Every entity to write, at its new version, in a stable order."""
        return [*self.added, *(c.after for c in self.changed), *self.retired]

    def summary(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "retired": len(self.retired),
            "unchanged": self.unchanged,
            "refused": len(self.refused),
        }


def plan_import(
    kind: ImportKind,
    table: Table,
    current: Iterable[Entity],
    *,
    mapping: ColumnMapping | None = None,
    known_codes: Mapping[str, Mapping[str, str]] | None = None,
    retire_missing: bool = False,
    now: dt.datetime,
    source: str = "",
    lang: str = "en",
    code_set: str | None = None,
) -> ImportPlan:
    """Compare ``table`` with ``current`` (every row of the kind, retired ones too). ``known_codes``
    gives, per kind that ``kind.references`` points at, its live codes and their ids. Refusal reasons
    are in ``lang`` (English by default, as ``clinic import`` prints them).

    Diagnoses are keyed by (code set, code): ``code_set`` puts every row into that set and compares
    with that set only (the other sets are left as they are, ``retire_missing`` included); without it
    the file's ``code_set`` column says each row's set (the default set where it is empty)."""
    mapping = mapping or ColumnMapping()
    columns = mapping.resolve(kind, table.headers)
    sets = kind.name == "diagnosis"
    if sets and code_set is not None:
        current = [e for e in current if getattr(e, "code_set", None) == code_set]
        columns.pop("code_set", None)
        mapping = ColumnMapping(mapping.columns, {**mapping.defaults, "code_set": code_set}, mapping.values)
    by_code = {_key(e): e for e in current}
    plan = ImportPlan(kind.name)
    seen: dict[tuple[str, str], int] = {}
    for row in table.rows:
        data, problem = _row_data(kind, row, columns, mapping, lang)
        code = str(data.get("code", "")) if data else row.cells.get(columns["code"], "")
        key = (str(data.get("code_set") or DEFAULT_CODE_SET) if sets else "", code)
        if problem is None and key in seen:
            problem = say("duplicate", lang, code=code, row=seen[key])
        if problem is None:
            problem = _unknown_reference(kind, data, known_codes, lang)
        if problem is not None:
            plan.refused.append(Refusal(row.number, code, problem))
            continue
        seen[key] = row.number
        before = by_code.get(key)
        try:
            after = _entity(kind, data, before, now, lang)
        except ValidationError as error:
            plan.refused.append(Refusal(row.number, code, explain(error, lang)))
            continue
        except ValidationFailed as error:
            plan.refused.append(Refusal(row.number, code, error.message))
            continue
        problem = out_of_range(after, lang)
        if problem is not None:
            plan.refused.append(Refusal(row.number, code, problem))
            continue
        if before is None:
            plan.added.append(after)
            continue
        differing = _differing(
            before, after, (*_compared(kind, columns), *mapping.defaults, "pinyin", "voided", "price_changes")
        )
        if differing:
            plan.changed.append(Change(before, after, differing))
        else:
            plan.unchanged += 1
    if retire_missing:
        reason = f"retired by import {source}".strip()
        in_file = {s for s, _ in seen}
        for key, entity in sorted(by_code.items()):
            if key not in seen and not entity.voided and (not sets or key[0] in in_file or code_set):
                plan.retired.append(_next(entity, now, voided=True, void_reason=reason[:500]))
    return plan


def entity_from_fields(
    kind: ImportKind,
    fields: Mapping[str, str],
    before: Entity | None,
    *,
    known_codes: Mapping[str, Mapping[str, str]] | None,
    now: dt.datetime,
    lang: str = "en",
) -> Entity:
    """One row typed by hand (an administrator's edit): the same checks and conversions as a row of an
    imported file, fields named as in ``clinic export``. An empty field keeps ``before``'s value (as an
    empty cell does on import). Raises ``ValidationFailed`` with the reason the import would give."""
    unknown = sorted(set(fields) - set(kind.fields))
    if unknown:
        raise ValidationFailed(say("no_fields", lang, kind=kind.name, fields=unknown), code="invalid_row")
    row = SourceRow(0, {name: str(value) for name, value in fields.items()})
    data, problem = _row_data(kind, row, {name: name for name in fields}, ColumnMapping(), lang)
    if problem is None:
        problem = _unknown_reference(kind, data, known_codes, lang)
    if problem is not None:
        raise ValidationFailed(problem, code="invalid_row")
    try:
        entity = _entity(kind, data, before, now, lang)
    except ValidationError as error:
        raise ValidationFailed(explain(error, lang), code="invalid_row") from error
    problem = out_of_range(entity, lang)
    if problem is not None:
        raise ValidationFailed(problem, code="invalid_row")
    return entity


def retired(entity: Entity, *, reason: str, now: dt.datetime) -> Entity:
    """``entity`` withdrawn from use, one version up: voided with a reason, never deleted."""
    return _next(entity, now, voided=True, void_reason=reason[:500])


def _row_data(
    kind: ImportKind, row: SourceRow, columns: Mapping[str, str], mapping: ColumnMapping, lang: str
) -> tuple[dict[str, Any], str | None]:
    data: dict[str, Any] = dict(mapping.defaults)
    for name, column in columns.items():
        text = row.cells.get(column, "").strip()
        text = mapping.values.get(name, {}).get(text, text)
        if name in kind.flags:
            lowered = text.lower()
            if lowered not in _TRUE | _FALSE:
                return data, say("not_yes_no", lang, field=name, text=text)
            data[name] = lowered in _TRUE
        elif name in kind.lists:
            data[name] = [item.strip() for item in LIST_SEPARATORS.split(text) if item.strip()]
        elif text:
            data[name] = text
        else:
            data.pop(name, None)  # empty: the field's default, or a refusal if it has none
    if not data.get("code"):
        return data, say("no_code", lang)
    return data, None


def _unknown_reference(
    kind: ImportKind,
    data: dict[str, Any],
    known_codes: Mapping[str, Mapping[str, str]] | None,
    lang: str = "en",
) -> str | None:
    """Refuse a code of another kind that does not exist; put the row's id in an ``_id`` field."""
    for name, other in kind.references.items():
        value = data.get(name)
        if value is None:
            continue
        codes = (known_codes or {}).get(other)
        if codes is None:
            if name.endswith(("_id", "_ids")):
                return say("no_codes", lang, field=name, other=_kind(other, lang), value=value)
            continue
        for item in value if isinstance(value, list) else [value]:
            if item not in codes:
                return say("unknown_code", lang, field=name, other=_kind(other, lang), value=item)
        if name.endswith("_id"):
            data[name] = codes[value]
        elif name.endswith("_ids"):
            data[name] = [codes[item] for item in value]
    return None


def row_id(kind: str, code: str, code_set: str | None = None) -> str:
    """The id of a kind's row with ``code`` (a diagnosis: in ``code_set``, the default set if None)."""
    if kind == "diagnosis":
        return diagnosis_id(code_set or DEFAULT_CODE_SET, code)
    return reference_id(kind, code)


def _key(entity: Entity) -> tuple[str, str]:
    """A row's identity in a file: (code set, code) for diagnoses, ("", code) for every other kind."""
    code = str(getattr(entity, "code"))  # noqa: B009 - every importable kind has a code
    return (entity.code_set if isinstance(entity, Diagnosis) else "", code)


def _entity(
    kind: ImportKind, data: dict[str, Any], before: Entity | None, now: dt.datetime, lang: str = "en"
) -> Entity:
    values = dict(data)
    if kind.codec is not None:
        values = kind.codec.to_entity_data(values, before, lang)
    if kind.pinyin_from and "pinyin" not in values:
        source = str(values.get(kind.pinyin_from, getattr(before, kind.pinyin_from, "") if before else ""))
        unchanged = before is not None and getattr(before, kind.pinyin_from) == source
        values["pinyin"] = getattr(before, "pinyin") if unchanged else pinyin_initials(source)[:100]  # noqa: B009
    if before is None:
        entity_id = row_id(kind.name, str(values["code"]), values.get("code_set"))
        return kind.entity.model_validate({**values, "id": entity_id, "version": 1, "updated_at": now})
    after = _next(before, now, **values, voided=False, void_reason=None)
    if isinstance(after, Drug) and isinstance(before, Drug):
        return dated_edit(before, after, now)
    return after


def _next(entity: Entity, now: dt.datetime, **changes: Any) -> Entity:
    data = {**entity.model_dump(), **changes, "version": entity.version + 1, "updated_at": now}
    return type(entity).model_validate(data)


def _compared(kind: ImportKind, columns: Iterable[str]) -> Iterable[str]:
    """The entity fields a row may have changed: the columns it has, or for a kind with a codec every
    field the codec does not keep."""
    if kind.codec is None:
        return columns
    kept = kind.codec.kept | MANAGED_FIELDS
    return [name for name in kind.entity.model_fields if name not in kept]


def _differing(before: Entity, after: Entity, names: Iterable[str]) -> tuple[str, ...]:
    out = []
    fields = type(after).model_fields
    for name in dict.fromkeys(names):
        if name in fields and getattr(before, name) != getattr(after, name):
            out.append(name)
    return tuple(out)


# What the server's columns hold: decimals are NUMERIC(14, 4) (below 10^10), whole numbers are checked
# like every number a mutation carries (``mutations.base.MAX_ABS_NUMBER``).
_MAX_DECIMAL = Decimal(10) ** 10
_MAX_INTEGER = 10**12


def out_of_range(entity: Entity, lang: str = "en") -> str | None:
    """The first number of ``entity`` too large for the server's columns, as a refusal reason."""
    for name in type(entity).model_fields:
        value = getattr(entity, name)
        if isinstance(value, bool):
            continue
        if (isinstance(value, Decimal) and abs(value) >= _MAX_DECIMAL) or (
            isinstance(value, int) and abs(value) > _MAX_INTEGER
        ):
            return say("out_of_range", lang, field=name, value=str(value))
    return None


def _kind(kind: str, lang: str) -> str:
    return kind_label(kind, lang)
