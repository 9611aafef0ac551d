"""Write reference data in the form ``clinic import`` reads back: one row per live entity, a column per
importable field, other rows named by their codes. Exporting and importing the result changes nothing,
which is how the example files shipped for each kind are made."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path

from shared.domain.entities import Drug, Entity
from shared.domain.prices import price_at
from shared.reference_io.plan import ImportKind


def columns(kind: ImportKind) -> list[str]:
    return list(kind.fields)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return ";".join(str(item) for item in value)  # read back by the import's list rule
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    return str(value)


def rows(
    kind: ImportKind,
    entities: Iterable[Entity],
    codes_by_id: Mapping[str, Mapping[str, str]],
    *,
    now: dt.datetime | None = None,
) -> list[list[str]]:
    """Live entities as text rows in ``columns(kind)`` order, sorted by code (and code set). ``codes_by_id``
    gives, per referenced kind, id -> code for the ``_id`` fields; a drug's price is the one in effect
    at ``now`` (default: the current time)."""
    live = sorted(
        (e for e in entities if not e.voided),
        key=lambda e: (str(getattr(e, "code", "")), str(getattr(e, "code_set", ""))),
    )
    return [row(kind, entity, codes_by_id, now=now) for entity in live]


def row(
    kind: ImportKind,
    entity: Entity,
    codes_by_id: Mapping[str, Mapping[str, str]],
    *,
    now: dt.datetime | None = None,
) -> list[str]:
    """One entity as a text row in ``columns(kind)`` order (the administration window edits these)."""
    out = []
    values = kind.codec.cells(entity) if kind.codec is not None else None
    for name in columns(kind):
        value = values[name] if values is not None else getattr(entity, name)
        if name == "price" and isinstance(entity, Drug):
            value = price_at(entity, now or dt.datetime.now(dt.UTC))
        other = kind.references.get(name)
        if other and name.endswith("_id") and value is not None:
            value = codes_by_id.get(other, {}).get(str(value), value)
        elif other and name.endswith("_ids"):
            value = [codes_by_id.get(other, {}).get(str(item), item) for item in value]
        out.append(_cell(value))
    return out


def write(path: Path, header: list[str], body: list[list[str]]) -> None:
    """A CSV (UTF-8 with a BOM, so Excel shows the Chinese right) or, for ``.xlsx``, a workbook."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(path.stem[:31] or "data")
        sheet.append(header)
        for row in body:
            sheet.append(row)
        workbook.save(path)
        return
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(body)
