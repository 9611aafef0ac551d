"""``LocalView``: the ``StateReader`` the shared mutation handlers get on a client.

It reads server-confirmed rows with the pending overlay on top: while a mutation waits for the server,
the rows it wrote (its newest write per entity) replace the confirmed ones. The overlay is what the
shared handler wrote when the mutation was recorded, and is computed again when a pulled page changes a
row a pending mutation wrote (``store._rebase_overlay``). A view wraps one SQLite
connection; use it inside one transaction (``LocalStore.reading()`` or the writer) for a consistent
snapshot, and only on the thread that owns that connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic_core import to_jsonable_python

from shared.domain.entities import ENTITY_BY_KIND, Entity
from shared.store.schema import KEY_FIELDS, KEY_SLOTS, slot_value

E = TypeVar("E", bound=Entity)

FIND_LIMIT = 1000

_LATEST_OVERLAY = (
    "o.client_seq = (SELECT max(o2.client_seq) FROM overlay o2 WHERE o2.kind = o.kind AND o2.id = o.id)"
)


def _sql_value(value: Any) -> Any:
    """A Python value as it is stored in a key slot (the pydantic JSON form of the field)."""
    return slot_value(to_jsonable_python(value))


def _check_kind(kind: type[Entity]) -> str:
    if ENTITY_BY_KIND.get(kind.KIND) is not kind:
        raise ValueError(f"unknown entity kind {kind!r}")
    return kind.KIND


class LocalView:
    """Confirmed state plus the pending overlay, read through one connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # -- StateReader -------------------------------------------------------------------------------
    def get(self, kind: type[E], entity_id: str) -> E | None:
        data = self.get_data(_check_kind(kind), entity_id)
        return None if data is None else kind.model_validate_json(data)

    def find(self, kind: type[E], **equals: Any) -> list[E]:
        name = _check_kind(kind)
        allowed = {"id", *kind.INDEXES, *kind.UNIQUE}
        unknown = set(equals) - allowed
        if unknown:
            raise ValueError(f"{name} cannot be searched by {sorted(unknown)}")
        slots = {field: f"k{n + 1}" for n, field in enumerate(KEY_FIELDS.get(name, ())[:KEY_SLOTS])}
        confirmed_where, overlay_where, params = ["e.kind = ?"], ["o.kind = ?"], [name]
        for field, value in equals.items():
            # Field names come from the entity model (checked above); values are bound parameters.
            for alias, where in (("e", confirmed_where), ("o", overlay_where)):
                if field == "id":
                    column = f"{alias}.id"
                elif field in slots:
                    column = f"{alias}.{slots[field]}"
                else:  # beyond the key slots: correct, but a scan of the kind
                    column = f"json_extract({alias}.data, '$.{field}')"
                where.append(f"{column} IS NULL" if value is None else f"{column} = ?")
            if value is not None:
                params.append(_sql_value(value))
        sql = (
            f"SELECT e.id, e.data FROM entity e WHERE {' AND '.join(confirmed_where)} "
            "AND NOT EXISTS (SELECT 1 FROM overlay x WHERE x.kind = e.kind AND x.id = e.id) "
            f"UNION ALL SELECT o.id, o.data FROM overlay o WHERE {' AND '.join(overlay_where)} AND {_LATEST_OVERLAY}"
        )
        rows = self.conn.execute(sql, (*params, *params)).fetchall()
        rows.sort(key=lambda r: r[0])
        return [kind.model_validate_json(data) for _, data in rows[:FIND_LIMIT]]

    def next_number(self, counter: str) -> int | None:
        return None  # server-side counters (medical record numbers) are assigned by the server

    # -- helpers for the store and the apps -------------------------------------------------------
    def get_data(self, kind: str, entity_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT data FROM overlay WHERE kind = ? AND id = ? ORDER BY client_seq DESC LIMIT 1",
            (kind, entity_id),
        ).fetchone()
        if row is None:
            row = self.conn.execute(
                "SELECT data FROM entity WHERE kind = ? AND id = ?", (kind, entity_id)
            ).fetchone()
        return None if row is None else str(row[0])

    def get_many(self, kind: type[E], ids: Iterable[str]) -> dict[str, E]:
        """Rows by id (overlay first); missing ids are left out."""
        name = _check_kind(kind)
        wanted = list(dict.fromkeys(ids))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for entity_id, data in self.conn.execute(
                f"SELECT id, data FROM entity WHERE kind = ? AND id IN ({marks})", (name, *chunk)
            ):
                found[entity_id] = data
            for entity_id, data in self.conn.execute(
                f"SELECT o.id, o.data FROM overlay o WHERE o.kind = ? AND o.id IN ({marks}) AND {_LATEST_OVERLAY}",
                (name, *chunk),
            ):
                found[entity_id] = data
        return {i: kind.model_validate_json(found[i]) for i in wanted if i in found}

    def all(self, kind: type[E], *, include_voided: bool = False) -> list[E]:
        """Every row of a kind (overlay applied), ordered by id."""
        name = _check_kind(kind)
        rows = self.conn.execute(
            "SELECT e.id, e.data FROM entity e WHERE e.kind = ? "
            "AND NOT EXISTS (SELECT 1 FROM overlay x WHERE x.kind = e.kind AND x.id = e.id) "
            f"UNION ALL SELECT o.id, o.data FROM overlay o WHERE o.kind = ? AND {_LATEST_OVERLAY} ORDER BY 1",
            (name, name),
        ).fetchall()
        entities = [kind.model_validate_json(data) for _, data in rows]
        return entities if include_voided else [e for e in entities if not e.voided]

    def overlay_rows(self, kind: str) -> list[tuple[str, str]]:
        """(id, data) of the newest pending write of each entity of ``kind``."""
        return self.conn.execute(
            f"SELECT o.id, o.data FROM overlay o WHERE o.kind = ? AND {_LATEST_OVERLAY}", (kind,)
        ).fetchall()
